//! Issuing, resending and checking codes. Every code step of every flow goes through here, so
//! the rules (CSPRNG codes, keyed hashes only, one atomic verify, uniform failures) hold
//! everywhere at once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::challenge::{Challenge, Purpose};
use crate::error::CoreError;
use crate::flows::lockout::{self, Gate};
use crate::flows::suspicious;
use crate::flows::{ClientInfo, Deps, limits, test_numbers, texts};
use crate::ids::{ChallengeId, UserId};
use crate::otp::{CodeMac, OtpCode};
use crate::phone::PhoneNumber;
use crate::ports::{
    OutgoingSms, ProviderCodeError, ResendOutcome, STAND_IN_EXPIRY, SmsText, VerifyOutcome,
};
use crate::tenant::Tenant;

/// What the caller learns about a challenge. Never the code; the destination only masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeView {
    pub id: ChallengeId,
    pub purpose: Purpose,
    pub masked_destination: String,
    pub expires_in: Duration,
    pub resend_after: Duration,
    pub code_length: u8,
    /// No SMS was sent because the number shows a risk signal: only a backup code answers it
    /// (R30, `flows::sim_swap`).
    pub backup_code_only: bool,
}

/// The subject of a new challenge.
pub struct NewCode<'a> {
    pub purpose: Purpose,
    pub user: Option<UserId>,
    pub phone: &'a PhoneNumber,
    /// A decoy is stored and answered like a real challenge, but sends nothing (R18).
    pub decoy: bool,
    /// For a decoy: queue an unsendable text where the code's would be, so the call costs the
    /// same (R19; see `send_code`). False when the caller queues a real text in its place
    /// (the notice to a number's owner on a registration attempt).
    pub decoy_stand_in: bool,
    pub context: String,
    /// The request's locale (`nl-NL`), for the text's language; empty: the number's country.
    pub locale: &'a str,
}

/// Creates a challenge and queues its SMS. The SMS is only queued: the provider is called by
/// the outbox worker, off this request's path.
pub async fn issue(
    deps: &Deps,
    tenant: &Tenant,
    new: NewCode<'_>,
) -> Result<ChallengeView, CoreError> {
    let now = deps.clock.now();
    let policy = &tenant.policy;
    let id = ChallengeId::random();
    let fixed = test_numbers::fixed_code(deps, tenant, new.phone, new.decoy, now).await?;
    // A test number's fixed code and a decoy stay twostep's own, so neither calls a provider.
    let by_provider = fixed.is_none() && !new.decoy && provider_makes_codes(deps, tenant).await?;
    let code = fixed
        .clone()
        .unwrap_or_else(|| OtpCode::generate(policy.code_length()));
    let code_mac = if new.decoy {
        CodeMac::unmatchable()
    } else if by_provider {
        CodeMac::provider_managed()
    } else {
        deps.code_key.mac(id, tenant.id, &code)
    };
    let challenge = Challenge {
        id,
        tenant: tenant.id,
        purpose: new.purpose,
        user: new.user,
        phone: Some(new.phone.clone()),
        decoy: new.decoy,
        context: new.context,
        code_mac,
        attempts_left: policy.code.max_attempts,
        sends: 1,
        max_sends: policy.code.max_sends,
        created_at: now,
        expires_at: now + policy.code.lifetime,
        resend_at: now + policy.code.resend_cooldown,
        resend_cooldown: policy.code.resend_cooldown,
    };
    deps.store.create_challenge(&challenge).await?;
    // A decoy's text is queued too, unsendable (see `send_code`): the same work (R19).
    if by_provider {
        start_provider_code(deps, tenant, &challenge).await?;
    } else if fixed.is_none() && (!new.decoy || new.decoy_stand_in) {
        send_code(deps, tenant, &challenge, &code, new.locale).await?;
    }
    tracing::debug!(challenge = %id, purpose = new.purpose.as_str(), "challenge created");
    Ok(view(&challenge, tenant, now))
}

