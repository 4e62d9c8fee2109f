//! Issuing and validating sessions. Tokens are random and stored only as hashes; a session
//! family has an absolute end fixed at login that no refresh can move (R33).

use chrono::{DateTime, Utc};

use crate::error::CoreError;
use crate::flows::{ClientInfo, Deps};
use crate::ids::{FamilyId, SessionId};
use crate::session::{AuthMethod, Session};
use crate::tenant::Tenant;
use crate::token::{SecretToken, TokenHash, TokenKind};
use crate::user::{Role, User};

/// A new session with its tokens in clear, to be returned to the caller once.
#[derive(Debug)]
pub struct IssuedSession {
    pub session: Session,
    pub access_token: SecretToken,
    pub refresh_token: SecretToken,
}

/// Starts a new session family for `user`.
pub async fn start(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    method: AuthMethod,
    client: &ClientInfo,
) -> Result<IssuedSession, CoreError> {
    let now = deps.clock.now();
    let policy = &tenant.policy.session;
    let absolute = match user.role {
        Role::Admin => policy.admin_absolute_lifetime,
        Role::Customer => policy.absolute_lifetime,
    };
    let absolute_expires_at = now + absolute;
    let issued = new_pair(tenant, user.role, now, absolute_expires_at);
    let session = Session {
        id: SessionId::random(),
        family: FamilyId::random(),
        tenant: tenant.id,
        user: user.id,
        role: user.role,
        auth_method: method,
        access_hash: issued.access.hash(),
        refresh_hash: issued.refresh.hash(),
        created_at: now,
        access_expires_at: issued.access_expires_at,
        refresh_expires_at: issued.refresh_expires_at,
        absolute_expires_at,
        revoked_at: None,
        user_agent: truncate(&client.user_agent, 256),
        ip_address: client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
    };
    deps.sessions.create(&session).await?;
    tracing::info!(session = %session.id, user = %user.id, method = method.as_str(), "session started");
    Ok(IssuedSession {
        session,
        access_token: issued.access,
        refresh_token: issued.refresh,
    })
}

/// The live session an access token belongs to. One indexed lookup: this is the hot path
/// other services call on every request.
pub async fn validate(deps: &Deps, access_token: &str) -> Result<Session, CoreError> {
    let hash = TokenHash::of_presented(TokenKind::Access, access_token)
        .ok_or(CoreError::Unauthenticated)?;
    let now = deps.clock.now();
    match deps.sessions.find_by_access(hash).await? {
        Some(s) if s.access_valid_at(now) => Ok(s),
        _ => Err(CoreError::Unauthenticated),
    }
}

struct Pair {
    access: SecretToken,
    refresh: SecretToken,
    access_expires_at: DateTime<Utc>,
    refresh_expires_at: DateTime<Utc>,
}

fn new_pair(tenant: &Tenant, role: Role, now: DateTime<Utc>, absolute: DateTime<Utc>) -> Pair {
    let policy = &tenant.policy.session;
    let idle = match role {
        Role::Admin => policy.admin_idle_timeout,
        Role::Customer => policy.idle_timeout,
    };
    Pair {
        access: SecretToken::generate(TokenKind::Access),
        refresh: SecretToken::generate(TokenKind::Refresh),
        access_expires_at: (now + policy.access_token_ttl).min(absolute),
        refresh_expires_at: (now + idle).min(absolute),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
