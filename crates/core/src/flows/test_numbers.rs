//! Test numbers (SetSmsProviders): a number with a fixed code, for app-store reviewers and
//! CI. A challenge for an active test number gets the fixed code instead of a random one
//! and sends no SMS; everything else is as for any number: the code is stored only as a
//! keyed MAC, is single-use, has the attempt budget and the send limits.

use chrono::{DateTime, Utc};

use crate::error::CoreError;
use crate::flows::Deps;
use crate::otp::OtpCode;
use crate::phone::PhoneNumber;
use crate::tenant::Tenant;

/// The fixed code when `phone` is an active test number of the tenant and the challenge is
/// real (a decoy never gets a matching code, test number or not).
pub async fn fixed_code(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
    decoy: bool,
    now: DateTime<Utc>,
) -> Result<Option<OtpCode>, CoreError> {
    if decoy {
        return Ok(None);
    }
    let settings = deps.sms_settings.get(tenant.id).await?;
    let code = settings.test_code(phone, now).cloned();
    if code.is_some() {
        tracing::info!(phone = ?phone, "test number: fixed code, no SMS");
    }
    Ok(code)
}
