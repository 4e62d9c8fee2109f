//! AdminService's SMS settings: SetSmsProviders (providers, test numbers, templates, WebOTP
//! domain, checked and stored as one) and the checks and audit around SendTestSms. The
//! provider kinds and their settings are checked by the caller (`check_providers`): only the
//! server knows the adapters' configuration.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, AuditKind};
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::{ClientInfo, Deps, admin, input, login};
use crate::ids::TenantId;
use crate::otp::OtpCode;
use crate::phone::PhoneNumber;
use crate::ports::{ProviderEntry, SmsSettingsError, SmsText, TenantSmsSettings, TestNumber};
use crate::templates::{Encoding, SmsTemplate, TemplateKind, segments};
use crate::tenant::Tenant;

/// A test number as an admin writes it.
#[derive(Debug, Clone)]
pub struct TestNumberInput {
    pub phone: String,
    pub code: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What SetSmsProviders asks for. A provider secret with an empty value keeps the value
/// stored for the same provider id and key.
#[derive(Debug, Clone, Default)]
pub struct SmsSettingsInput {
    pub providers: Vec<ProviderEntry>,
    pub test_numbers: Vec<TestNumberInput>,
    pub templates: Vec<SmsTemplate>,
    pub webotp_domain: Option<String>,
}

/// The stored settings and the texts that need more than one segment.
#[derive(Debug, Clone)]
pub struct SmsSettingsOutcome {
    pub settings: Arc<TenantSmsSettings>,
    pub warnings: Vec<String>,
}

/// Checks and stores a tenant's SMS settings, replacing the old ones; see the module docs.
pub async fn set_sms_settings(
    deps: &Deps,
    tenant: TenantId,
    input: SmsSettingsInput,
    production: bool,
    check_providers: &(dyn Fn(&[ProviderEntry]) -> Result<(), CoreError> + Send + Sync),
    actor: &Actor,
) -> Result<SmsSettingsOutcome, CoreError> {
    let tenant = admin::get_tenant(deps, tenant).await?;
    let now = deps.clock.now();
    let stored = deps.sms_settings.get(tenant.id).await?;
    let providers = merge_providers(input.providers, &stored)?;
    check_providers(&providers)?;
    let test_numbers = test_numbers(&tenant, input.test_numbers, production, now)?;
    let mut kinds = HashSet::new();
    for (i, t) in input.templates.iter().enumerate() {
        if !kinds.insert((t.kind, t.language.clone())) {
            return Err(CoreError::invalid(
                format!("templates[{i}].locale"),
                format!(
                    "another {} template has language {:?}",
                    t.kind.as_str(),
                    t.language
                ),
            ));
        }
    }
    let webotp_domain = match input.webotp_domain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(webotp_domain(d)?),
    };
    let settings = TenantSmsSettings {
        providers,
        test_numbers,
        templates: input.templates,
        webotp_domain,
        updated_at: Some(now),
    };
    let warnings = segment_warnings(&tenant, &settings);
    let saved = deps
        .sms_settings
        .put(tenant.id, settings, now)
        .await
        .map_err(|e| match e {
            SmsSettingsError::NoKey => CoreError::FailedPrecondition(
                "security.outbox_key is not configured: SMS settings hold secrets and cannot \
                 be stored without it",
            ),
            SmsSettingsError::Repo(e) => e.into(),
        })?;
    for w in &warnings {
        tracing::warn!(tenant = %tenant.id, warning = %w, "SMS text needs more than one segment");
    }
    let ids: Vec<&str> = saved.providers.iter().map(|p| p.id.as_str()).collect();
    tracing::info!(tenant = %tenant.id, providers = ?ids, "tenant SMS settings updated");
    let event = Event::new(AuditKind::SmsProvidersUpdated)
        .actor(actor.clone())
        .detail("providers", ids.join(","))
        .detail("test_numbers", saved.test_numbers.len().to_string())
        .detail("templates", saved.templates.len().to_string());
    audit::record(deps, tenant.id, event).await;
    Ok(SmsSettingsOutcome {
        settings: saved,
        warnings,
    })
}

/// The tenant's settings as stored (for answers: the caller shows no secret).
pub async fn get_sms_settings(
    deps: &Deps,
    tenant: TenantId,
) -> Result<Arc<TenantSmsSettings>, CoreError> {
    let tenant = admin::get_tenant(deps, tenant).await?;
    Ok(deps.sms_settings.get(tenant.id).await?)
}

