//! The short-lived store: challenges, attempt counters, rate limits, account failure counters
//! and single-use tickets. Redis in production, memory on the embedded default; both must
//! pass the same contract suite (`crates/shortlived/tests`).
//!
//! Contract for every implementation:
//!
//! - **One atomic step per decision.** Each method below is decided atomically: no other call
//!   can observe or interleave with a half-done decision. In Redis that means one Lua script
//!   per method, all its keys sharing one hash tag so that it also runs on Redis Cluster.
//! - **Time comes from the caller.** Every method that depends on time takes `now` from the
//!   flow's [`Clock`](crate::clock::Clock), so expiry and cooldowns behave the same with a
//!   manual clock. Stored entries also get a real TTL (expiry plus a margin), so that nothing
//!   outlives its use even if nobody comes back for it: **no key without a TTL**.
//! - **Fail closed.** When the backing store cannot be reached the method returns
//!   [`StoreError::Unavailable`] within the configured command timeout; it never guesses.
//! - Codes are never stored or passed in clear: only [`CodeMac`]s.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::challenge::Challenge;
use crate::ids::{ChallengeId, UserId};
use crate::otp::CodeMac;
use crate::ports::BoxError;
use crate::token::TokenHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time. Callers answer UNAVAILABLE.
    #[error("short-lived store unavailable")]
    Unavailable(#[source] BoxError),
    /// The store answered something this code does not understand.
    #[error("short-lived store failed")]
    Internal(#[source] BoxError),
}

/// The result of checking a code against a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per call and matched at once by the caller: a box would cost an allocation to save one copy"
)]
pub enum VerifyOutcome {
    /// The code matched; the challenge has been deleted in the same step, so it can never
    /// match again (R5).
    Verified(Challenge),
    /// The code was compared and did not match. `attempts_left == 0` means the challenge was
    /// burned in the same step and even the right code now fails (R7). `user` is the
    /// challenge's user, so the flow can count the failure against the account (R9).
    Rejected {
        attempts_left: u32,
        user: Option<UserId>,
    },
    /// No such challenge: never existed, expired, consumed or burned. Nothing was compared.
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per call and matched at once by the caller: a box would cost an allocation to save one copy"
)]
pub enum ResendOutcome {
    /// The new code's MAC replaced the old one in the same step, so the old code fails at once
    /// (R14); `sends` was incremented and the cooldown restarted.
    Resent(Challenge),
    /// Too early: try again after `retry_after`.
    Cooldown {
        retry_after: Duration,
    },
    /// The challenge has had its `max_sends`; a new challenge is needed.
    SendCapReached,
    NotFound,
}

/// One rate limit: at most `max` hits in any sliding window of `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// The counter's key, for example `num:+14155550100:send`. Must not contain a full phone
    /// number in clear when it may reach logs; adapters never log keys.
    pub key: String,
    pub max: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateDecision {
    /// Every limit had room; one hit was counted on each.
    Allowed,
    /// Limit number `limit_index` is full; nothing was counted on any limit.
    /// `retry_after` is when that limit will have room again.
    Denied {
        limit_index: usize,
        retry_after: Duration,
    },
}

#[async_trait]
pub trait ShortLivedStore: Send + Sync + 'static {
    /// Stores a new challenge with `sends = 1`. It must be retrievable until `expires_at`
    /// (compared with the `now` of later calls) and gone from the store soon after.
    /// Ids are random; creating an id that exists overwrites it.
    async fn create_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;

    /// Replaces the code of a live challenge with `new_mac`, in one step with the cooldown and
    /// send-cap checks. On success `sends` is incremented, `resend_at` becomes
    /// `now + next_wait` (or `now + resend_cooldown` when `next_wait` is `None`; the flow
    /// passes the escalating backoff, R15), and `expires_at` becomes `new_expires_at`.
    /// Attempts left are **not** reset: the attempt budget spans every code of one challenge.
    async fn resend_challenge(
        &self,
        id: ChallengeId,
        new_mac: CodeMac,
        now: DateTime<Utc>,
        new_expires_at: DateTime<Utc>,
        next_wait: Option<Duration>,
    ) -> Result<ResendOutcome, StoreError>;

    /// Checks `candidate` against the challenge and decides in one step: on a match the
    /// challenge is deleted and returned; otherwise `attempts_left` is decremented and, at
    /// zero, the challenge is deleted (burned). At most `max_attempts` comparisons ever happen
    /// for one challenge, however many calls race (R5, R7, R8). A challenge whose `expires_at`
    /// is not after `now` is `NotFound`.
    async fn verify_challenge(
        &self,
        id: ChallengeId,
        candidate: CodeMac,
        now: DateTime<Utc>,
    ) -> Result<VerifyOutcome, StoreError>;

    /// Deletes a challenge, so no code can complete it any more (for example after the
    /// second factor was given with a backup code instead). Returns whether it existed.
    async fn delete_challenge(&self, id: ChallengeId) -> Result<bool, StoreError>;

    /// Reads a live challenge without changing it.
    async fn get_challenge(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError>;

    /// Counts one hit against every limit, all or nothing, in one step. `scope` groups the
    /// limits (for Redis it is the hash tag, so all of them live on one cluster slot).
    async fn check_limits(
        &self,
        scope: &str,
        limits: &[Limit],
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError>;

    /// Adds one failure to an account-wide counter and returns the new count. The counter
    /// expires `window` after its first failure. Creating or resending a challenge never
    /// touches it (R9).
    async fn record_failure(&self, account: &str, window: Duration) -> Result<u32, StoreError>;

    /// The current failure count (0 when none or expired).
    async fn failure_count(&self, account: &str) -> Result<u32, StoreError>;

    /// Resets the account's failure counter, after a success (R10) or an admin unlock.
    async fn clear_failures(&self, account: &str) -> Result<(), StoreError>;

    /// Stores a single-use ticket (registration ticket, pre-MFA ticket, restricted ticket)
    /// under the hash of its token, until `expires_at`.
    async fn put_ticket(
        &self,
        hash: TokenHash,
        payload: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Returns and deletes a live ticket in one step, so a ticket works once even under
    /// concurrent use.
    async fn take_ticket(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Returns a live ticket without using it up, so a flow can check its whole request
    /// before spending the ticket. Grants nothing by itself: the flow must still
    /// `take_ticket` (the single atomic use) before acting on it.
    async fn peek_ticket(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// A cheap round trip for health checks.
    async fn ping(&self) -> Result<(), StoreError>;
}
