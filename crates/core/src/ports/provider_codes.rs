//! Provider-managed codes (issue 5, deliverable 3): for a tenant that chose such a backend
//! (Twilio Verify), the provider makes, sends and checks the code, and twostep keeps only
//! the challenge, its limits, its attempt budget and its uniform answers.
//!
//! Contract for every implementation:
//!
//! - `uses_provider_codes` answers from the tenant's settings (cached is fine) and calls no
//!   provider; `Err` means the settings could not be read, never "no".
//! - `check` asks the provider once whether `code` is the one it sent to `to`: `Ok(true)`
//!   only for the right code of a pending verification, `Ok(false)` for a wrong one. It
//!   never logs or returns the code or the full number.
//! - The flow calls `check` only after the attempt was admitted by the lockout and counted
//!   in the short-lived store's attempt budget, so the provider is never the only limit.

use async_trait::async_trait;

use crate::ids::TenantId;
use crate::otp::OtpCode;
use crate::phone::PhoneNumber;

/// Why a provider-managed code could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderCodeError {
    /// The provider will accept no code for this number now (nothing pending, too many
    /// checks): the flow answers like a wrong code.
    #[error("provider refused the check: {0}")]
    Refused(String),
    /// The provider or the tenant's settings could not be reached: the flow answers
    /// UNAVAILABLE. The reason holds no code, number or secret.
    #[error("provider codes unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ProviderCodes: Send + Sync + 'static {
    /// Whether the tenant's codes are made and checked by a provider.
    async fn uses_provider_codes(&self, tenant: TenantId) -> Result<bool, ProviderCodeError>;

    /// Whether `code` is the code the tenant's provider sent to `to`.
    async fn check(
        &self,
        tenant: TenantId,
        to: &PhoneNumber,
        code: &OtpCode,
    ) -> Result<bool, ProviderCodeError>;
}

/// No provider-managed codes: every tenant's codes are twostep's own (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProviderCodes;

#[async_trait]
impl ProviderCodes for NoProviderCodes {
    async fn uses_provider_codes(&self, _tenant: TenantId) -> Result<bool, ProviderCodeError> {
        Ok(false)
    }

    async fn check(
        &self,
        _tenant: TenantId,
        _to: &PhoneNumber,
        _code: &OtpCode,
    ) -> Result<bool, ProviderCodeError> {
        Ok(false)
    }
}
