//! Issuing and validating sessions. Tokens are random and stored only as hashes; a session
//! family has an absolute end fixed at login that no refresh can move (R33).

use chrono::{DateTime, SubsecRound, Utc};

use crate::audit::AuditKind;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
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
    // Microseconds: what SQL stores, so the times returned now equal the times read later.
    let now = deps.clock.now().trunc_subsecs(6);
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
        family_created_at: now,
        access_expires_at: issued.access_expires_at,
        refresh_expires_at: issued.refresh_expires_at,
        absolute_expires_at,
        revoked_at: None,
        user_agent: truncate(&client.user_agent, 256),
        ip_address: client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        device_id: truncate(&client.device_id, DEVICE_ID_MAX_CHARS),
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

/// Rotates a refresh token: a new pair in the same family, with the same absolute end (R33).
/// Presenting a token that was already rotated or revoked is reuse: the whole family is revoked
/// and the answer is `Unauthenticated` (R34).
pub async fn refresh(
    deps: &Deps,
    tenant: &Tenant,
    refresh_token: &str,
    client: &ClientInfo,
) -> Result<IssuedSession, CoreError> {
    let hash = TokenHash::of_presented(TokenKind::Refresh, refresh_token.trim())
        .ok_or(CoreError::Unauthenticated)?;
    let now = deps.clock.now().trunc_subsecs(6);
    let Some(old) = deps.sessions.find_by_refresh(hash).await? else {
        return Err(CoreError::Unauthenticated);
    };
    if old.tenant != tenant.id {
        return Err(CoreError::Unauthenticated);
    }
    if old.revoked_at.is_some() {
        let revoked = deps.sessions.revoke_family(old.family, now).await?;
        tracing::warn!(session = %old.id, family = %old.family, revoked, "refresh token reused; family revoked");
        let event = Event::new(AuditKind::RefreshTokenReused)
            .user(old.user)
            .client(client);
        audit::record(deps, tenant.id, event).await;
        return Err(CoreError::Unauthenticated);
    }
    if now >= old.refresh_expires_at || now >= old.absolute_expires_at {
        return Err(CoreError::Unauthenticated);
    }
    match deps.users.get(tenant.id, old.user).await? {
        Some(user) if !user.is_locked() => {}
        _ => return Err(CoreError::Unauthenticated),
    }
    let issued = new_pair(tenant, old.role, now, old.absolute_expires_at);
    let session = Session {
        id: SessionId::random(),
        access_hash: issued.access.hash(),
        refresh_hash: issued.refresh.hash(),
        created_at: now,
        access_expires_at: issued.access_expires_at,
        refresh_expires_at: issued.refresh_expires_at,
        revoked_at: None,
        // The family's login time, user agent and device id stay those of the login; the
        // address is the latest one seen.
        ip_address: client
            .ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| old.ip_address.clone()),
        ..old.clone()
    };
    if !deps.sessions.rotate(old.id, &session, now).await? {
        // Another request rotated it first: one of the two is a replay.
        deps.sessions.revoke_family(old.family, now).await?;
        return Err(CoreError::Unauthenticated);
    }
    Ok(IssuedSession {
        session,
        access_token: issued.access,
        refresh_token: issued.refresh,
    })
}

/// What `RevokeSession` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeTarget {
    /// The session of the presented access token (log out).
    Current,
    /// Another session of the same user.
    Session(SessionId),
    /// Every session of the user.
    All,
}

/// Revokes at once (R34); returns how many sessions ended. A session id of another user is
/// answered like an unknown one: nothing is revoked.
pub async fn revoke(
    deps: &Deps,
    access_token: &str,
    target: RevokeTarget,
    client: &ClientInfo,
) -> Result<u64, CoreError> {
    let current = validate(deps, access_token).await?;
    let now = deps.clock.now();
    let count = match target {
        RevokeTarget::Current => u64::from(deps.sessions.revoke(current.id, now).await?),
        RevokeTarget::All => {
            deps.sessions
                .revoke_all_for_user(current.tenant, current.user, now)
                .await?
        }
        RevokeTarget::Session(id) => {
            let live = deps
                .sessions
                .list_live_for_user(current.tenant, current.user, now)
                .await?;
            if live.iter().any(|s| s.id == id) {
                u64::from(deps.sessions.revoke(id, now).await?)
            } else {
                0
            }
        }
    };
    let event = Event::new(AuditKind::SessionRevoked)
        .user(current.user)
        .client(client)
        .detail("count", count.to_string());
    audit::record(deps, current.tenant, event).await;
    Ok(count)
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

/// The longest device id kept (the edge refuses longer ones: `client.device_id`).
const DEVICE_ID_MAX_CHARS: usize = 128;

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
