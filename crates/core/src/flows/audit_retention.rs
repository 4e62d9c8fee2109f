//! Deleting audit events past the retention the operator set (`audit.retention_days`).
//!
//! Audit events hold who did what and from where (masked numbers, client addresses, user
//! agents), and a deployment has to keep them long enough for investigations and no longer
//! than its data-protection rules allow: both are the operator's call, so nothing is deleted
//! unless a retention is configured. Events are deleted by age alone, in the batches of
//! [`retention`](super::retention), whatever their tenant or kind.

use chrono::{DateTime, TimeDelta, Utc};

use super::retention::{self, BATCH};
use crate::clock::Clock;
use crate::ports::{AuditRetention, RepoError};

/// Prunes until the process ends (see [`retention::run`]), keeping `keep` of events.
pub async fn run(audit: &dyn AuditRetention, keep: TimeDelta, clock: &dyn Clock) {
    retention::run("audit events past their retention", || {
        prune_once(audit, keep, clock.now())
    })
    .await;
}

/// Deletes one batch of events that happened more than `keep` before `now`.
pub async fn prune_once(
    audit: &dyn AuditRetention,
    keep: TimeDelta,
    now: DateTime<Utc>,
) -> Result<u64, RepoError> {
    let before = now
        .checked_sub_signed(keep)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    audit.prune_before(before, BATCH).await
}

#[cfg(test)]
mod tests;
