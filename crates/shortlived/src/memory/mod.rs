//! The in-memory short-lived store: the embedded default and the reference the Redis store is
//! tested against.
//!
//! All state sits behind one `std::sync::Mutex`. Every decision is a few map operations with
//! no `.await` while the lock is held, so one lock is both the simplest way to make each
//! decision atomic (the contract's "one atomic step") and fast enough for one process.
//! Entries expire lazily on access, using the caller's `now`, and a sweep every
//! [`SWEEP_EVERY`] of clock time drops what nobody came back for, so memory does not grow
//! forever. The methods that take no `now` (the failure counter) read the injected [`Clock`].

mod session_events;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twostep_core::challenge::Challenge;
use twostep_core::clock::{Clock, SystemClock};
use twostep_core::ids::ChallengeId;
use twostep_core::otp::CodeMac;
use twostep_core::ports::{
    Limit, RateDecision, ResendOutcome, ShortLivedStore, StoreError, VerifyOutcome,
};
use twostep_core::token::TokenHash;

use crate::millis;
use state::State;

pub use session_events::MemorySessionEvents;

/// How often (in clock time) expired entries are swept out.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Short-lived state in this process's memory. Lost on restart and not shared between
/// instances: for the embedded single-instance default and for tests.
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    /// A store whose time-less methods (the failure counter) read `clock`; pass the clock the
    /// flows use, so a `ManualClock` controls every expiry.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
        }
    }

    /// Locks the state and sweeps it when a sweep is due. No code path panics while holding
    /// the lock, but should one ever do so, the state is still consistent (every decision
    /// writes at its end), so a poisoned lock is taken over rather than propagated.
    fn state(&self, now: DateTime<Utc>) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.sweep_if_due(millis::from_time(now), millis::from_duration(SWEEP_EVERY));
        state
    }
}

impl Default for MemoryStore {
    /// A store on the wall clock.
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl ShortLivedStore for MemoryStore {
    async fn create_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        self.state(self.clock.now()).create(challenge);
        Ok(())
    }

    async fn resend_challenge(
        &self,
        id: ChallengeId,
        new_mac: CodeMac,
        now: DateTime<Utc>,
        new_expires_at: DateTime<Utc>,
        next_wait: Option<Duration>,
    ) -> Result<ResendOutcome, StoreError> {
        Ok(self.state(now).resend(
            id,
            new_mac,
            millis::from_time(now),
            new_expires_at,
            next_wait,
        ))
    }

    async fn verify_challenge(
        &self,
        id: ChallengeId,
        candidate: CodeMac,
        now: DateTime<Utc>,
    ) -> Result<VerifyOutcome, StoreError> {
        Ok(self
            .state(now)
            .verify(id, &candidate, millis::from_time(now)))
    }

    async fn get_challenge(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(self.state(now).get(id, millis::from_time(now)))
    }

    async fn delete_challenge(&self, id: ChallengeId) -> Result<bool, StoreError> {
        Ok(self.state(self.clock.now()).delete_challenge(id))
    }

    async fn check_limits(
        &self,
        scope: &str,
        limits: &[Limit],
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        Ok(self
            .state(now)
            .check_limits(scope, limits, millis::from_time(now)))
    }

    async fn record_failure(&self, account: &str, window: Duration) -> Result<u32, StoreError> {
        let now = self.clock.now();
        Ok(self
            .state(now)
            .record_failure(account, window, millis::from_time(now)))
    }

    async fn failure_count(&self, account: &str) -> Result<u32, StoreError> {
        let now = self.clock.now();
        Ok(self
            .state(now)
            .failure_count(account, millis::from_time(now)))
    }

    async fn clear_failures(&self, account: &str) -> Result<(), StoreError> {
        self.state(self.clock.now()).clear_failures(account);
        Ok(())
    }

    async fn put_ticket(
        &self,
        hash: TokenHash,
        payload: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state(now).put_ticket(
            hash,
            payload,
            millis::from_time(expires_at),
            millis::from_time(now),
        );
        Ok(())
    }

    async fn take_ticket(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.state(now).take_ticket(hash, millis::from_time(now)))
    }

    async fn peek_ticket(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.state(now).peek_ticket(hash, millis::from_time(now)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