/// Sends a new code for a live challenge; the old code stops working in the same step.
pub async fn resend(
    deps: &Deps,
    tenant: &Tenant,
    id: ChallengeId,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    let now = deps.clock.now();
    let expires_at = now + tenant.policy.code.lifetime;
    // The MAC binds the tenant, so a challenge of another tenant can never be resent from here:
    // it is checked below before anything is sent.
    let Some(existing) = deps.store.get_challenge(id, now).await? else {
        return Err(CoreError::Unauthenticated);
    };
    if existing.tenant != tenant.id {
        return Err(CoreError::Unauthenticated);
    }
    // Cooldown, send cap and send limits before anything is sent (R14, R15).
    let next_wait = limits::before_resend(deps, tenant, &existing, client).await?;
    let fixed = match &existing.phone {
        Some(phone) => test_numbers::fixed_code(deps, tenant, phone, existing.decoy, now).await?,
        None => None,
    };
    // The tenant's current choice: a tenant that just turned its code provider on or off
    // gets the new kind of code on the next resend.
    let by_provider =
        fixed.is_none() && !existing.decoy && provider_makes_codes(deps, tenant).await?;
    let code = fixed
        .clone()
        .unwrap_or_else(|| OtpCode::generate(tenant.policy.code_length()));
    let mac = if existing.decoy {
        CodeMac::unmatchable()
    } else if by_provider {
        CodeMac::provider_managed()
    } else {
        deps.code_key.mac(id, tenant.id, &code)
    };
    match deps
        .store
        .resend_challenge(id, mac, now, expires_at, Some(next_wait))
        .await?
    {
        ResendOutcome::Resent(challenge) => {
            if by_provider {
                start_provider_code(deps, tenant, &challenge).await?;
            } else if fixed.is_none() {
                send_code(deps, tenant, &challenge, &code, &client.locale).await?;
            }
            Ok(view(&challenge, tenant, now))
        }
        ResendOutcome::Cooldown { retry_after } => Err(CoreError::RateLimited { retry_after }),
        ResendOutcome::SendCapReached => Err(CoreError::RateLimited {
            retry_after: remaining(existing.expires_at, now),
        }),
        ResendOutcome::NotFound => Err(CoreError::Unauthenticated),
    }
}

/// Checks a code. `Ok` carries the consumed challenge; every failure is the same
/// `Unauthenticated`, whatever the reason (R18).
pub async fn verify(
    deps: &Deps,
    tenant: &Tenant,
    id: ChallengeId,
    code: &OtpCode,
) -> Result<Challenge, CoreError> {
    let (challenge, ()) = verify_then(deps, tenant, id, code, |_| std::future::ready(())).await?;
    Ok(challenge)
}

/// [`verify`], with `read_next` started on the accepted challenge while its consumption is
/// recorded, so that what the caller reads next (the user) costs no round trip of its own on
/// the path. `read_next` runs only for a right code, and its result is returned only when the
/// challenge was not consumed before; it must read, never write: a replay discards it.
pub async fn verify_then<F, T>(
    deps: &Deps,
    tenant: &Tenant,
    id: ChallengeId,
    code: &OtpCode,
    read_next: impl FnOnce(&Challenge) -> F,
) -> Result<(Challenge, T), CoreError>
where
    F: std::future::Future<Output = T>,
{
    let now = deps.clock.now();
    let mac = deps.code_key.mac(id, tenant.id, code);
    // Admitted and counted against the account before the comparison (R8, R9, R39 b).
    let Gate::Open { ticket, peeked } = lockout::admit_challenge(deps, tenant, id).await? else {
        return Err(CoreError::Unauthenticated);
    };
    let outcome = match deps.store.verify_challenge(id, mac, now).await? {
        // A provider-managed challenge's MAC matches no code: the store has spent one attempt
        // of its budget (atomically, as for any code), and the provider compares.
        VerifyOutcome::Rejected { attempts_left, .. }
            if peeked.as_ref().is_some_and(|c| c.provider_managed()) =>
        {
            let Some(challenge) = peeked.clone() else {
                return Err(CoreError::Unauthenticated);
            };
            provider_check(deps, tenant, *challenge, code, attempts_left).await?
        }
        outcome => outcome,
    };
    match outcome {
        VerifyOutcome::Verified(challenge) => {
            // A Redis failover may revive a consumed challenge; SQL remembers (R39 a). For a
            // provider-managed code this also decides between racing right answers. The same
            // step ends the account's failure run (R10), unless the code was a replay.
            let ends_run = ticket.as_ref().map(lockout::Ticket::run);
            let (recorded, next) = tokio::join!(
                deps.consumed.record(tenant.id, id, now, ends_run),
                read_next(&challenge)
            );
            if !recorded? {
                tracing::warn!(challenge = %id, "code replayed after the challenge was consumed");
                return Err(CoreError::Unauthenticated);
            }
            Ok((challenge, next))
        }
        VerifyOutcome::Rejected { attempts_left, .. } => {
            // Already counted per account, across challenges; a resend never resets it (R9).
            if let Some(ticket) = ticket {
                lockout::failed(deps, tenant, ticket).await;
            }
            tracing::info!(challenge = %id, attempts_left, "wrong code");
            // Only the first wrong code of a challenge gets here with this count (the
            // script decrements atomically), so one alert per challenge at most (R13).
            let first_failure = attempts_left + 1 == tenant.policy.code.max_attempts;
            if let Some(challenge) = peeked.filter(|_| first_failure) {
                suspicious::second_factor_failed(deps, tenant, &challenge, "wrong_code").await;
            }
            Err(CoreError::Unauthenticated)
        }
        VerifyOutcome::NotFound => Err(CoreError::Unauthenticated),
    }
}

