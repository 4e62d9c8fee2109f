//! Account lockout (R9–R11, R13, R39 b): one consecutive-failure counter per account for codes
//! (SMS and backup codes) and one for passwords, kept in SQL through [`LockoutRepo`].
//!
//! Every attempt is admitted *before* its credential is compared, and counted as a failure in
//! the same atomic step; a success then clears the run (R10). So racing attempts can never
//! exceed the hard lock (R8), a new code or a resend never resets the count (R9), and a Redis
//! flush or failover cannot reopen a lock (R39 b). A refused attempt answers exactly like a
//! wrong credential and compares nothing (R11); soft locks are growing delays, never
//! permanent, and the hard lock is lifted by a backup code (codes) or an admin unlock.
//!
//! [`LockoutRepo`]: crate::ports::LockoutRepo

use crate::audit::{Actor, AuditKind};
use crate::challenge::Challenge;
use crate::error::CoreError;
use crate::flows::Deps;
use crate::flows::audit::{self, Event};
use crate::flows::flood_log::FloodLog;
use crate::ids::{ChallengeId, TenantId, UserId};
use crate::ports::{Admission, Factor};
use crate::tenant::Tenant;

/// The admission of one attempt; pass it to [`failed`] when the credential was wrong, and
/// its [`run`](Ticket::run) to the accepting write when it was right (R10).
#[derive(Debug)]
pub(crate) struct Ticket {
    user: UserId,
    factor: Factor,
    failures: u32,
    hard_locked: bool,
}

impl Ticket {
    /// The failure run this attempt was counted in: a right credential ends it
    /// ([`ConsumedChallenges::record`](crate::ports::ConsumedChallenges::record)).
    pub(crate) fn run(&self) -> (UserId, Factor) {
        (self.user, self.factor)
    }
}

/// Admits one attempt, or `None` while the account is locked for `factor`: the caller then
/// answers `Unauthenticated` without comparing anything. `past_hard_lock` is for backup codes.
pub(crate) async fn admit(
    deps: &Deps,
    tenant: &Tenant,
    user: UserId,
    factor: Factor,
    past_hard_lock: bool,
) -> Result<Option<Ticket>, CoreError> {
    let rule = tenant.policy.lockout.rule(factor, past_hard_lock);
    let now = deps.clock.now();
    match deps
        .lockouts
        .admit(tenant.id, user, factor, &rule, now)
        .await?
    {
        Admission::Admitted {
            failures,
            hard_locked,
            ..
        } => Ok(Some(Ticket {
            user,
            factor,
            failures,
            hard_locked,
        })),
        Admission::Refused => {
            refused_locked(deps, user, factor);
            Ok(None)
        }
    }
}

/// Admits an attempt whose credential was already found right (a password: the hash runs
/// before admission) and ends the run (R10) in the same step; `false` while the account is
/// locked for `factor`, and the caller then answers exactly as for a wrong credential.
pub(crate) async fn admit_success(
    deps: &Deps,
    tenant: &Tenant,
    user: UserId,
    factor: Factor,
) -> Result<bool, CoreError> {
    let rule = tenant.policy.lockout.rule(factor, false);
    let now = deps.clock.now();
    let admitted = deps
        .lockouts
        .admit_success(tenant.id, user, factor, &rule, now)
        .await?;
    if !admitted {
        refused_locked(deps, user, factor);
    }
    Ok(admitted)
}

/// Phantom accounts per tenant that logins naming no account are admitted against.
const PHANTOM_ACCOUNTS: u8 = 64;

/// The admission of a login that names no account: the same statement as a real one, on one
/// of a few phantom rows of the tenant, so that a wrong password costs the same SQL work
/// whether or not the account exists (R19). Nothing is ever compared against a phantom, so
/// its count and locks mean nothing; the fixed pool keeps them to 64 rows per tenant however
/// many logins are sprayed.
pub(crate) async fn admit_phantom(
    deps: &Deps,
    tenant: &Tenant,
    factor: Factor,
) -> Result<(), CoreError> {
    let bucket = rand::random_range(0..PHANTOM_ACCOUNTS);
    admit(
        deps,
        tenant,
        phantom_account(tenant.id, bucket),
        factor,
        false,
    )
    .await?;
    Ok(())
}

