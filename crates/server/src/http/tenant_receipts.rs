//! The credentials behind `/v1/receipts/tenants/{tenant_id}/{provider_id}`: the receipt
//! endpoint of a tenant's own provider (SetSmsProviders), checked with that entry's stored
//! secrets (Twilio `auth_token` or `signature_secret`, Plivo `auth_token`, Vonage
//! `signature_secret` or `receipt_token`, Clickatell and BulkSMS `receipt_token`).
//!
//! Nothing is cached here: each receipt reads the tenant's settings through the settings
//! store, whose own cache (`SealedSmsSettings`, 5 s) keeps that read off the database, and
//! converts the one entry again (`tenant_sms::receipt_verifier`, the conversion the
//! tenant's router uses). A conversion is a few map lookups, nothing next to the SQL update
//! every receipt makes, and a second cache keyed by `updated_at` (as `TenantRouting` keeps
//! for its routers' breaker state) would hold another copy of the secrets for no state
//! worth keeping. A change of settings reaches the endpoint as it reaches the router.

use std::sync::Arc;

use twostep_core::ids::TenantId;
use twostep_core::ports::{RepoError, SmsSettingsStore, TenantRepo};
use twostep_sms_gateway::receipts::ReceiptVerifier;

use crate::tenant_sms;

/// Finds the verifier of a tenant's provider.
pub struct TenantVerifiers {
    tenants: Arc<dyn TenantRepo>,
    settings: Arc<dyn SmsSettingsStore>,
    production: bool,
}

impl TenantVerifiers {
    /// `production` as the tenant's router is built with (the console kind is refused).
    pub fn new(
        tenants: Arc<dyn TenantRepo>,
        settings: Arc<dyn SmsSettingsStore>,
        production: bool,
    ) -> Self {
        Self {
            tenants,
            settings,
            production,
        }
    }

    /// The verifier of `tenant`'s entry `provider_id`; `None` when there is no such tenant
    /// or entry, or its kind takes no receipts (answered 404).
    pub async fn verifier(
        &self,
        tenant: TenantId,
        provider_id: &str,
    ) -> Result<Option<ReceiptVerifier>, RepoError> {
        // The tenant first: the settings store remembers every tenant it is asked about, so
        // made-up tenant ids from the internet must not reach it. One primary-key read, on
        // a path that writes a row anyway.
        if self.tenants.get(tenant).await?.is_none() {
            return Ok(None);
        }
        let settings = self.settings.get(tenant).await?;
        match tenant_sms::receipt_verifier(&settings.providers, provider_id, self.production) {
            Ok(verifier) => Ok(verifier),
            Err(e) => {
                // Stored settings were checked when set; this is a newer binary refusing
                // them (the router falls back to the global providers the same way).
                tracing::error!(
                    tenant = %tenant,
                    provider = provider_id,
                    reason = %e,
                    "the tenant's SMS provider does not convert; its receipts are refused"
                );
                Ok(None)
            }
        }
    }
}
