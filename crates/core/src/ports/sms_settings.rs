//! A tenant's own SMS settings (AdminService/SetSmsProviders): its ordered providers with
//! their secrets, its test numbers with their fixed codes, its templates and WebOTP domain.
//!
//! Two ports: [`SmsSettingsStore`] is what flows and the outbox worker use, with secrets
//! open; [`SmsSettingsRepo`] is the durable row, whose secret part is sealed by the store
//! adapter before it reaches SQL (so a database dump holds no provider secret and no fixed
//! code).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::ids::TenantId;
use crate::otp::OtpCode;
use crate::phone::{PhoneNumber, Region};
use crate::ports::{RepoError, SealedBody};
use crate::templates::SmsTemplate;

/// One provider of a tenant's ordered list. `kind` and the keys of `settings` and `secrets`
/// are the API's spelling (`twilio`, `account_sid`); the server checks them against the
/// provider kinds before they are stored, and again when it builds the adapter.
#[derive(Clone)]
pub struct ProviderEntry {
    /// Unique in the tenant; names it in routes, outbox rows and audit events.
    pub id: String,
    pub kind: String,
    pub settings: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SecretString>,
    /// Countries it serves; empty means every country.
    pub countries: Vec<Region>,
    /// Per-request timeout; `None` means the adapter's default.
    pub timeout: Option<Duration>,
}

impl fmt::Debug for ProviderEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderEntry")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("countries", &self.countries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A number that gets a fixed code and no SMS (app-store reviewers, CI).
#[derive(Debug, Clone)]
pub struct TestNumber {
    pub phone: PhoneNumber,
    pub code: OtpCode,
    /// After this the number is an ordinary number again; `None` (development only) never.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TestNumber {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// Everything a tenant set with SetSmsProviders. The default (nothing set) means: the
/// global providers from configuration, no test numbers, the built-in texts.
#[derive(Debug, Clone, Default)]
pub struct TenantSmsSettings {
    pub providers: Vec<ProviderEntry>,
    pub test_numbers: Vec<TestNumber>,
    pub templates: Vec<SmsTemplate>,
    pub webotp_domain: Option<String>,
    /// When these settings were stored; changes whenever they do (adapters rebuild what
    /// they derived from the previous settings when it changes).
    pub updated_at: Option<DateTime<Utc>>,
}

impl TenantSmsSettings {
    /// The fixed code of `phone` when it is a test number still active at `now`.
    pub fn test_code(&self, phone: &PhoneNumber, now: DateTime<Utc>) -> Option<&OtpCode> {
        self.test_numbers
            .iter()
            .find(|t| t.phone == *phone && t.is_active(now))
            .map(|t| &t.code)
    }

    pub fn texts(&self) -> crate::templates::TenantTexts<'_> {
        crate::templates::TenantTexts {
            templates: &self.templates,
            webotp_domain: self.webotp_domain.as_deref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmsSettingsError {
    /// No configured key to seal secrets with (development without `security.outbox_key`).
    #[error("no key is configured to seal SMS settings")]
    NoKey,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// A tenant's SMS settings with secrets open. Contract: `get` of a tenant that never set any
/// answers the default; `get` may answer settings up to a documented cache lifetime old on
/// other instances, never older than the last `put` on this one; `put` replaces everything
/// and is refused with `NoKey` when secrets cannot be sealed durably.
#[async_trait]
pub trait SmsSettingsStore: Send + Sync + 'static {
    async fn get(&self, tenant: TenantId) -> Result<Arc<TenantSmsSettings>, RepoError>;
    async fn put(
        &self,
        tenant: TenantId,
        settings: TenantSmsSettings,
        now: DateTime<Utc>,
    ) -> Result<Arc<TenantSmsSettings>, SmsSettingsError>;
}

/// The durable row: `public` is the non-secret part (JSON written by the store adapter),
/// `sealed` the secret part, sealed under the key `key_id` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettingsRecord {
    pub tenant: TenantId,
    pub public: String,
    pub sealed: SealedBody,
    pub key_id: String,
    pub updated_at: DateTime<Utc>,
}

/// SQL rows of [`SmsSettingsRecord`]. Contract: `get` of an absent tenant is `Ok(None)`;
/// `put` inserts or replaces the tenant's one row; timestamps kept to the microsecond.
#[async_trait]
pub trait SmsSettingsRepo: Send + Sync + 'static {
    async fn get(&self, tenant: TenantId) -> Result<Option<SmsSettingsRecord>, RepoError>;
    async fn put(&self, record: &SmsSettingsRecord) -> Result<(), RepoError>;
}