/// A fixed id per tenant and bucket: a hash, so it is no real user's (those are random
/// UUIDv4s; a collision is as likely as two random ids colliding).
fn phantom_account(tenant: TenantId, bucket: u8) -> UserId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"twostep.phantom-account\0")
        .chain_update(tenant.as_uuid().as_bytes())
        .chain_update([bucket])
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    UserId::from_uuid(uuid::Uuid::from_bytes(bytes))
}

/// Whether a code attempt on a challenge may be compared.
pub(crate) enum Gate {
    /// The challenge's account is locked: answer `Unauthenticated`, compare nothing.
    Closed,
    /// Compare. The ticket is `None` for a challenge without an account (registration,
    /// decoys) or one that no longer exists; `peeked` is the challenge as it was read before
    /// the attempt, when it exists.
    Open {
        ticket: Option<Ticket>,
        peeked: Option<Box<Challenge>>,
    },
}

/// Admits one code attempt on challenge `id` against its account's code counter.
pub(crate) async fn admit_challenge(
    deps: &Deps,
    tenant: &Tenant,
    id: ChallengeId,
) -> Result<Gate, CoreError> {
    let now = deps.clock.now();
    let peeked = deps
        .store
        .get_challenge(id, now)
        .await?
        .filter(|c| c.tenant == tenant.id)
        .map(Box::new);
    let Some(user) = peeked.as_ref().and_then(|c| c.user) else {
        return Ok(Gate::Open {
            ticket: None,
            peeked,
        });
    };
    Ok(match admit(deps, tenant, user, Factor::Otp, false).await? {
        Some(ticket) => Gate::Open {
            ticket: Some(ticket),
            peeked,
        },
        None => Gate::Closed,
    })
}

/// The admitted credential was wrong. It is already counted; this records the lock events
/// when this failure reached the soft or the hard lock.
pub(crate) async fn failed(deps: &Deps, tenant: &Tenant, ticket: Ticket) {
    let rule = tenant.policy.lockout.rule(ticket.factor, false);
    let kind = if ticket.hard_locked && ticket.failures == rule.hard_at {
        "hard"
    } else if ticket.failures == rule.soft_at {
        "soft"
    } else {
        return;
    };
    tracing::warn!(user = %ticket.user, factor = ticket.factor.as_str(), lock = kind, "account locked after consecutive failures");
    let event = Event::new(AuditKind::UserLocked)
        .user(ticket.user)
        .actor(Actor::System)
        .detail("factor", ticket.factor.as_str())
        .detail("lock", kind)
        .detail("failures", ticket.failures.to_string());
    audit::record(deps, tenant.id, event).await;
}

/// Clears both counters and their locks (admin `UnlockUser`).
pub(crate) async fn unlock(deps: &Deps, tenant: TenantId, user: UserId) -> Result<(), CoreError> {
    for factor in [Factor::Otp, Factor::Password] {
        deps.lockouts.clear(tenant, user, factor).await?;
    }
    Ok(())
}

/// Attempts on a locked account come in floods when someone is guessing: one summary line a
/// second.
static LOCKED_REFUSALS: FloodLog = FloodLog::new();

fn refused_locked(deps: &Deps, user: UserId, factor: Factor) {
    tracing::debug!(user = %user, factor = factor.as_str(), "attempt refused: account locked");
    if let Some(refused) = LOCKED_REFUSALS.event(deps.clock.now()) {
        tracing::info!(
            user = %user,
            factor = factor.as_str(),
            refused_since_last_line = refused,
            "attempts refused: account locked (user and factor: of the latest)"
        );
    }
}
