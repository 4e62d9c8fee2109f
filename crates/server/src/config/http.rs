//! The `[http]` section: the HTTP listener for providers' delivery receipts, off unless
//! `listen_addr` is set (`TWOSTEP_HTTP__LISTEN_ADDR`).
//!
//! `public_base_url` is the address providers call, as they see it (a load balancer's or
//! proxy's): Twilio and Plivo sign the full URL they called, so the listener checks
//! signatures against this base followed by the path and query it received. With it set,
//! Twilio and Plivo providers without a `status_callback` get
//! `<public_base_url>/v1/receipts/<name>`, so their receipts come without more settings; a
//! tenant's own (SetSmsProviders) get [`tenant_receipt_path`] the same way
//! (`tenant_sms::tenant_specs`).

use std::net::SocketAddr;

use serde::Deserialize;
use twostep_core::ids::TenantId;
use twostep_sms_gateway::factory::{ProviderKind, ProviderSpec};

use super::{ConfigError, SmsSettings, bad, parse_listen_addr};

/// The receipt endpoint's path for the provider called `name`.
pub fn receipt_path(name: &str) -> String {
    format!("/v1/receipts/{name}")
}

/// The receipt endpoint's path for a tenant's own provider `provider_id`. Both parts are
/// safe in a path as they are: a tenant id is a UUID, and a provider id is letters, digits,
/// `-` and `_` (SetSmsProviders checks it), so the URL providers sign is this very text.
pub fn tenant_receipt_path(tenant: TenantId, provider_id: &str) -> String {
    format!("/v1/receipts/tenants/{tenant}/{provider_id}")
}

