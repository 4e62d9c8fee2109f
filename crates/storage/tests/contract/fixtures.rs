//! Values to store, and their comparable projections (the core types do not derive
//! `PartialEq`, on purpose for secrets-bearing ones).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use twostep_core::email::Email;
use twostep_core::ids::{FamilyId, SessionId, TenantId, UserId};
use twostep_core::phone::PhoneNumber;
use twostep_core::session::{AuthMethod, Session};
use twostep_core::tenant::{Policy, Tenant};
use twostep_core::token::{SecretToken, TokenKind};
use twostep_core::user::{NewUser, Role, User};

/// Now, at the microsecond precision that storage keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn tenant(slug: &str) -> Tenant {
    Tenant {
        id: TenantId::random(),
        slug: slug.to_owned(),
        name: format!("Tenant {slug}"),
        app_name: "Acme".to_owned(),
        policy: Policy::default(),
        created_at: now(),
    }
}

pub fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

pub fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::from_e164(s).unwrap()
}

pub fn new_user(tenant: TenantId, email_addr: Option<&str>, phone_e164: Option<&str>) -> NewUser {
    NewUser {
        id: UserId::random(),
        tenant,
        email: email_addr.map(email),
        display_name: "Ada Lovelace".to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        phone: phone_e164.map(phone),
        phone_verified_at: None,
        two_step_enabled: false,
        role: Role::Customer,
        must_change_password: false,
        created_at: now(),
    }
}

/// A live session of `user`, created at `created_at`, in a new family.
pub fn session(user: &User, created_at: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::random(),
        family: FamilyId::random(),
        tenant: user.tenant,
        user: user.id,
        role: user.role,
        auth_method: AuthMethod::PasswordAndSms,
        access_hash: SecretToken::generate(TokenKind::Access).hash(),
        refresh_hash: SecretToken::generate(TokenKind::Refresh).hash(),
        created_at,
        family_created_at: created_at,
        access_expires_at: created_at + Duration::minutes(15),
        refresh_expires_at: created_at + Duration::hours(1),
        absolute_expires_at: created_at + Duration::hours(24),
        revoked_at: None,
        user_agent: "grpcurl/1.9".to_owned(),
        ip_address: "192.0.2.7".to_owned(),
        device_id: "install-7f3a".to_owned(),
    }
}

/// The successor of `old` in its family, as a refresh would make it.
pub fn successor(old: &Session, now: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::random(),
        family: old.family,
        ..session_like(old, now)
    }
}

fn session_like(old: &Session, now: DateTime<Utc>) -> Session {
    Session {
        access_hash: SecretToken::generate(TokenKind::Access).hash(),
        refresh_hash: SecretToken::generate(TokenKind::Refresh).hash(),
        created_at: now,
        access_expires_at: now + Duration::minutes(15),
        refresh_expires_at: now + Duration::hours(1),
        revoked_at: None,
        ..old.clone()
    }
}

pub fn tenant_fields(t: &Tenant) -> impl std::fmt::Debug + PartialEq {
    (
        t.id,
        t.slug.clone(),
        t.name.clone(),
        t.app_name.clone(),
        t.policy.clone(),
        t.created_at,
    )
}

#[derive(Debug, PartialEq)]
pub struct UserFields {
    id: UserId,
    tenant: TenantId,
    email: Option<String>,
    display_name: String,
    password_hash: Option<String>,
    phone: Option<String>,
    phone_verified_at: Option<DateTime<Utc>>,
    two_step_enabled: bool,
    role: Role,
    must_change_password: bool,
    locked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub fn user_fields(u: &User) -> UserFields {
    UserFields {
        id: u.id,
        tenant: u.tenant,
        email: u.email.as_ref().map(|e| e.as_str().to_owned()),
        display_name: u.display_name.clone(),
        password_hash: u.password_hash.clone(),
        phone: u.phone.as_ref().map(|p| p.e164().to_owned()),
        phone_verified_at: u.phone_verified_at,
        two_step_enabled: u.two_step_enabled,
        role: u.role,
        must_change_password: u.must_change_password,
        locked_at: u.locked_at,
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

pub fn session_fields(s: &Session) -> impl std::fmt::Debug + PartialEq {
    (
        (
            s.id,
            s.family,
            s.tenant,
            s.user,
            s.role,
            s.auth_method,
            s.access_hash,
            s.refresh_hash,
        ),
        (
            s.created_at,
            s.access_expires_at,
            s.refresh_expires_at,
            s.absolute_expires_at,
        ),
        (s.revoked_at, s.user_agent.clone(), s.ip_address.clone()),
        // The family's birth and device survive rotation (the successor copies them).
        (s.family_created_at, s.device_id.clone()),
    )
}

/// A stored tenant with one stored user.
pub async fn seeded_user(db: &twostep_storage::Database) -> (Tenant, User) {
    use twostep_core::ports::{TenantRepo, UserRepo};
    let t = tenant(&format!("t-{}", uuid::Uuid::new_v4().simple()));
    db.tenants().create(&t).await.unwrap();
    let u = db
        .users()
        .create(&new_user(t.id, Some("ada@example.com"), None))
        .await
        .unwrap();
    (t, u)
}

/// An audit event of `tenant` by the system, about no user, with a time-ordered id.
pub fn audit_event(
    tenant: TenantId,
    at: DateTime<Utc>,
    kind: twostep_core::audit::AuditKind,
) -> twostep_core::audit::AuditEvent {
    twostep_core::audit::AuditEvent {
        id: uuid::Uuid::now_v7(),
        at,
        tenant,
        actor: twostep_core::audit::Actor::System,
        user: None,
        kind,
        masked_phone: None,
        client_ip: None,
        user_agent: String::new(),
        details: std::collections::BTreeMap::new(),
    }
}
