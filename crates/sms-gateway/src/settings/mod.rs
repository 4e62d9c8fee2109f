//! [`SealedSmsSettings`]: core's `SmsSettingsStore` over the `SmsSettingsRepo` row, with the
//! secret part (provider secrets, test numbers' fixed codes) sealed under the outbox key
//! (XChaCha20-Poly1305, bound to the tenant), and a per-process cache.
//!
//! The cache keeps a tenant's settings for [`SealedSmsSettings::DEFAULT_TTL`]: a change is
//! seen at once by the instance that made it and within that time by the others. Every
//! StartLogin reads the settings (test numbers, templates), so the cache keeps that read off
//! the database.
//!
//! Without a configured key (development, random per-process outbox key) nothing is stored:
//! sealed secrets would not open after a restart. Settings whose secrets do not open (the
//! key changed) keep their templates and lose providers and test numbers, with an error
//! logged: the tenant falls back to the global providers rather than failing every login.

mod json;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
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

type Cached = (Instant, Arc<TenantSmsSettings>);

pub struct SealedSmsSettings {
    repo: Arc<dyn SmsSettingsRepo>,
    key: Option<OutboxKey>,
    ttl: Duration,
    cache: Mutex<HashMap<TenantId, Cached>>,
}

impl SealedSmsSettings {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

    /// `key` is the configured outbox key; `None` refuses `put` (see the module docs).
    pub fn new(repo: Arc<dyn SmsSettingsRepo>, key: Option<OutboxKey>, ttl: Duration) -> Self {
        Self {
            repo,
            key,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, tenant: TenantId) -> Option<Arc<TenantSmsSettings>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&tenant)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, s)| Arc::clone(s))
    }

    fn remember(&self, tenant: TenantId, settings: Arc<TenantSmsSettings>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(tenant, (Instant::now(), settings));
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
        if let Some(hit) = self.cached(tenant) {
            return Ok(hit);
        }
        let settings = match self.repo.get(tenant).await? {
            Some(record) => Arc::new(self.decode(record)?),
            None => Arc::new(TenantSmsSettings::default()),
        };
        self.remember(tenant, Arc::clone(&settings));
        Ok(settings)
    }

    async fn put(
        &self,
        tenant: TenantId,
        settings: TenantSmsSettings,
        now: DateTime<Utc>,
    ) -> Result<Arc<TenantSmsSettings>, SmsSettingsError> {
        let Some(key) = &self.key else {
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
        self.repo.put(&record).await?;
        // Read back what the next `get` will see (timestamps at the database's precision).
        let saved = Arc::new(self.decode(record)?);
        self.remember(tenant, Arc::clone(&saved));
        Ok(saved)
    }
}

#[cfg(test)]
mod tests;
