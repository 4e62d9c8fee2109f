//! The record of a walk over a route that has not delivered yet, and the error it becomes
//! when no provider is left: retryable if any failure was, else the last permanent kind.

use std::time::Duration;

use chrono::{DateTime, Utc};
use twostep_core::ports::{PermanentKind, SendError};

use super::breaker::Refusal;

/// What the walk over a route has seen so far.
#[derive(Default)]
pub(super) struct Failures {
    reasons: Vec<String>,
    any_retryable: bool,
    last_permanent: Option<PermanentKind>,
    reopens_at: Option<DateTime<Utc>>,
}

impl Failures {
    pub(super) fn skipped(&mut self, name: &str, refusal: Refusal) {
        self.any_retryable = true;
        match refusal {
            Refusal::OpenUntil(until) => {
                self.reasons.push(format!("{name}: circuit open"));
                self.reopens_at = Some(self.reopens_at.map_or(until, |t| t.min(until)));
            }
            Refusal::ProbeInFlight => self.reasons.push(format!("{name}: circuit half-open")),
        }
    }

    pub(super) fn permanent(&mut self, name: &str, kind: PermanentKind, reason: &str) {
        self.last_permanent = Some(kind);
        self.reasons.push(format!("{name}: {reason}"));
    }

    pub(super) fn retryable(&mut self, name: &str, reason: &str) {
        self.any_retryable = true;
        self.reasons.push(format!("{name}: {reason}"));
    }

    pub(super) fn into_error(self, now: DateTime<Utc>) -> SendError {
        let reason = format!(
            "no provider accepted the message ({})",
            self.reasons.join("; ")
        );
        if self.any_retryable {
            let retry_after = self
                .reopens_at
                .and_then(|at| (at - now).to_std().ok())
                .filter(|d| *d > Duration::ZERO);
            return SendError::Retryable {
                retry_after,
                reason,
            };
        }
        SendError::Permanent {
            kind: self.last_permanent.unwrap_or(PermanentKind::Other),
            reason,
        }
    }
}
