//! The durable account lockout ledger (R9–R11, R39 b): consecutive failures per account and
//! factor, the soft-lock deadline and the hard lock, in SQL, so that a Redis flush or failover
//! can never reopen a lock or reset a count.
//!
//! Contract for every implementation:
//!
//! - **Admission is one atomic step** (one row lock): [`LockoutRepo::admit`] refuses while a
//!   soft lock runs or a hard lock holds, and otherwise counts the attempt as a failure *in
//!   advance* and stores the next soft-lock deadline, all before any credential is compared.
//!   However many attempts race, at most `hard_at` are ever admitted between two clears.
//! - A success calls [`LockoutRepo::clear`], which ends the run (R10).
//! - A credential already found right before its admission (a password, whose hash runs
//!   first) takes [`LockoutRepo::admit_success`]: the same refusal while locked, and the run
//!   ended in the same atomic step, so a successful login costs one statement, not two.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{TenantId, UserId};
use crate::ports::RepoError;

/// Which credential a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    /// SMS codes and backup codes (R9, R26).
    Otp,
    Password,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Otp => "otp",
            Factor::Password => "password",
        }
    }
}

/// The thresholds one admission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRule {
    /// From this count on, each failure sets a soft-lock deadline.
    pub soft_at: u32,
    /// At this count the account is hard-locked for the factor.
    pub hard_at: u32,
    /// The soft-lock delay after the `soft_at`-th failure; doubles per failure.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Admit even when hard-locked (a backup code is the way out of a hard lock); soft-lock
    /// delays still apply.
    pub past_hard_lock: bool,
}

impl LockRule {
    /// The soft-lock delay after the `failures`-th consecutive failure.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.soft_at)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(
            self.first_delay
                .checked_mul(factor)
                .map_or(self.max_delay, |d| d.min(self.max_delay)),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may compare its credential. It has already been counted as failure
    /// number `failures`; `locked_until` is the soft-lock deadline that now applies should it
    /// fail, and `hard_locked` whether this attempt reached the hard lock.
    Admitted {
        failures: u32,
        locked_until: Option<DateTime<Utc>>,
        hard_locked: bool,
    },
    /// Locked: nothing may be compared. Callers answer exactly as for a wrong credential (R11).
    Refused,
}

/// The stored state of one account's counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutState {
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub hard_locked_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait LockoutRepo: Send + Sync + 'static {
    /// Decides one attempt in one atomic step; see the module docs.
    async fn admit(
        &self,
        tenant: TenantId,
        user: UserId,
        factor: Factor,
        rule: &LockRule,
        now: DateTime<Utc>,
    ) -> Result<Admission, RepoError>;

    /// Admits an attempt whose credential is already known to be right, in one atomic step:
    /// `false` (nothing changed) while a soft lock runs or a hard lock holds, as
    /// [`LockoutRepo::admit`] would refuse; otherwise the run ends as [`LockoutRepo::clear`]
    /// ends it, and `true`.
    async fn admit_success(
        &self,
        tenant: TenantId,
        user: UserId,
        factor: Factor,
        rule: &LockRule,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Ends the run after a success: count zero, no soft lock, no hard lock.
    async fn clear(&self, tenant: TenantId, user: UserId, factor: Factor) -> Result<(), RepoError>;

    /// The counter as stored (`None` when the account never failed or was cleared).
    async fn get(
        &self,
        tenant: TenantId,
        user: UserId,
        factor: Factor,
    ) -> Result<Option<LockoutState>, RepoError>;
}