fn merge_providers(
    mut providers: Vec<ProviderEntry>,
    stored: &TenantSmsSettings,
) -> Result<Vec<ProviderEntry>, CoreError> {
    use secrecy::ExposeSecret;
    let mut ids = HashSet::new();
    for (i, p) in providers.iter_mut().enumerate() {
        let id = p.id.trim();
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(CoreError::invalid(
                format!("providers[{i}].provider_id"),
                "must be 1 to 64 letters, digits, - and _",
            ));
        }
        if !ids.insert(id.to_owned()) {
            return Err(CoreError::invalid(
                format!("providers[{i}].provider_id"),
                format!("{id:?} is used by another provider"),
            ));
        }
        p.id = id.to_owned();
        let old = stored.providers.iter().find(|o| o.id == p.id);
        for (key, value) in p.secrets.iter_mut() {
            if !value.expose_secret().is_empty() {
                continue;
            }
            match old.and_then(|o| o.secrets.get(key)) {
                Some(kept) => *value = kept.clone(),
                None => {
                    return Err(CoreError::invalid(
                        format!("providers[{i}].secrets.{key}"),
                        "is empty and no value is stored for this provider to keep",
                    ));
                }
            }
        }
    }
    Ok(providers)
}

fn test_numbers(
    tenant: &Tenant,
    inputs: Vec<TestNumberInput>,
    production: bool,
    now: DateTime<Utc>,
) -> Result<Vec<TestNumber>, CoreError> {
    let length = usize::from(tenant.policy.code_length().get());
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.into_iter().enumerate() {
        let field = |f: &str| format!("test_numbers[{i}].{f}");
        let phone = input::parse_phone(tenant, &field("phone_number"), &t.phone)?;
        if !seen.insert(phone.clone()) {
            return Err(CoreError::invalid(field("phone_number"), "is listed twice"));
        }
        let code = OtpCode::parse(&t.code)
            .map_err(|_| CoreError::invalid(field("code"), "must be digits"))?;
        if code.len() != length {
            return Err(CoreError::invalid(
                field("code"),
                format!("must have {length} digits, the tenant's code length"),
            ));
        }
        match t.expires_at {
            None if production => {
                return Err(CoreError::invalid(
                    field("expires_at"),
                    "is required in production",
                ));
            }
            Some(at) if at <= now => {
                return Err(CoreError::invalid(field("expires_at"), "is in the past"));
            }
            _ => {}
        }
        out.push(TestNumber {
            phone,
            code,
            expires_at: t.expires_at,
        });
    }
    Ok(out)
}

/// A WebOTP domain: a host name, lower-cased, without scheme, port or path.
fn webotp_domain(d: &str) -> Result<String, CoreError> {
    let d = d.to_ascii_lowercase();
    let ok = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(CoreError::invalid(
            "webotp_domain",
            "must be a host name such as login.example.com (no scheme, port or path)",
        ))
    }
}

/// One line per text that needs more than one segment: each of the tenant's templates, and
/// the built-in code text with its app name and WebOTP domain.
pub fn segment_warnings(tenant: &Tenant, settings: &TenantSmsSettings) -> Vec<String> {
    let texts = settings.texts();
    let mut out = Vec::new();
    let mut check = |what: String, text: String| {
        let (encoding, n) = segments(&text);
        if n > 1 {
            let alphabet = match encoding {
                Encoding::Gsm7 => "GSM-7",
                Encoding::Ucs2 => "UCS-2 (a character outside GSM-7)",
            };
            out.push(format!("{what} needs {n} segments in {alphabet}"));
        }
    };
    for (i, t) in settings.templates.iter().enumerate() {
        check(
            format!("templates[{i}] ({} {})", t.kind.as_str(), t.language),
            texts.worst_case(t, &tenant.app_name),
        );
    }
    for language in ["en", "nl", "de", "fr", "es"] {
        if settings
            .templates
            .iter()
            .any(|t| t.kind == TemplateKind::Code && t.language == language)
        {
            continue;
        }
        check(
            format!("the built-in {language} code text"),
            texts.code(language, &tenant.app_name, "0000000000", 100),
        );
    }
    out
}

/// Checks a SendTestSms request: the number (parsed and allowed as for a code) and its send
/// limits, which a test message spends like a code. Answers the number and the text.
pub async fn prepare_test_sms(
    deps: &Deps,
    tenant: TenantId,
    phone_input: &str,
) -> Result<(Tenant, PhoneNumber, SmsText), CoreError> {
    let tenant = admin::get_tenant(deps, tenant).await?;
    let phone = input::parse_phone(&tenant, "phone_number", phone_input)?;
    // An admin call has no end-user client: only the per-number limits apply.
    login::charge_send_limits(deps, &tenant, &phone, &ClientInfo::default()).await?;
    let text = SmsText::new(format!(
        "This is a test message from {}. No action is needed.",
        tenant.app_name
    ));
    Ok((tenant, phone, text))
}

