//! Security events, recorded for every state change and every authentication decision, with
//! a masked number and never a secret.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ids::{TenantId, UserId};

macro_rules! event_kinds {
    ($($variant:ident = $name:literal,)*) => {
        /// What happened. The names are stored; never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditKind { $($variant,)* }

        impl AuditKind {
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(AuditKind::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(AuditKind::$variant),)* _ => None }
            }
        }
    };
}

event_kinds! {
    LoginSucceeded = "login_succeeded",
    LoginFailed = "login_failed",
    CodeSent = "code_sent",
    CodeVerified = "code_verified",
    CodeFailed = "code_failed",
    UserLocked = "user_locked",
    UserUnlocked = "user_unlocked",
    PhoneChanged = "phone_changed",
    PhoneVerified = "phone_verified",
    TwoStepEnabled = "two_step_enabled",
    TwoStepDisabled = "two_step_disabled",
    BackupCodeUsed = "backup_code_used",
    BackupCodesRegenerated = "backup_codes_regenerated",
    PasswordChanged = "password_changed",
    PasswordChangeForced = "password_change_forced",
    UserCreated = "user_created",
    ProfileUpdated = "profile_updated",
    SessionRevoked = "session_revoked",
    RefreshTokenReused = "refresh_token_reused",
    RateLimited = "rate_limited",
    TenantCreated = "tenant_created",
    TenantUpdated = "tenant_updated",
    ApiClientCreated = "api_client_created",
    ApiClientRevoked = "api_client_revoked",
    SmsProvidersUpdated = "sms_providers_updated",
    TestSmsSent = "test_sms_sent",
    RegistrationOfExistingNumber = "registration_of_existing_number",
    SuspiciousLogin = "suspicious_login",
}

/// Who caused the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The end user, acting through a calling service.
    User(UserId),
    /// A calling service or operator tool, by API client id (or `"development"` when
    /// unauthenticated calls are allowed).
    ApiClient(String),
    /// twostep itself (lockouts, expiry).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub tenant: TenantId,
    pub actor: Actor,
    /// The user the event is about, when there is one.
    pub user: Option<UserId>,
    pub kind: AuditKind,
    /// Always masked (`+1******0100`), never a full number.
    pub masked_phone: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: String,
    /// Small facts (`{"method": "sms"}`); never a code, password, token or full number.
    pub details: BTreeMap<String, String>,
}

/// Which events to list; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<UserId>,
    /// Empty means every kind.
    pub kinds: Vec<AuditKind>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}
