//! A tenant's `twilio_verify` entry (SetSmsProviders): Twilio Verify as the tenant's
//! provider-managed code backend. The same function checks the entry when it is set and turns
//! it into the adapter's config whenever `VerifyServices` builds the tenant's client, so a
//! stored entry always builds.
//!
//! Settings: `service_sid` (`VA` and 32 hex digits) and `account_sid` (`AC…`) required,
//! `api_key_sid` (`SK…`, the Basic-auth user instead of the account), `base_url`, `locale`
//! (Twilio words the SMS in it); secrets: `auth_token`. It serves every country of the
//! tenant, so it takes no countries.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use twostep_core::error::CoreError;
use twostep_core::ports::ProviderEntry;
use twostep_sms_gateway::providers::{TwilioVerify, TwilioVerifyConfig};
use twostep_sms_gateway::transport;
use twostep_sms_gateway::verify_services::BuildVerify;

const SETTINGS: &[&str] = &[
    "service_sid",
    "account_sid",
    "api_key_sid",
    "base_url",
    "locale",
];
const SECRETS: &[&str] = &["auth_token"];

fn invalid(i: usize, field: &str, reason: impl ToString) -> CoreError {
    CoreError::invalid(format!("providers[{i}].{field}"), reason)
}

/// `prefix` and 32 hex digits: the shape of every Twilio SID.
fn is_sid(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn sid(i: usize, entry: &ProviderEntry, key: &str, prefix: &str) -> Result<String, CoreError> {
    let field = format!("settings.{key}");
    let value = entry
        .settings
        .get(key)
        .map(|v| v.trim())
        .ok_or_else(|| invalid(i, &field, "must be set"))?;
    if !is_sid(value, prefix) {
        return Err(invalid(
            i,
            &field,
            format!("must be {prefix} followed by 32 hexadecimal digits"),
        ));
    }
    Ok(value.to_owned())
}

/// The adapter's config of entry `i`, or why the entry is refused (naming the field).
pub fn config(i: usize, entry: &ProviderEntry) -> Result<TwilioVerifyConfig, CoreError> {
    for key in entry.settings.keys() {
        if SECRETS.contains(&key.as_str()) {
            return Err(invalid(
                i,
                &format!("settings.{key}"),
                "is a secret: send it in secrets, which are never returned",
            ));
        }
        if !SETTINGS.contains(&key.as_str()) {
            return Err(invalid(
                i,
                &format!("settings.{key}"),
                "is not a setting of kind twilio_verify",
            ));
        }
    }
    if let Some(key) = entry
        .secrets
        .keys()
        .find(|k| !SECRETS.contains(&k.as_str()))
    {
        return Err(invalid(
            i,
            &format!("secrets.{key}"),
            "is not a secret of kind twilio_verify",
        ));
    }
    if !entry.countries.is_empty() {
        return Err(invalid(
            i,
            "countries",
            "a code provider serves every country of the tenant: leave countries empty",
        ));
    }
    let service_sid = sid(i, entry, "service_sid", "VA")?;
    let account_sid = sid(i, entry, "account_sid", "AC")?;
    let api_key_sid = match entry.settings.get("api_key_sid") {
        Some(_) => Some(sid(i, entry, "api_key_sid", "SK")?),
        None => None,
    };
    let auth_token = match entry.secrets.get("auth_token") {
        Some(token) if !token.expose_secret().trim().is_empty() => {
            SecretString::from(token.expose_secret().trim().to_owned())
        }
        _ => return Err(invalid(i, "secrets.auth_token", "must be set")),
    };
    let mut config = TwilioVerifyConfig::new(service_sid, account_sid, auth_token);
    config.api_key_sid = api_key_sid;
    if let Some(base) = entry.settings.get("base_url") {
        let lower = base.trim().to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(invalid(
                i,
                "settings.base_url",
                "must start with http:// or https://",
            ));
        }
        config.base_url = base.trim().to_owned();
    }
    if let Some(locale) = entry.settings.get("locale") {
        let locale = locale.trim();
        let shaped = !locale.is_empty()
            && locale.len() <= 16
            && locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !shaped {
            return Err(invalid(
                i,
                "settings.locale",
                "must be a language tag such as en or pt-BR",
            ));
        }
        config.locale = Some(locale.to_owned());
    }
    if let Some(timeout) = entry.timeout {
        if timeout.is_zero() {
            return Err(invalid(i, "timeout", "must be positive"));
        }
        config.timeout = timeout;
    }
    Ok(config)
}

/// What `VerifyServices` calls to build a tenant's client; all share one HTTP client.
pub fn builder() -> anyhow::Result<Arc<BuildVerify>> {
    let http = transport::shared_client()?;
    Ok(Arc::new(
        move |entry: &ProviderEntry| -> Result<TwilioVerify, String> {
            let config = config(0, entry).map_err(|e| e.to_string())?;
            Ok(TwilioVerify::new(http.clone(), config))
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn entry(settings: &[(&str, &str)], secrets: &[(&str, &str)]) -> ProviderEntry {
        crate::tenant_sms::test_entry("verify", "twilio_verify", settings, secrets)
    }

    const VA: &str = "VA0123456789abcdef0123456789abcdef";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";

    fn field(e: CoreError) -> String {
        match e {
            CoreError::InvalidArgument { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_complete_entry_builds() {
        let c = config(
            0,
            &entry(
                &[
                    ("service_sid", VA),
                    ("account_sid", AC),
                    ("locale", "pt-BR"),
                ],
                &[("auth_token", "t")],
            ),
        )
        .unwrap();
        assert_eq!(c.service_sid, VA);
        assert_eq!(c.base_url, TwilioVerifyConfig::DEFAULT_BASE_URL);
        assert_eq!(c.locale.as_deref(), Some("pt-BR"));
    }

    #[test]
    fn each_refusal_names_its_field() {
        let ok_settings = [("service_sid", VA), ("account_sid", AC)];
        let token = [("auth_token", "t")];
        let cases: Vec<(ProviderEntry, &str)> = vec![
            (
                entry(&[("service_sid", "VA12"), ("account_sid", AC)], &token),
                "providers[0].settings.service_sid",
            ),
            (
                entry(&[("account_sid", AC)], &token),
                "providers[0].settings.service_sid",
            ),
            (
                entry(&[("service_sid", VA)], &token),
                "providers[0].settings.account_sid",
            ),
            (entry(&ok_settings, &[]), "providers[0].secrets.auth_token"),
            (
                entry(
                    &[
                        ("service_sid", VA),
                        ("account_sid", AC),
                        ("auth_token", "t"),
                    ],
                    &[],
                ),
                "providers[0].settings.auth_token",
            ),
            (
                entry(
                    &[("service_sid", VA), ("account_sid", AC), ("from", "x")],
                    &token,
                ),
                "providers[0].settings.from",
            ),
            (
                entry(
                    &[
                        ("service_sid", VA),
                        ("account_sid", AC),
                        ("base_url", "ftp://x"),
                    ],
                    &token,
                ),
                "providers[0].settings.base_url",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(field(config(0, &e).unwrap_err()), want);
        }
        let mut with_countries = entry(&ok_settings, &token);
        with_countries.countries = vec![twostep_core::phone::Region::parse("US").unwrap()];
        assert_eq!(
            field(config(0, &with_countries).unwrap_err()),
            "providers[0].countries"
        );
    }
}
