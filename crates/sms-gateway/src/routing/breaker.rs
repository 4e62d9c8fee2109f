//! A circuit breaker per provider, so a provider that keeps failing is skipped at once
//! instead of costing every message a timeout.
//!
//! ```text
//!            N consecutive failures              cool-down elapsed
//!   Closed ───────────────────────────▶ Open ──────────────────────▶ HalfOpen
//!     ▲                                   ▲                            │ one probe
//!     │            probe succeeds         │      probe fails           │
//!     └───────────────────────────────────┼────────────────────────────┤
//!                                         └────────────────────────────┘
//! ```
//!
//! In half-open exactly one call (the probe) goes through; others skip the provider until
//! the probe ends. Time comes from the `Clock` port so tests move it by hand.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failed calls that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before letting one probe through.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// A breaker's state, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<Inner>,
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed { failures: u32 },
    Open { until: DateTime<Utc> },
    HalfOpen { probing: bool },
}

/// Why a call may not go through now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Open until then.
    OpenUntil(DateTime<Utc>),
    /// Half-open, and another call is the probe.
    ProbeInFlight,
}

/// Leave to make one call; report how it went. A probe dropped without a report (its
/// future was cancelled) frees the half-open slot for the next caller.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    pub(crate) fn state(&self, now: DateTime<Utc>) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    pub(crate) fn try_acquire(&self, now: DateTime<Utc>) -> Result<Permit<'_>, Refusal> {
        let mut state = self.lock();
        let probe = match *state {
            Inner::Closed { .. } => false,
            Inner::Open { until } if now < until => return Err(Refusal::OpenUntil(until)),
            Inner::HalfOpen { probing: true } => return Err(Refusal::ProbeInFlight),
            Inner::Open { .. } | Inner::HalfOpen { probing: false } => {
                *state = Inner::HalfOpen { probing: true };
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn open(&self, now: DateTime<Utc>) -> Inner {
        let cool_down = TimeDelta::from_std(self.policy.cool_down).unwrap_or(TimeDelta::MAX);
        let until = now
            .checked_add_signed(cool_down)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Inner::Open { until }
    }
}

impl Permit<'_> {
    /// The provider answered properly: the breaker closes.
    pub(crate) fn success(mut self) {
        self.reported = true;
        *self.breaker.lock() = Inner::Closed { failures: 0 };
    }

    /// The provider failed: a failed probe reopens at once, otherwise the count grows.
    pub(crate) fn failure(mut self, now: DateTime<Utc>) {
        self.reported = true;
        let mut state = self.breaker.lock();
        *state = match *state {
            _ if self.probe => self.breaker.open(now),
            Inner::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.breaker.policy.failure_threshold.max(1) {
                    self.breaker.open(now)
                } else {
                    Inner::Closed { failures }
                }
            }
            other => other,
        };
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            let mut state = self.breaker.lock();
            if let Inner::HalfOpen { probing: true } = *state {
                *state = Inner::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests;
