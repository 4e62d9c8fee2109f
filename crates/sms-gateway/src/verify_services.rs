//! [`VerifyServices`]: each tenant's provider-managed code backend, Twilio Verify, from its
//! SMS settings (the entry of kind `twilio_verify`, set through SetSmsProviders).
//!
//! Two callers share it, so both see the same client: the outbox worker starts
//! verifications through it ([`TenantRouting`] sends a provider-code message here and
//! nowhere else), and `VerifyCode` checks codes through it (it is the flows'
//! [`ProviderCodes`]). A tenant's client is built when first needed and kept while the
//! settings' `updated_at` stays the same.
//!
//! [`TenantRouting`]: crate::TenantRouting

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twostep_core::ids::TenantId;
use twostep_core::otp::OtpCode;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{
    OutgoingSms, PermanentKind, ProviderCodeError, ProviderCodes, ProviderEntry, SendError,
    SentSms, SmsSettingsStore,
};

use crate::providers::twilio_verify::{TwilioVerify, VerifyError};

/// The kind of a tenant's provider entry that makes its codes.
pub const KIND: &str = "twilio_verify";

/// Builds a tenant's client from its `twilio_verify` entry (the server checks and converts
/// it as it does SetSmsProviders). The error is a one-line reason without secrets.
pub type BuildVerify = dyn Fn(&ProviderEntry) -> Result<TwilioVerify, String> + Send + Sync;

/// One tenant's code provider: the entry's id (what outbox rows name as their provider) and
/// its client.
#[derive(Clone)]
pub struct VerifyService {
    pub name: String,
    pub client: Arc<TwilioVerify>,
}

/// A tenant's service (`None`: it has none), with the `updated_at` it was built from.
type Built = (Option<DateTime<Utc>>, Option<VerifyService>);

pub struct VerifyServices {
    settings: Arc<dyn SmsSettingsStore>,
    build: Arc<BuildVerify>,
    built: Mutex<HashMap<TenantId, Built>>,
}

impl VerifyServices {
    pub fn new(settings: Arc<dyn SmsSettingsStore>, build: Arc<BuildVerify>) -> Self {
        Self {
            settings,
            build,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's code provider now, if it has one.
    pub async fn of(&self, tenant: TenantId) -> Result<Option<VerifyService>, String> {
        let settings = self
            .settings
            .get(tenant)
            .await
            .map_err(|e| format!("tenant SMS settings unavailable: {e}"))?;
        let Some(entry) = settings.providers.iter().find(|p| p.kind == KIND) else {
            return Ok(None);
        };
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, service)) = built.get(&tenant)
            && *at == settings.updated_at
        {
            return Ok(service.clone());
        }
        let service = match (self.build)(entry) {
            Ok(client) => Some(VerifyService {
                name: entry.id.clone(),
                client: Arc::new(client),
            }),
            Err(reason) => {
                // Stored settings were checked when set; this is a newer binary refusing them.
                tracing::error!(tenant = %tenant, %reason, "the tenant's code provider does not build; its codes are twostep's own");
                None
            }
        };
        built.insert(tenant, (settings.updated_at, service.clone()));
        Ok(service)
    }

    /// The outbox worker's send of a provider-code message: starts a verification, whose id
    /// (`VE…`) is the row's provider message id.
    pub async fn start(&self, message: &OutgoingSms) -> Result<SentSms, SendError> {
        let service = self
            .of(message.tenant)
            .await
            .map_err(|reason| SendError::Retryable {
                retry_after: None,
                reason,
            })?
            .ok_or_else(|| SendError::Permanent {
                kind: PermanentKind::Other,
                reason: "the tenant no longer has a code provider (twilio_verify)".to_owned(),
            })?;
        let sid = service
            .client
            .start_verification(&message.to)
            .await
            .map_err(start_error)?;
        Ok(SentSms {
            provider: service.name,
            provider_message_id: sid,
        })
    }
}

/// A failed start as the worker classifies sends. Too many sends (60203) clears only when
/// Twilio's verification expires, after our code would: retrying cannot help in time.
fn start_error(e: VerifyError) -> SendError {
    let permanent = |kind, reason| SendError::Permanent { kind, reason };
    match e {
        VerifyError::InvalidNumber(r) => permanent(PermanentKind::InvalidNumber, r),
        VerifyError::TooManyAttempts(r) => permanent(PermanentKind::Rejected, r),
        VerifyError::Authentication(r) => permanent(PermanentKind::Authentication, r),
        VerifyError::NoPendingVerification(r) | VerifyError::Other(r) => {
            permanent(PermanentKind::Other, r)
        }
        VerifyError::Retryable {
            retry_after,
            reason,
        } => SendError::Retryable {
            retry_after,
            reason,
        },
    }
}

#[async_trait]
impl ProviderCodes for VerifyServices {
    async fn uses_provider_codes(&self, tenant: TenantId) -> Result<bool, ProviderCodeError> {
        Ok(self
            .of(tenant)
            .await
            .map_err(ProviderCodeError::Unavailable)?
            .is_some())
    }

    async fn check(
        &self,
        tenant: TenantId,
        to: &PhoneNumber,
        code: &OtpCode,
    ) -> Result<bool, ProviderCodeError> {
        let Some(service) = self
            .of(tenant)
            .await
            .map_err(ProviderCodeError::Unavailable)?
        else {
            return Err(ProviderCodeError::Refused(
                "the tenant no longer has a code provider".to_owned(),
            ));
        };
        // The adapter's reasons hold neither the code nor the full number.
        service.client.check(to, code).await.map_err(|e| match e {
            VerifyError::NoPendingVerification(r)
            | VerifyError::TooManyAttempts(r)
            | VerifyError::InvalidNumber(r) => ProviderCodeError::Refused(r),
            VerifyError::Authentication(r) | VerifyError::Other(r) => {
                ProviderCodeError::Unavailable(r)
            }
            VerifyError::Retryable { reason, .. } => ProviderCodeError::Unavailable(reason),
        })
    }
}
