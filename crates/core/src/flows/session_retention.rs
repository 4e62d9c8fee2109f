//! Deleting sessions whose family ended: without it the sessions table would keep a row for
//! every login and every refresh ever made.
//!
//! A family ends at its absolute expiry (R33): from then on none of its tokens works, so its
//! rows serve no check, not even reuse detection (R34). They are kept one more day, for
//! whoever looks into a session the day after, and then deleted in the batches of
//! [`retention`](super::retention).

use chrono::{DateTime, TimeDelta, Utc};

use super::retention::{self, BATCH};
use crate::clock::Clock;
use crate::ports::{RepoError, SessionRepo};

/// How long the rows of an ended family are kept.
pub const KEEP_ENDED: TimeDelta = TimeDelta::days(1);

/// Prunes until the process ends (see [`retention::run`]).
pub async fn run(sessions: &dyn SessionRepo, clock: &dyn Clock) {
    retention::run("sessions of ended families", || {
        prune_once(sessions, clock.now())
    })
    .await;
}

/// Deletes one batch of sessions whose family ended more than [`KEEP_ENDED`] before `now`.
pub async fn prune_once(sessions: &dyn SessionRepo, now: DateTime<Utc>) -> Result<u64, RepoError> {
    let before = now
        .checked_sub_signed(KEEP_ENDED)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    sessions.prune_ended(before, BATCH).await
}

#[cfg(test)]
mod tests;
