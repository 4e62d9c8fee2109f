//! SMS texts of the flows, rendered through [`crate::templates`] with the tenant's own
//! templates and WebOTP domain (SetSmsProviders) in the language of the request or of the
//! number's country. One segment by default, no links, a do-not-share line (security
//! requirements §3.10).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::CoreError;
use crate::flows::Deps;
use crate::otp::OtpCode;
use crate::phone::PhoneNumber;
use crate::ports::{OutgoingSms, SmsText, TenantSmsSettings};
use crate::templates;
use crate::tenant::Tenant;

/// Minutes a code lasts, as its text says them (rounded up, at least one).
fn minutes(lifetime: Duration) -> u32 {
    u32::try_from(lifetime.as_secs().div_ceil(60).max(1)).unwrap_or(u32::MAX)
}

/// The code message for `to`, in the tenant's wording.
pub fn code_message(
    settings: &TenantSmsSettings,
    tenant: &Tenant,
    locale: &str,
    to: &PhoneNumber,
    code: &OtpCode,
    lifetime: Duration,
) -> SmsText {
    let language = templates::language_for(locale, to);
    SmsText::new(settings.texts().code(
        &language,
        &tenant.app_name,
        code.expose_for_sms(),
        minutes(lifetime),
    ))
}

/// A notice: a text without a code.
#[derive(Debug, Clone, Copy)]
pub enum Notice {
    /// To the owner of a number someone tried to register again (R20).
    RegistrationAttempt,
    /// To the user after a backup code was used to log in (R27), with the codes left.
    BackupCodeUsed { remaining: usize },
    /// To the user after their password was right but the code step failed (R13).
    SuspiciousLogin,
}

/// Whether `to` is an active test number of the tenant: it never gets an SMS. A settings
/// lookup that fails counts as no (the notice is sent).
pub async fn is_test_number(deps: &Deps, tenant: &Tenant, to: &PhoneNumber) -> bool {
    match deps.sms_settings.get(tenant.id).await {
        Ok(settings) => settings.test_code(to, deps.clock.now()).is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "tenant SMS settings unavailable");
            false
        }
    }
}

/// Queues a notice to `to`, unless `to` is an active test number of the tenant (they never
/// get an SMS).
pub async fn send_notice(
    deps: &Deps,
    tenant: &Tenant,
    to: &PhoneNumber,
    locale: &str,
    notice: Notice,
    idempotency_key: String,
    expires_at: DateTime<Utc>,
) -> Result<(), CoreError> {
    let settings = deps.sms_settings.get(tenant.id).await?;
    if settings.test_code(to, deps.clock.now()).is_some() {
        tracing::info!(to = ?to, "notice to a test number not sent");
        return Ok(());
    }
    let language = templates::language_for(locale, to);
    let texts = settings.texts();
    let app = &tenant.app_name;
    let text = match notice {
        Notice::RegistrationAttempt => texts.registration_attempt(&language, app),
        Notice::BackupCodeUsed { remaining } => texts.backup_code_used(&language, app, remaining),
        Notice::SuspiciousLogin => texts.suspicious_login(&language, app),
    };
    deps.outbox
        .enqueue(OutgoingSms {
            tenant: tenant.id,
            to: to.clone(),
            text: SmsText::new(text),
            provider_code: false,
            purpose: None,
            idempotency_key,
            expires_at,
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_default_code_message_fits_one_gsm_segment() {
        let code = OtpCode::parse("123456").unwrap();
        let tenant = Tenant {
            id: crate::ids::TenantId::random(),
            slug: "acme".into(),
            name: "Acme".into(),
            app_name: "Acme Shop".into(),
            policy: crate::tenant::Policy::default(),
            created_at: Utc::now(),
        };
        let to = PhoneNumber::from_e164("+14155550100").unwrap();
        let text = code_message(
            &TenantSmsSettings::default(),
            &tenant,
            "",
            &to,
            &code,
            Duration::from_secs(300),
        );
        assert_eq!(
            text.expose(),
            "123456 is your Acme Shop code. It expires in 5 min. Do not share it with anyone."
        );
        assert!(text.expose().len() <= 160);
    }
}
