//! How hard the router tries one provider before moving on.

use std::time::Duration;

use super::breaker::BreakerPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterPolicy {
    /// Retries of a retryable error on the same provider before failing over (so a provider
    /// gets at most `1 + max_retries` calls per message).
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry.
    pub base_backoff: Duration,
    /// The longest wait before a retry. A provider whose `retry_after` asks for longer is
    /// not retried: the router moves to the next provider at once.
    pub max_backoff: Duration,
    /// The limit on one provider call; a call that takes longer counts as a retryable failure.
    pub call_timeout: Duration,
    pub breaker: BreakerPolicy,
}

impl Default for RouterPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            breaker: BreakerPolicy::default(),
        }
    }
}

impl RouterPolicy {
    /// The wait before retry number `retry` (0-based): the exponential backoff or the
    /// provider's `retry_after`, whichever is longer; `None` when that exceeds the cap.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        let backoff = self
            .base_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff);
        let delay = backoff.max(retry_after.unwrap_or_default());
        (delay <= self.max_backoff).then_some(delay)
    }
}