/// Records a sent test SMS (no text, the number masked).
pub async fn record_test_sms(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
    provider: &str,
    message_id: &str,
    actor: &Actor,
) {
    let event = Event::new(AuditKind::TestSmsSent)
        .actor(actor.clone())
        .phone(phone)
        .detail("provider", provider)
        .detail("message_id", message_id);
    audit::record(deps, tenant.id, event).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::BTreeMap;

    use secrecy::{ExposeSecret, SecretString};

    use super::*;
    use crate::ids::TenantId;
    use crate::tenant::Policy;

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::random(),
            slug: "acme".into(),
            name: "Acme".into(),
            app_name: "Acme".into(),
            policy: Policy::default(),
            created_at: Utc::now(),
        }
    }

    fn number(expires_at: Option<DateTime<Utc>>) -> TestNumberInput {
        TestNumberInput {
            phone: "+1 415 555 0199".into(),
            code: "135790".into(),
            expires_at,
        }
    }

    fn field(e: CoreError) -> String {
        match e {
            CoreError::InvalidArgument { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_test_number_needs_an_expiry_in_production_only() {
        let now = Utc::now();
        let t = tenant();
        let e = test_numbers(&t, vec![number(None)], true, now).unwrap_err();
        assert_eq!(field(e), "test_numbers[0].expires_at");
        assert!(test_numbers(&t, vec![number(None)], false, now).is_ok());
        let later = Some(now + chrono::Duration::days(1));
        assert!(test_numbers(&t, vec![number(later)], true, now).is_ok());
        let past = Some(now - chrono::Duration::seconds(1));
        let e = test_numbers(&t, vec![number(past)], false, now).unwrap_err();
        assert_eq!(field(e), "test_numbers[0].expires_at");
        let e = test_numbers(&t, vec![number(later), number(later)], false, now).unwrap_err();
        assert_eq!(field(e), "test_numbers[1].phone_number");
        let mut short = number(later);
        short.code = "1234".into();
        let e = test_numbers(&t, vec![short], false, now).unwrap_err();
        assert_eq!(field(e), "test_numbers[0].code");
    }

    fn entry(id: &str, secret: &str) -> ProviderEntry {
        ProviderEntry {
            id: id.into(),
            kind: "vonage".into(),
            settings: BTreeMap::new(),
            secrets: BTreeMap::from([("api_secret".into(), SecretString::from(secret))]),
            countries: Vec::new(),
            timeout: None,
        }
    }

    #[test]
    fn an_empty_secret_keeps_the_stored_one_of_the_same_provider() {
        let stored = TenantSmsSettings {
            providers: vec![entry("vg", "old-secret")],
            ..TenantSmsSettings::default()
        };
        let merged = merge_providers(vec![entry(" vg ", "")], &stored).unwrap();
        assert_eq!(merged[0].id, "vg");
        assert_eq!(
            merged[0].secrets["api_secret"].expose_secret(),
            "old-secret"
        );
        let merged = merge_providers(vec![entry("vg", "new")], &stored).unwrap();
        assert_eq!(merged[0].secrets["api_secret"].expose_secret(), "new");
        let e = merge_providers(vec![entry("other", "")], &stored).unwrap_err();
        assert_eq!(field(e), "providers[0].secrets.api_secret");
        let e = merge_providers(vec![entry("a", "x"), entry("a", "y")], &stored).unwrap_err();
        assert_eq!(field(e), "providers[1].provider_id");
        let e = merge_providers(vec![entry("no spaces", "x")], &stored).unwrap_err();
        assert_eq!(field(e), "providers[0].provider_id");
    }

    #[test]
    fn webotp_domains_are_host_names() {
        assert_eq!(
            webotp_domain("Login.Example.COM").unwrap(),
            "login.example.com"
        );
        for bad in [
            "https://example.com",
            "example.com/login",
            "localhost",
            "a..b",
            "-a.com",
        ] {
            assert!(webotp_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn warnings_name_templates_and_built_in_texts_past_one_segment() {
        let t = tenant();
        let plain = TenantSmsSettings::default();
        assert!(segment_warnings(&t, &plain).is_empty());
        let long_domain = TenantSmsSettings {
            webotp_domain: Some(format!("{}.example.com", "a".repeat(60))),
            ..TenantSmsSettings::default()
        };
        let w = segment_warnings(&t, &long_domain);
        assert!(
            w.iter().any(|w| w.starts_with("the built-in en code text")),
            "{w:?}"
        );
        let accented = TenantSmsSettings {
            templates: vec![
                SmsTemplate::parse(TemplateKind::Code, "es", "{code} es tu código de {app}")
                    .unwrap(),
            ],
            ..TenantSmsSettings::default()
        };
        // One UCS-2 segment is still one segment: no warning.
        assert!(segment_warnings(&t, &accented).is_empty());
    }
}
