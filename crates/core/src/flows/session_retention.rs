//! Deleting sessions whose family ended: without it the sessions table would keep a row for
//! every login and every refresh ever made.
//!
//! A family ends at its absolute expiry (R33): from then on none of its tokens works, so its
//! rows serve no check, not even reuse detection (R34). They are kept one more day, for
//! whoever looks into a session the day after, and then deleted a batch at a time, so that
//! one delete stays short however large the backlog (after an upgrade, say). Every instance
//! runs the same loop; two instances deleting at once only find fewer rows.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::ports::{RepoError, SessionRepo};

/// How long the rows of an ended family are kept.
pub const KEEP_ENDED: TimeDelta = TimeDelta::days(1);

/// Sessions deleted per statement.
pub const BATCH: u32 = 1000;

/// The wait between two prunes when the last one found no backlog (or failed).
pub const EVERY: Duration = Duration::from_secs(60);

/// The wait after a full batch: short, so a backlog drains, but never a busy loop.
pub const AFTER_FULL_BATCH: Duration = Duration::from_secs(1);

/// Prunes until the process ends: waits [`EVERY`], then [`prune_once`] and [`next_wait`] in
/// turn.
pub async fn run(sessions: &dyn SessionRepo, clock: &dyn Clock) {
    // Not at start (nor is the SMS outbox's prune): a fleet restarted together would
    // otherwise delete at once, while its first requests wait for the database.
    tokio::time::sleep(EVERY).await;
    loop {
        let pruned = prune_once(sessions, clock.now()).await;
        if let Err(e) = &pruned {
            tracing::warn!(error = %e, "deleting ended sessions failed");
        }
        tokio::time::sleep(next_wait(&pruned)).await;
    }
}

/// Deletes one batch of sessions whose family ended more than [`KEEP_ENDED`] before `now`.
pub async fn prune_once(sessions: &dyn SessionRepo, now: DateTime<Utc>) -> Result<u64, RepoError> {
    let before = now
        .checked_sub_signed(KEEP_ENDED)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let pruned = sessions.prune_ended(before, BATCH).await?;
    if pruned > 0 {
        tracing::debug!(count = pruned, "sessions of ended families deleted");
    }
    Ok(pruned)
}

/// How long to wait after a prune that returned `pruned`.
pub fn next_wait(pruned: &Result<u64, RepoError>) -> Duration {
    match pruned {
        Ok(n) if *n >= u64::from(BATCH) => AFTER_FULL_BATCH,
        _ => EVERY,
    }
}

#[cfg(test)]
mod tests;
