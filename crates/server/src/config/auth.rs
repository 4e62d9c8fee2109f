//! Caller authentication (`[auth]`) and transport security (`[server.tls]`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, bad};

/// `[auth]`: how callers prove who they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// Calls without an API key, from loopback peers only. Unset: allowed in development,
    /// refused in production; `true` in production stops start-up.
    pub allow_unauthenticated: Option<bool>,
    /// How long a verified API key is trusted without reading the database again; a
    /// revocation through another instance takes up to this long here. 0: no cache.
    pub key_cache_ttl_ms: u64,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            allow_unauthenticated: None,
            key_cache_ttl_ms: 5_000,
        }
    }
}

/// `[server.tls]`: serve gRPC over TLS; with `client_ca_path`, require client certificates
/// signed by that CA (mutual TLS).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    pub cert_path: String,
    pub key_path: String,
    pub client_ca_path: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Calls without a key are allowed from loopback peers (development only).
    pub allow_unauthenticated: bool,
    pub key_cache_ttl: Duration,
}

/// PEM files, read at start-up.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// Set: mutual TLS, clients must present a certificate signed by this CA.
    pub client_ca_path: Option<PathBuf>,
}

pub(super) fn validate_auth(raw: &RawAuth, production: bool) -> Result<AuthSettings, ConfigError> {
    let allow_unauthenticated = match raw.allow_unauthenticated {
        Some(true) if production => {
            return Err(bad(
                "auth.allow_unauthenticated",
                "must not be true in production: every call needs an API key \
                 (twostepd create-api-client makes the first one)",
            ));
        }
        Some(allowed) => allowed,
        None => !production,
    };
    Ok(AuthSettings {
        allow_unauthenticated,
        key_cache_ttl: Duration::from_millis(raw.key_cache_ttl_ms),
    })
}

pub(super) fn validate_tls(raw: Option<&RawTls>) -> Result<Option<TlsSettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let file = |key: &str, value: &str| -> Result<PathBuf, ConfigError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(bad(key, "is required when [server.tls] is present"));
        }
        let path = PathBuf::from(value);
        std::fs::metadata(&path)
            .map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))?;
        Ok(path)
    };
    let client_ca_path = match raw.client_ca_path.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(file("server.tls.client_ca_path", p)?),
    };
    Ok(Some(TlsSettings {
        cert_path: file("server.tls.cert_path", &raw.cert_path)?,
        key_path: file("server.tls.key_path", &raw.key_path)?,
        client_ca_path,
    }))
}
