//! `VerifyCode`: one entry point for every challenge; the answer depends on the challenge's
//! purpose (R6).

use crate::challenge::{Challenge, Purpose};
use crate::error::CoreError;
use crate::flows::sessions::{self, IssuedSession};
use crate::flows::{ClientInfo, Deps, codes, tenants};
use crate::ids::{ChallengeId, TenantId};
use crate::otp::OtpCode;
use crate::session::AuthMethod;
use crate::tenant::Tenant;

/// What a verified code unlocked.
#[derive(Debug)]
pub enum Verified {
    Session(IssuedSession),
}

pub async fn verify_code(
    deps: &Deps,
    tenant: TenantId,
    challenge: ChallengeId,
    code: &OtpCode,
    client: &ClientInfo,
) -> Result<Verified, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let consumed = codes::verify(deps, &tenant, challenge, code).await?;
    match consumed.purpose {
        Purpose::PhoneLogin => session_for(deps, &tenant, &consumed, AuthMethod::Sms, client).await,
        Purpose::SecondFactor => {
            session_for(deps, &tenant, &consumed, AuthMethod::PasswordAndSms, client).await
        }
        Purpose::Registration | Purpose::PhoneVerification | Purpose::StepUp => {
            Err(CoreError::Unimplemented("this challenge purpose"))
        }
    }
}

/// Issues a session for the challenge's user, after checking that the user still exists, is
/// not locked, and still has the very number the code went to (R29).
async fn session_for(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
    method: AuthMethod,
    client: &ClientInfo,
) -> Result<Verified, CoreError> {
    let Some(user_id) = challenge.user else {
        return Err(CoreError::Unauthenticated);
    };
    let Some(user) = deps.users.get(tenant.id, user_id).await? else {
        return Err(CoreError::Unauthenticated);
    };
    if user.is_locked() || user.verified_phone() != challenge.phone.as_ref() {
        return Err(CoreError::Unauthenticated);
    }
    let issued = sessions::start(deps, tenant, &user, method, client).await?;
    Ok(Verified::Session(issued))
}
