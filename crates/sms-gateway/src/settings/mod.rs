//! [`SealedSmsSettings`]: core's `SmsSettingsStore` over the `SmsSettingsRepo` row, with the
//! secret part (provider secrets, test numbers' fixed codes) sealed under the outbox key
//! (XChaCha20-Poly1305, bound to the tenant), and a per-process cache.
//!
//! The cache keeps a tenant's settings fresh for [`SealedSmsSettings::DEFAULT_TTL`]: a change
//! is seen at once by the instance that made it and within that time (plus one read) by the
//! others. Every StartLogin that sends a code reads the settings (test numbers, templates), so
//! the cache keeps that read off the database; it is core's `RefreshingCache`, so an old copy
//! is read again by one background task while it goes on being served (up to three TTLs),
//! instead of by every request in flight when it expires (the stampede that stalled S2 when
//! the tenant cache had it, issue 7).
//!
//! Without a configured key (development, random per-process outbox key) nothing is stored:
//! sealed secrets would not open after a restart. Settings whose secrets do not open (the
//! key changed) keep their templates and lose providers and test numbers, with an error
//! logged: the tenant falls back to the global providers rather than failing every login.

mod json;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use secrecy::{ExposeSecret, SecretString};
use twostep_core::flows::refreshing_cache::RefreshingCache;
use twostep_core::ids::TenantId;
use twostep_core::ports::{
    RepoError, SmsSettingsError, SmsSettingsRecord, SmsSettingsRepo, SmsSettingsStore,
    TenantSmsSettings,
};

use crate::outbox::OutboxKey;

/// The row id half of the associated data of sealed settings (the tenant is the other): a
/// constant, since a tenant has one row; the label in the plaintext tells settings from
/// outbox bodies.
const SETTINGS_ROW: uuid::Uuid = uuid::Uuid::from_u128(0x7477_6f73_7465_7020_736d_7320_7365_7473);
const LABEL: &str = "sms-settings-v1";

/// Tenants whose settings are kept at most.
const MAX_TENANTS: usize = 10_000;

pub struct SealedSmsSettings {
    codec: Arc<Codec>,
    /// `None` for a zero TTL: every read goes to the database.
    cache: Option<RefreshingCache<TenantId, TenantSmsSettings>>,
}

/// The row and its sealing; shared with the cache's background reads.
struct Codec {
    repo: Arc<dyn SmsSettingsRepo>,
    key: Option<OutboxKey>,
}

impl SealedSmsSettings {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

    /// `key` is the configured outbox key; `None` refuses `put` (see the module docs).
    pub fn new(repo: Arc<dyn SmsSettingsRepo>, key: Option<OutboxKey>, ttl: Duration) -> Self {
        let cache = (!ttl.is_zero())
            .then(|| RefreshingCache::new("sms settings", ttl, ttl * 3, MAX_TENANTS));
        Self {
            codec: Arc::new(Codec { repo, key }),
            cache,
        }
    }
}

impl Codec {
    /// The tenant's settings as stored; a tenant without a row has the defaults.
    async fn read(&self, tenant: TenantId) -> Result<TenantSmsSettings, RepoError> {
        match self.repo.get(tenant).await? {
            Some(record) => self.decode(record),
            None => Ok(TenantSmsSettings::default()),
        }
    }

    fn decode(&self, record: SmsSettingsRecord) -> Result<TenantSmsSettings, RepoError> {
        let corrupt = |why: String| {
            RepoError::Internal(format!("stored SMS settings of {}: {why}", record.tenant).into())
        };
        let public: json::Public =
            serde_json::from_str(&record.public).map_err(|e| corrupt(e.to_string()))?;
        let secrets = self.open(&record);
        json::join(public, secrets, record.updated_at).map_err(corrupt)
    }

    fn open(&self, record: &SmsSettingsRecord) -> Option<json::Secrets> {
        let opened = self
            .key
            .as_ref()
            .filter(|k| k.id() == record.key_id)
            .and_then(|k| k.open(SETTINGS_ROW, record.tenant, &record.sealed).ok())
            .filter(|o| o.to == LABEL);
        let Some(opened) = opened else {
            tracing::error!(
                tenant = %record.tenant,
                key_id = %record.key_id,
                "the tenant's SMS settings were sealed with another key: its providers and \
                 test numbers are ignored until SetSmsProviders stores them again"
            );
            return None;
        };
        let text = SecretString::from(opened.text.expose().to_owned());
        match serde_json::from_str(text.expose_secret()) {
            Ok(secrets) => Some(secrets),
            Err(_) => {
                tracing::error!(tenant = %record.tenant, "sealed SMS settings are damaged");
                None
            }
        }
    }
}

#[async_trait]
impl SmsSettingsStore for SealedSmsSettings {
    async fn get(&self, tenant: TenantId) -> Result<Arc<TenantSmsSettings>, RepoError> {
        let Some(cache) = &self.cache else {
            return Ok(Arc::new(self.codec.read(tenant).await?));
        };
        let codec = Arc::clone(&self.codec);
        let settings = cache
            .get(tenant, move |tenant| async move {
                codec.read(tenant).await.map(Some)
            })
            .await?;
        // The read never answers "missing" (defaults instead); a default here keeps that so.
        Ok(settings.unwrap_or_default())
    }

    async fn put(
        &self,
        tenant: TenantId,
        settings: TenantSmsSettings,
        now: DateTime<Utc>,
    ) -> Result<Arc<TenantSmsSettings>, SmsSettingsError> {
        let Some(key) = &self.codec.key else {
            return Err(SmsSettingsError::NoKey);
        };
        let (public, secrets) = json::split(&settings);
        let internal = |e: String| SmsSettingsError::Repo(RepoError::Internal(e.into()));
        let public = serde_json::to_string(&public).map_err(|e| internal(e.to_string()))?;
        let secrets = SecretString::from(
            serde_json::to_string(&secrets).map_err(|e| internal(e.to_string()))?,
        );
        let sealed = key
            .seal(SETTINGS_ROW, tenant, LABEL, secrets.expose_secret())
            .map_err(|e| internal(e.to_string()))?;
        let record = SmsSettingsRecord {
            tenant,
            public,
            sealed,
            key_id: key.id().to_owned(),
            // The databases keep microseconds: the same instant every instance reads back.
            updated_at: now.trunc_subsecs(6),
        };
        self.codec.repo.put(&record).await?;
        // Read back what the next `get` will see (timestamps at the database's precision).
        let saved = self.codec.decode(record)?;
        Ok(match &self.cache {
            Some(cache) => cache.put(tenant, saved),
            None => Arc::new(saved),
        })
    }
}

#[cfg(test)]
mod tests;