/// Points a Twilio or Plivo provider without a `status_callback` at `url`; other kinds
/// are told their receipt URL at the provider's console, and keep their settings.
pub fn default_callback(spec: &mut ProviderSpec, url: String) {
    match &mut spec.kind {
        ProviderKind::Twilio(c) if c.status_callback.is_none() => {
            c.status_callback = Some(url);
        }
        ProviderKind::Plivo(c) if c.status_callback.is_none() => {
            c.status_callback = Some(url);
        }
        _ => {}
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHttp {
    /// Unset: no HTTP listener. Port 0 picks a free port.
    pub listen_addr: Option<String>,
    /// `https://auth.example.com` (a path prefix is kept; no query).
    pub public_base_url: Option<String>,
}

/// The validated `[http]` section.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen_addr: SocketAddr,
    /// Without a trailing `/`.
    pub public_base_url: String,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Validates the section: `None` when the listener is off.
pub(super) fn validate(
    raw: &RawHttp,
    production: bool,
) -> Result<Option<HttpSettings>, ConfigError> {
    let base = set(&raw.public_base_url);
    let Some(addr) = set(&raw.listen_addr) else {
        if base.is_some() {
            return Err(bad(
                "http.public_base_url",
                "is set but http.listen_addr is not: receipts would have nowhere to arrive",
            ));
        }
        return Ok(None);
    };
    let listen_addr = parse_listen_addr("http.listen_addr", addr, "0.0.0.0:8080")?;
    let Some(base) = base else {
        return Err(bad(
            "http.public_base_url",
            "must be set with http.listen_addr: the URL providers call (such as \
             https://auth.example.com), which Twilio's and Plivo's signatures cover",
        ));
    };
    let lower = base.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("https://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("http://") {
        if production {
            return Err(bad(
                "http.public_base_url",
                "must be https:// in production (receipts carry message ids and statuses)",
            ));
        }
        rest
    } else {
        return Err(bad(
            "http.public_base_url",
            "must start with https:// (or http:// in development)",
        ));
    };
    if rest.is_empty() || rest.starts_with('/') || base.contains(['?', '#']) {
        return Err(bad(
            "http.public_base_url",
            "must be a scheme and host, optionally a path prefix, without query or fragment",
        ));
    }
    Ok(Some(HttpSettings {
        listen_addr,
        public_base_url: base.trim_end_matches('/').to_owned(),
    }))
}

/// Points Twilio and Plivo providers without a `status_callback` at their receipt endpoint.
pub(super) fn default_callbacks(http: &HttpSettings, sms: &mut SmsSettings) {
    for spec in &mut sms.providers {
        let url = format!("{}{}", http.public_base_url, receipt_path(&spec.name));
        default_callback(spec, url);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{Settings, load_from};

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load_from(None, &env).map_err(|e| e.to_string())
    }

    /// Loads a config file written to a fresh temporary path.
    fn load_file(toml: &str) -> Result<Settings, String> {
        let path = std::env::temp_dir().join(format!("twostepd-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, toml).unwrap();
        let loaded = load_from(Some(&path), &HashMap::new()).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        loaded
    }

    #[test]
    fn vonage_receipt_settings_are_checked() {
        let vonage = |extra: &str| {
            format!(
                "[[sms.providers]]\nname = \"vg\"\nkind = \"vonage\"\napi_key = \"k\"\n\
                 api_secret = \"s\"\nfrom = \"Acme\"\n{extra}"
            )
        };
        let e = load_file(&vonage("signature_method = \"sha256\"\n")).unwrap_err();
        assert!(e.contains("sms.providers[0].signature_secret"), "{e}");
        let e = load_file(&vonage(
            "signature_secret = \"x\"\nsignature_method = \"crc32\"\n",
        ))
        .unwrap_err();
        assert!(e.contains("sms.providers[0].signature_method"), "{e}");
        assert!(
            load_file(&vonage(
                "signature_secret = \"x\"\nsignature_method = \"SHA512\"\n"
            ))
            .is_ok()
        );
        // Keys of other kinds are refused as before.
        let e = load_file(
            "[[sms.providers]]\nname = \"p\"\nkind = \"plivo\"\nauth_id = \"a\"\n\
             auth_token = \"t\"\nsrc = \"1\"\nreceipt_token = \"x\"\n",
        )
        .unwrap_err();
        assert!(e.contains("receipt_token"), "{e}");
    }

    #[test]
    fn the_listener_is_off_by_default() {
        assert!(load(&[]).unwrap().http.is_none());
    }

    #[test]
    fn the_listener_needs_a_public_url() {
        let s = load(&[
            ("TWOSTEP_HTTP__LISTEN_ADDR", "127.0.0.1:0"),
            (
                "TWOSTEP_HTTP__PUBLIC_BASE_URL",
                "https://auth.example.com/sms/",
            ),
        ])
        .unwrap();
        let http = s.http.unwrap();
        assert_eq!(http.listen_addr.to_string(), "127.0.0.1:0");
        assert_eq!(http.public_base_url, "https://auth.example.com/sms");

        let e = load(&[("TWOSTEP_HTTP__LISTEN_ADDR", "127.0.0.1:0")]).unwrap_err();
        assert!(
            e.contains("http.public_base_url") && e.contains("TWOSTEP_HTTP__PUBLIC_BASE_URL"),
            "{e}"
        );
        let e = load(&[("TWOSTEP_HTTP__PUBLIC_BASE_URL", "https://a.example")]).unwrap_err();
        assert!(e.contains("http.listen_addr is not"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load(&[
            ("TWOSTEP_HTTP__LISTEN_ADDR", "everywhere"),
            ("TWOSTEP_HTTP__PUBLIC_BASE_URL", "https://a.example"),
        ])
        .unwrap_err();
        assert!(e.contains("http.listen_addr"), "{e}");
        for url in ["ftp://a.example", "https://", "https://a.example/?x=1"] {
            let e = load(&[
                ("TWOSTEP_HTTP__LISTEN_ADDR", "127.0.0.1:0"),
                ("TWOSTEP_HTTP__PUBLIC_BASE_URL", url),
            ])
            .unwrap_err();
            assert!(e.contains("http.public_base_url"), "{url}: {e}");
        }
    }

    #[test]
    fn twilio_and_plivo_get_their_receipt_url_as_status_callback() {
        let s = load_file(
            r#"
[http]
listen_addr = "127.0.0.1:0"
public_base_url = "https://auth.example.com"

[[sms.providers]]
name = "tw"
kind = "twilio"
account_sid = "AC1"
auth_token = "t"
from = "+15005550006"

[[sms.providers]]
name = "pl"
kind = "plivo"
auth_id = "MA1"
auth_token = "t"
src = "+15005550006"
status_callback = "https://elsewhere.example/cb"
"#,
        )
        .unwrap();
        let callbacks: Vec<Option<String>> = s
            .sms
            .providers
            .iter()
            .map(|p| match &p.kind {
                twostep_sms_gateway::factory::ProviderKind::Twilio(c) => c.status_callback.clone(),
                twostep_sms_gateway::factory::ProviderKind::Plivo(c) => c.status_callback.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(
            callbacks,
            [
                Some("https://auth.example.com/v1/receipts/tw".to_owned()),
                Some("https://elsewhere.example/cb".to_owned()),
            ]
        );
    }
}
