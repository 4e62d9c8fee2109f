//! `VerifyCode`: one entry point for every challenge. The code is checked first, the same way
//! for every purpose; what a right code unlocks is decided after, from the purpose the
//! challenge was created with (R6).

use crate::audit::AuditKind;
use crate::challenge::{Challenge, Purpose};
use crate::error::CoreError;
use crate::flows::account::{self, PhoneVerifiedOutcome};
use crate::flows::audit::{self, Event};
use crate::flows::registration::{self, RegistrationVerified};
use crate::flows::sessions::{self, IssuedSession};
use crate::flows::tickets::{self, Grant};
use crate::flows::{ClientInfo, Deps, codes, tenants};
use crate::ids::{ChallengeId, TenantId};
use crate::otp::OtpCode;
use crate::ports::RepoError;
use crate::session::AuthMethod;
use crate::tenant::{Tenant, TwoStepMode};
use crate::token::SecretToken;
use crate::user::User;

/// What a verified code unlocked.
#[derive(Debug)]
pub enum Verified {
    Session(Box<IssuedSession>),
    RegistrationTicket(SecretToken, std::time::Duration),
    PhoneVerified(Box<PhoneVerifiedOutcome>),
    /// The login is proven, but an admin forced a password change first.
    PasswordChangeRequired(SecretToken, std::time::Duration),
}

pub async fn verify_code(
    deps: &Deps,
    tenant: TenantId,
    challenge: ChallengeId,
    code: &OtpCode,
    client: &ClientInfo,
) -> Result<Verified, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    // A login's user is read while the code's consumption is recorded: one round trip less
    // on the path of every right code.
    let tenant_id = tenant.id;
    let read_user = |c: &Challenge| {
        let login = matches!(c.purpose, Purpose::PhoneLogin | Purpose::SecondFactor);
        let user = c.user.filter(|_| login);
        async move {
            match user {
                Some(user) => Some(deps.users.get(tenant_id, user).await),
                None => None,
            }
        }
    };
    let (consumed, user) = match codes::verify_then(deps, &tenant, challenge, code, read_user).await
    {
        Ok(c) => c,
        Err(e) => {
            if matches!(e, CoreError::Unauthenticated) {
                audit::record(
                    deps,
                    tenant.id,
                    Event::new(AuditKind::CodeFailed).client(client),
                )
                .await;
            }
            return Err(e);
        }
    };
    let mut event = Event::new(AuditKind::CodeVerified)
        .client(client)
        .detail("purpose", consumed.purpose.as_str());
    if let Some(user) = consumed.user {
        event = event.user(user);
    }
    audit::record(deps, tenant.id, event).await;
    match consumed.purpose {
        Purpose::PhoneLogin => {
            login_with(deps, &tenant, &consumed, user, AuthMethod::Sms, client).await
        }
        Purpose::SecondFactor => {
            let method = AuthMethod::PasswordAndSms;
            login_with(deps, &tenant, &consumed, user, method, client).await
        }
        Purpose::Registration => {
            match registration::code_verified(deps, &tenant, &consumed, client).await? {
                RegistrationVerified::Ticket(token, ttl) => {
                    Ok(Verified::RegistrationTicket(token, ttl))
                }
                RegistrationVerified::Session(issued) => Ok(Verified::Session(issued)),
            }
        }
        Purpose::PhoneVerification => Ok(Verified::PhoneVerified(Box::new(
            account::finish_phone_verification(deps, &tenant, &consumed, client).await?,
        ))),
        // A step-up code is spent by the action it authorises (AccountService), never here.
        Purpose::StepUp => Err(CoreError::FailedPrecondition(
            "step-up codes are checked by the action they authorise",
        )),
    }
}

/// Finishes a login whose factors are all proven, checking that the user (`read`: the
/// challenge's user as read beside the consumption record) still exists, is not locked, and
/// still has the very number the code went to (R29).
async fn login_with(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
    read: Option<Result<Option<User>, RepoError>>,
    method: AuthMethod,
    client: &ClientInfo,
) -> Result<Verified, CoreError> {
    let user = match read {
        Some(Ok(Some(user))) if !user.is_locked() => user,
        Some(Err(e)) => return Err(e.into()),
        _ => return Err(CoreError::Unauthenticated),
    };
    if user.verified_phone() != challenge.phone.as_ref() {
        return Err(CoreError::Unauthenticated);
    }
    finish_login(deps, tenant, &user, method, client).await
}

/// The last steps of every login: a forced password change comes before the session.
pub(crate) async fn finish_login(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    method: AuthMethod,
    client: &ClientInfo,
) -> Result<Verified, CoreError> {
    if user.must_change_password && user.password_hash.is_some() {
        let then_enroll = tenant.policy.two_step_mode(user.role) == TwoStepMode::Required
            && user.verified_phone().is_none();
        let grant = Grant::PasswordChange {
            user: user.id,
            method,
            then_enroll,
        };
        let (token, ttl) = tickets::issue(deps, tenant.id, &grant).await?;
        return Ok(Verified::PasswordChangeRequired(token, ttl));
    }
    let issued = sessions::start(deps, tenant, user, method, client).await?;
    let event = Event::new(AuditKind::LoginSucceeded)
        .user(user.id)
        .client(client)
        .detail("method", method.as_str());
    audit::record(deps, tenant.id, event).await;
    Ok(Verified::Session(Box::new(issued)))
}

/// The live, unlocked user a challenge was issued for; anything else is `Unauthenticated`.
pub(crate) async fn challenge_user(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
) -> Result<User, CoreError> {
    let Some(user_id) = challenge.user else {
        return Err(CoreError::Unauthenticated);
    };
    match deps.users.get(tenant.id, user_id).await? {
        Some(user) if !user.is_locked() => Ok(user),
        _ => Err(CoreError::Unauthenticated),
    }
}
