//! The stored form of a tenant's SMS settings: a public JSON document (no secret) and a
//! secret JSON document that is sealed before it is stored.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use twostep_core::otp::OtpCode;
use twostep_core::phone::{PhoneNumber, Region};
use twostep_core::ports::{ProviderEntry, TenantSmsSettings, TestNumber};
use twostep_core::templates::{SmsTemplate, TemplateKind};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Public {
    pub v: u8,
    pub providers: Vec<PublicProvider>,
    pub test_numbers: Vec<PublicTestNumber>,
    pub templates: Vec<PublicTemplate>,
    pub webotp_domain: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PublicProvider {
    pub id: String,
    pub kind: String,
    pub settings: BTreeMap<String, String>,
    pub secret_keys: Vec<String>,
    pub countries: Vec<String>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PublicTestNumber {
    pub phone: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PublicTemplate {
    pub kind: String,
    pub language: String,
    pub text: String,
}

/// Provider secrets by provider id and key, and test codes by E.164 number.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct Secrets {
    pub providers: BTreeMap<String, BTreeMap<String, String>>,
    pub test_codes: BTreeMap<String, String>,
}

/// Splits settings into the public and the secret document.
pub(super) fn split(settings: &TenantSmsSettings) -> (Public, Secrets) {
    let mut secrets = Secrets::default();
    let providers = settings
        .providers
        .iter()
        .map(|p| {
            secrets.providers.insert(
                p.id.clone(),
                p.secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
                    .collect(),
            );
            PublicProvider {
                id: p.id.clone(),
                kind: p.kind.clone(),
                settings: p.settings.clone(),
                secret_keys: p.secrets.keys().cloned().collect(),
                countries: p.countries.iter().map(|r| r.as_str().to_owned()).collect(),
                timeout_ms: p
                    .timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            }
        })
        .collect();
    let test_numbers = settings
        .test_numbers
        .iter()
        .map(|t| {
            secrets.test_codes.insert(
                t.phone.e164().to_owned(),
                t.code.expose_for_sms().to_owned(),
            );
            PublicTestNumber {
                phone: t.phone.e164().to_owned(),
                expires_at: t.expires_at,
            }
        })
        .collect();
    let templates = settings
        .templates
        .iter()
        .map(|t| PublicTemplate {
            kind: t.kind.as_str().to_owned(),
            language: t.language.clone(),
            text: t.text.clone(),
        })
        .collect();
    let public = Public {
        v: 1,
        providers,
        test_numbers,
        templates,
        webotp_domain: settings.webotp_domain.clone(),
    };
    (public, secrets)
}

/// Joins the documents back. Without `secrets` (they did not open) the providers and test
/// numbers are left out: they cannot work without their secrets.
pub(super) fn join(
    public: Public,
    secrets: Option<Secrets>,
    updated_at: DateTime<Utc>,
) -> Result<TenantSmsSettings, String> {
    let mut settings = TenantSmsSettings {
        updated_at: Some(updated_at),
        webotp_domain: public.webotp_domain,
        ..TenantSmsSettings::default()
    };
    for t in public.templates {
        let kind =
            TemplateKind::parse(&t.kind).ok_or_else(|| format!("template kind {}", t.kind))?;
        settings.templates.push(SmsTemplate {
            kind,
            language: t.language,
            text: t.text,
        });
    }
    let Some(mut secrets) = secrets else {
        return Ok(settings);
    };
    for p in public.providers {
        let mut stored = secrets.providers.remove(&p.id).unwrap_or_default();
        let mut open = BTreeMap::new();
        for key in p.secret_keys {
            let value = stored
                .remove(&key)
                .ok_or_else(|| format!("secret {key} missing"))?;
            open.insert(key, SecretString::from(value));
        }
        let countries = p
            .countries
            .iter()
            .map(|c| Region::parse(c).map_err(|_| format!("country {c}")))
            .collect::<Result<_, _>>()?;
        settings.providers.push(ProviderEntry {
            id: p.id,
            kind: p.kind,
            settings: p.settings,
            secrets: open,
            countries,
            timeout: p.timeout_ms.map(Duration::from_millis),
        });
    }
    for t in public.test_numbers {
        let phone = PhoneNumber::from_e164(&t.phone).map_err(|_| "test number".to_owned())?;
        let code = secrets
            .test_codes
            .get(&t.phone)
            .and_then(|c| OtpCode::parse(c).ok())
            .ok_or_else(|| "test code missing".to_owned())?;
        settings.test_numbers.push(TestNumber {
            phone,
            code,
            expires_at: t.expires_at,
        });
    }
    Ok(settings)
}
