//! Restricted tickets: short-lived, single-use bearer tokens that allow exactly one follow-up
//! step and nothing else. They are not sessions: no RPC that takes an access token accepts one
//! (R12). Stored in the short-lived store under the hash of the token.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::flows::Deps;
use crate::ids::{TenantId, UserId};
use crate::phone::PhoneNumber;
use crate::session::AuthMethod;
use crate::token::{SecretToken, TokenHash, TokenKind};

/// Pre-MFA and restricted tickets live at most 5 minutes (R12); a registration ticket gives
/// the user time to type a name and an email.
pub const RESTRICTED_TTL: Duration = Duration::from_secs(5 * 60);
pub const REGISTRATION_TTL: Duration = Duration::from_secs(10 * 60);

/// What a ticket allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `CompleteRegistration` for this verified number.
    Registration { phone: PhoneNumber },
    /// `StartPhoneVerification` (and the `VerifyCode` that follows) for a user who must enroll
    /// a phone before the login can finish; `method` is what the user proved so far.
    Enrollment { user: UserId, method: AuthMethod },
    /// `ChangePassword` without a session, for a user the admin forced to change it. After the
    /// change, the login continues: with enrollment when `then_enroll`, else a session.
    PasswordChange {
        user: UserId,
        method: AuthMethod,
        then_enroll: bool,
    },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    tenant: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default)]
    then_enroll: bool,
}

/// Issues a ticket; the token is returned once, with its lifetime.
pub async fn issue(
    deps: &Deps,
    tenant: TenantId,
    grant: &Grant,
) -> Result<(SecretToken, Duration), CoreError> {
    let ttl = match grant {
        Grant::Registration { .. } => REGISTRATION_TTL,
        _ => RESTRICTED_TTL,
    };
    let stored = match grant {
        Grant::Registration { phone } => Stored {
            tenant: tenant.to_string(),
            kind: "registration".into(),
            user: None,
            phone: Some(phone.e164().to_owned()),
            method: None,
            then_enroll: false,
        },
        Grant::Enrollment { user, method } => Stored {
            tenant: tenant.to_string(),
            kind: "enrollment".into(),
            user: Some(user.to_string()),
            phone: None,
            method: Some(method.as_str().to_owned()),
            then_enroll: false,
        },
        Grant::PasswordChange {
            user,
            method,
            then_enroll,
        } => Stored {
            tenant: tenant.to_string(),
            kind: "password_change".into(),
            user: Some(user.to_string()),
            phone: None,
            method: Some(method.as_str().to_owned()),
            then_enroll: *then_enroll,
        },
    };
    let payload = serde_json::to_string(&stored).map_err(|e| CoreError::Internal(e.into()))?;
    let token = SecretToken::generate(TokenKind::Ticket);
    let now = deps.clock.now();
    deps.store
        .put_ticket(token.hash(), &payload, now + ttl, now)
        .await?;
    Ok((token, ttl))
}

/// Takes a ticket (it works once) and returns what it grants. A malformed, unknown, expired,
/// used or foreign ticket is `Unauthenticated`.
pub async fn redeem(deps: &Deps, tenant: TenantId, presented: &str) -> Result<Grant, CoreError> {
    let hash = TokenHash::of_presented(TokenKind::Ticket, presented.trim())
        .ok_or(CoreError::Unauthenticated)?;
    let payload = deps
        .store
        .take_ticket(hash, deps.clock.now())
        .await?
        .ok_or(CoreError::Unauthenticated)?;
    decode(tenant, &payload)
}

/// What a ticket would grant, without spending it: a flow peeks, checks its whole request,
/// and only then [`redeem`]s (the one atomic use, which may still fail if another request
/// spent the ticket in between). A peek grants nothing by itself.
pub async fn peek(deps: &Deps, tenant: TenantId, presented: &str) -> Result<Grant, CoreError> {
    let hash = TokenHash::of_presented(TokenKind::Ticket, presented.trim())
        .ok_or(CoreError::Unauthenticated)?;
    let payload = deps
        .store
        .peek_ticket(hash, deps.clock.now())
        .await?
        .ok_or(CoreError::Unauthenticated)?;
    decode(tenant, &payload)
}

fn decode(tenant: TenantId, payload: &str) -> Result<Grant, CoreError> {
    let stored: Stored =
        serde_json::from_str(payload).map_err(|e| CoreError::Internal(e.into()))?;
    if stored.tenant != tenant.to_string() {
        return Err(CoreError::Unauthenticated);
    }
    let user = || -> Result<UserId, CoreError> {
        stored
            .user
            .as_deref()
            .and_then(|u| u.parse().ok())
            .ok_or(CoreError::Internal("ticket without user".into()))
    };
    let method = || -> Result<AuthMethod, CoreError> {
        stored
            .method
            .as_deref()
            .and_then(AuthMethod::parse)
            .ok_or(CoreError::Internal("ticket without method".into()))
    };
    match stored.kind.as_str() {
        "registration" => {
            let phone = stored
                .phone
                .as_deref()
                .and_then(|p| PhoneNumber::from_e164(p).ok())
                .ok_or(CoreError::Internal("ticket without phone".into()))?;
            Ok(Grant::Registration { phone })
        }
        "enrollment" => Ok(Grant::Enrollment {
            user: user()?,
            method: method()?,
        }),
        "password_change" => Ok(Grant::PasswordChange {
            user: user()?,
            method: method()?,
            then_enroll: stored.then_enroll,
        }),
        _ => Err(CoreError::Internal("unknown ticket kind".into())),
    }
}
