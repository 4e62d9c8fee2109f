//! The loop of every pruner of durable rows (ended sessions, audit events past their
//! retention): a batch at a time, so that one delete stays short however large the backlog
//! (after an upgrade, say). Every instance runs the same loop; two instances deleting at once
//! only find fewer rows.

use std::future::Future;
use std::time::Duration;

use crate::ports::RepoError;

/// Rows deleted per statement.
pub const BATCH: u32 = 1000;

/// The wait between two prunes when the last one found no backlog (or failed).
pub const EVERY: Duration = Duration::from_secs(60);

/// The wait after a full batch: short, so a backlog drains, but never a busy loop.
pub const AFTER_FULL_BATCH: Duration = Duration::from_secs(1);

/// Prunes until the process ends: waits [`EVERY`], then `prune_once` (which deletes at most
/// [`BATCH`] rows) and [`next_wait`] in turn. `what` names the rows in the log lines.
pub async fn run<F, Fut>(what: &'static str, mut prune_once: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, RepoError>>,
{
    // Not at start (nor is the SMS outbox's prune): a fleet restarted together would
    // otherwise delete at once, while its first requests wait for the database.
    tokio::time::sleep(EVERY).await;
    loop {
        let pruned = prune_once().await;
        match &pruned {
            Ok(0) => {}
            Ok(count) => tracing::debug!(count, "{what} deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting {what} failed"),
        }
        tokio::time::sleep(next_wait(&pruned)).await;
    }
}

/// How long to wait after a prune that returned `pruned`.
pub fn next_wait(pruned: &Result<u64, RepoError>) -> Duration {
    match pruned {
        Ok(n) if *n >= u64::from(BATCH) => AFTER_FULL_BATCH,
        _ => EVERY,
    }
}

/// What a test's stand-in store was asked to prune: each call's cut-off and limit.
#[cfg(test)]
pub(crate) struct PruneCalls {
    calls: std::sync::Mutex<Vec<(chrono::DateTime<chrono::Utc>, u32)>>,
    answer: u64,
}

#[cfg(test)]
impl PruneCalls {
    /// Answers every prune with `answer` rows deleted.
    pub(crate) fn answering(answer: u64) -> Self {
        Self {
            calls: std::sync::Mutex::default(),
            answer,
        }
    }

    pub(crate) fn prune(&self, before: chrono::DateTime<chrono::Utc>, limit: u32) -> u64 {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((before, limit));
        self.answer
    }

    pub(crate) fn calls(&self) -> Vec<(chrono::DateTime<chrono::Utc>, u32)> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_batch_is_followed_soon_and_anything_else_in_a_minute() {
        assert_eq!(next_wait(&Ok(u64::from(BATCH))), AFTER_FULL_BATCH);
        assert_eq!(next_wait(&Ok(u64::from(BATCH) - 1)), EVERY);
        assert_eq!(next_wait(&Ok(0)), EVERY);
        let down = Err(RepoError::Unavailable("database down".into()));
        assert_eq!(next_wait(&down), EVERY);
    }
}