/// The provider's answer for a provider-managed challenge whose attempt the store already
/// spent, as the store would have answered: `Verified` for the right code (the challenge is
/// deleted so no later code completes it), `Rejected` otherwise. The provider being down is
/// `Unavailable`; the spent attempt stays spent, as it would for a guess.
async fn provider_check(
    deps: &Deps,
    tenant: &Tenant,
    challenge: Challenge,
    code: &OtpCode,
    attempts_left: u32,
) -> Result<VerifyOutcome, CoreError> {
    let rejected = VerifyOutcome::Rejected {
        attempts_left,
        user: challenge.user,
    };
    let Some(phone) = &challenge.phone else {
        return Ok(rejected);
    };
    match deps.provider_codes.check(tenant.id, phone, code).await {
        Ok(true) => {
            deps.store.delete_challenge(challenge.id).await?;
            Ok(VerifyOutcome::Verified(challenge))
        }
        Ok(false) => Ok(rejected),
        Err(ProviderCodeError::Refused(reason)) => {
            tracing::info!(challenge = %challenge.id, %reason, "provider refused the code check");
            Ok(rejected)
        }
        Err(e @ ProviderCodeError::Unavailable(_)) => Err(CoreError::Unavailable(Box::new(e))),
    }
}

/// Whether the tenant's codes are made by its provider (Twilio Verify).
async fn provider_makes_codes(deps: &Deps, tenant: &Tenant) -> Result<bool, CoreError> {
    deps.provider_codes
        .uses_provider_codes(tenant.id)
        .await
        .map_err(|e| CoreError::Unavailable(Box::new(e)))
}

/// The account-wide failure counter's key for codes.
pub fn otp_account(user: UserId) -> String {
    format!("otp:{user}")
}

async fn send_code(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
    code: &OtpCode,
    locale: &str,
) -> Result<(), CoreError> {
    let phone = destination(challenge)?;
    let settings = deps.sms_settings.get(tenant.id).await?;
    let lifetime = tenant.policy.code.lifetime;
    let text = texts::code_message(&settings, tenant, locale, phone, code, lifetime);
    // A decoy (R18) costs what a real code costs, a rendered and sealed text and a committed
    // outbox row, so that its answer takes as long (R19); but its row is a stand-in, expired
    // before it was written: the outbox writes it `expired` with no body and never sends it.
    // Its code matches nothing anyway.
    let expires_at = if challenge.decoy {
        STAND_IN_EXPIRY
    } else {
        challenge.expires_at
    };
    deps.outbox
        .enqueue(OutgoingSms {
            tenant: tenant.id,
            to: phone.clone(),
            text,
            provider_code: false,
            purpose: Some(challenge.purpose),
            idempotency_key: format!("{}:{}", challenge.id, challenge.sends),
            expires_at,
        })
        .await?;
    Ok(())
}

/// Queues the start of a provider-managed code: the outbox worker asks the tenant's provider
/// to make and send it, off this request's path like any SMS.
async fn start_provider_code(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
) -> Result<(), CoreError> {
    let phone = destination(challenge)?;
    deps.outbox
        .enqueue(OutgoingSms {
            tenant: tenant.id,
            to: phone.clone(),
            text: SmsText::new(String::new()),
            provider_code: true,
            purpose: Some(challenge.purpose),
            idempotency_key: format!("{}:{}", challenge.id, challenge.sends),
            expires_at: challenge.expires_at,
        })
        .await?;
    Ok(())
}

/// Where a challenge's code goes; every challenge this module sends for has one.
fn destination(challenge: &Challenge) -> Result<&PhoneNumber, CoreError> {
    challenge
        .phone
        .as_ref()
        .ok_or_else(|| CoreError::Internal("challenge without a destination".into()))
}

pub(crate) fn view(challenge: &Challenge, tenant: &Tenant, now: DateTime<Utc>) -> ChallengeView {
    ChallengeView {
        id: challenge.id,
        purpose: challenge.purpose,
        masked_destination: challenge
            .phone
            .as_ref()
            .map(PhoneNumber::masked)
            .unwrap_or_default(),
        expires_in: remaining(challenge.expires_at, now),
        resend_after: remaining(challenge.resend_at, now),
        code_length: tenant.policy.code_length().get(),
        backup_code_only: false,
    }
}

fn remaining(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}
