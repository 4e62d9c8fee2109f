//! The `[sms]` section: providers (`[[sms.providers]]`), routes by country (`[[sms.routes]]`),
//! the routing policy (`[sms.routing]`) and the outbox worker (`[sms.outbox]`), validated into
//! the sms-gateway factory's specs with one-line errors naming the key
//! (`sms.providers[1].url`).
//!
//! A provider's settings are flat keys of its table; which keys a kind takes is listed in
//! [`KINDS`], and a key another kind takes is refused. Any string setting of a provider can
//! come from the environment instead of the file, as
//! `TWOSTEP_SMS__PROVIDERS__<NAME>__<KEY>` (name upper-cased, `-` as `_`), which is how
//! secrets are meant to arrive: `TWOSTEP_SMS__PROVIDERS__TWILIO__AUTH_TOKEN=…`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use twostep_core::phone::Region;
use twostep_sms_gateway::factory::{ProviderKind, ProviderSpec, RouteSpec};
use twostep_sms_gateway::providers::generic_http::{
    GenericHttpConfig, HttpMethod, JsonMatch, NumberFormat,
};
use twostep_sms_gateway::providers::{
    BulkSmsConfig, BulkSmsEapiConfig, ClickatellConfig, ClickatellLegacyConfig, MessageBirdConfig,
    PlivoConfig, TwilioConfig, TwilioSender, VonageConfig,
};
use twostep_sms_gateway::receipts::{VonageSignature, VonageSignatureMethod};
use twostep_sms_gateway::routing::BreakerPolicy;
use twostep_sms_gateway::{OutboxSettings, RouterPolicy};

use super::ConfigError;

/// The environment prefix of provider settings; kept out of the `config` crate's source.
pub(super) const PROVIDER_ENV_PREFIX: &str = "TWOSTEP_SMS__PROVIDERS__";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSms {
    /// Print messages to standard error when no provider is configured. Development only.
    pub console: bool,
    pub providers: Vec<RawProvider>,
    pub routes: Vec<RawRoute>,
    pub routing: RawRouting,
    pub outbox: RawOutbox,
}

/// One `[[sms.providers]]` table: every kind's keys, flat; see [`KINDS`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProvider {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub timeout_ms: Option<u64>,
    pub account_sid: Option<String>,
    pub api_key_sid: Option<String>,
    pub auth_token: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub status_callback: Option<String>,
    pub from: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub token: Option<String>,
    pub auth_id: Option<String>,
    pub src: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub sender: Option<String>,
    pub access_key: Option<String>,
    pub originator: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub payload: Option<String>,
    pub number_format: Option<String>,
    pub expected_status: Option<u16>,
    pub success_pointer: Option<String>,
    pub success_equals: Option<String>,
    pub message_id_pointer: Option<String>,
    /// Delivery receipts: the secret a provider signs callbacks with (Twilio with an API
    /// key; Vonage signed webhooks), Vonage's method, and the shared `token` of providers
    /// that do not sign (Vonage otherwise, Clickatell, BulkSMS).
    pub signature_secret: Option<String>,
    pub signature_method: Option<String>,
    pub receipt_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRoute {
    /// ISO 3166-1 alpha-2, such as `NL`.
    pub country: String,
    pub providers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRouting {
    pub max_retries: u32,
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub breaker_failure_threshold: u32,
    pub breaker_cool_down_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutbox {
    pub lease_ms: u64,
    pub poll_interval_ms: u64,
    pub concurrency: usize,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub retention_hours: u64,
}

impl Default for RawSms {
    fn default() -> Self {
        Self {
            console: true,
            providers: Vec::new(),
            routes: Vec::new(),
            routing: RawRouting::default(),
            outbox: RawOutbox::default(),
        }
    }
}

impl Default for RawRouting {
    fn default() -> Self {
        let p = RouterPolicy::default();
        Self {
            max_retries: p.max_retries,
            base_backoff_ms: millis(p.base_backoff),
            max_backoff_ms: millis(p.max_backoff),
            breaker_failure_threshold: p.breaker.failure_threshold,
            breaker_cool_down_ms: millis(p.breaker.cool_down),
        }
    }
}

impl Default for RawOutbox {
    fn default() -> Self {
        let o = OutboxSettings::default();
        Self {
            lease_ms: millis(o.lease),
            poll_interval_ms: millis(o.poll_interval),
            concurrency: o.concurrency,
            retry_base_ms: millis(o.retry_base),
            retry_max_ms: millis(o.retry_max),
            retention_hours: o.retention.as_secs() / 3600,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The validated `[sms]` section.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub console: bool,
    pub providers: Vec<ProviderSpec>,
    pub routes: Vec<RouteSpec>,
    pub routing: RouterPolicy,
    pub outbox: OutboxSettings,
}

/// Which keys each kind takes (beyond `name`, `kind` and `timeout_ms`), and which of them are
/// required. `base_url` is every HTTP kind's; the generic provider has `url` instead.
pub const KINDS: &[(&str, &[&str], &[&str])] = &[
    ("console", &[], &[]),
    (
        "twilio",
        &[
            "base_url",
            "account_sid",
            "api_key_sid",
            "auth_token",
            "from",
            "messaging_service_sid",
            "status_callback",
            "signature_secret",
        ],
        &["account_sid", "auth_token"],
    ),
    (
        "clickatell",
        &["base_url", "api_key", "from", "receipt_token"],
        &["api_key"],
    ),
    (
        "clickatell_legacy",
        &["base_url", "token", "from"],
        &["token"],
    ),
    (
        "vonage",
        &[
            "base_url",
            "api_key",
            "api_secret",
            "from",
            "signature_secret",
            "signature_method",
            "receipt_token",
        ],
        &["api_key", "api_secret", "from"],
    ),
    (
        "plivo",
        &[
            "base_url",
            "auth_id",
            "auth_token",
            "src",
            "status_callback",
        ],
        &["auth_id", "auth_token", "src"],
    ),
    (
        "bulksms",
        &["base_url", "username", "password", "from", "receipt_token"],
        &["username", "password"],
    ),
    (
        "bulksms_eapi",
        &["base_url", "username", "password", "sender"],
        &["username", "password"],
    ),
    (
        "messagebird",
        &["base_url", "access_key", "originator"],
        &["access_key", "originator"],
    ),
    (
        "generic_http",
        &[
            "url",
            "method",
            "headers",
            "payload",
            "number_format",
            "expected_status",
            "success_pointer",
            "success_equals",
            "message_id_pointer",
        ],
        &["url"],
    ),
];

impl RawProvider {
    /// The string settings, by key, for reading, for the environment to override, and for
    /// refusing keys of other kinds.
    fn strings(&mut self) -> [(&'static str, &mut Option<String>); 25] {
        [
            ("base_url", &mut self.base_url),
            ("account_sid", &mut self.account_sid),
            ("api_key_sid", &mut self.api_key_sid),
            ("auth_token", &mut self.auth_token),
            ("messaging_service_sid", &mut self.messaging_service_sid),
            ("status_callback", &mut self.status_callback),
            ("from", &mut self.from),
            ("api_key", &mut self.api_key),
            ("api_secret", &mut self.api_secret),
            ("token", &mut self.token),
            ("auth_id", &mut self.auth_id),
            ("src", &mut self.src),
            ("username", &mut self.username),
            ("password", &mut self.password),
            ("sender", &mut self.sender),
            ("access_key", &mut self.access_key),
            ("originator", &mut self.originator),
            ("url", &mut self.url),
            ("method", &mut self.method),
            ("payload", &mut self.payload),
            ("number_format", &mut self.number_format),
            ("message_id_pointer", &mut self.message_id_pointer),
            ("signature_secret", &mut self.signature_secret),
            ("signature_method", &mut self.signature_method),
            ("receipt_token", &mut self.receipt_token),
        ]
    }

    /// The string setting called `key`, to set it (SetSmsProviders); `None` for a key that
    /// is no string setting.
    pub fn string_mut(&mut self, key: &str) -> Option<&mut Option<String>> {
        self.strings()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, slot)| slot)
    }

    /// Every key set, other than `name`, `kind` and `timeout_ms`.
    fn set_keys(&mut self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = self
            .strings()
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k)
            .collect();
        if self.headers.is_some() {
            keys.push("headers");
        }
        if self.expected_status.is_some() {
            keys.push("expected_status");
        }
        if self.success_pointer.is_some() {
            keys.push("success_pointer");
        }
        if self.success_equals.is_some() {
            keys.push("success_equals");
        }
        keys
    }
}

/// The environment variable segment of a provider name: `sms-backup` → `SMS_BACKUP`.
pub fn env_name(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// Validates the section. `provider_env` holds the `TWOSTEP_SMS__PROVIDERS__*` variables.
pub(super) fn validate(
    mut raw: RawSms,
    provider_env: &HashMap<String, String>,
    production: bool,
) -> Result<SmsSettings, ConfigError> {
    let mut names = HashSet::new();
    for (i, p) in raw.providers.iter().enumerate() {
        let name = p.name.trim();
        if name.is_empty() {
            return Err(key_err(i, "", "name", "must be set (letters, digits, - and _)").into());
        }
        if name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(key_err(
                i,
                name,
                "name",
                "may hold only letters, digits, - and _ (at most 64)",
            )
            .into());
        }
        if !names.insert(env_name(name)) {
            return Err(key_err(i, name, "name", "is used by another provider").into());
        }
    }
    apply_env(&mut raw.providers, provider_env)?;
    let mut providers = Vec::with_capacity(raw.providers.len());
    for (i, p) in raw.providers.iter_mut().enumerate() {
        providers.push(provider(i, p, production)?);
    }
    let routes = routes(&raw.routes, &providers)?;
    if production && raw.console {
        return Err(super::bad(
            "sms.console",
            "the console sink is for development only; set it to false in production",
        ));
    }
    if production && providers.is_empty() {
        return Err(super::bad(
            "sms.providers",
            "production needs at least one [[sms.providers]] entry to deliver codes",
        ));
    }
    Ok(SmsSettings {
        console: raw.console,
        providers,
        routes,
        routing: routing(&raw.routing)?,
        outbox: outbox(&raw.outbox)?,
    })
}

/// Applies `TWOSTEP_SMS__PROVIDERS__<NAME>__<KEY>`; a variable naming no configured provider
/// or no string setting is refused, so a typo does not silently leave a secret unset.
fn apply_env(
    providers: &mut [RawProvider],
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<_> = env.iter().collect();
    vars.sort();
    for (var, value) in vars {
        let Some(rest) = var.strip_prefix(PROVIDER_ENV_PREFIX) else {
            continue;
        };
        let Some((name, key)) = rest.split_once("__") else {
            return Err(ConfigError(format!(
                "environment variable {var}: expected {PROVIDER_ENV_PREFIX}<NAME>__<KEY>"
            )));
        };
        let Some(p) = providers
            .iter_mut()
            .find(|p| env_name(p.name.trim()) == name)
        else {
            return Err(ConfigError(format!(
                "environment variable {var}: no [[sms.providers]] entry is named {name:?} \
                 (declare the provider, with its name and kind, in the config file)"
            )));
        };
        let key = key.to_ascii_lowercase();
        match p.strings().into_iter().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = Some(value.clone()),
            None => {
                return Err(ConfigError(format!(
                    "environment variable {var}: {key} is not a string setting of a provider"
                )));
            }
        }
    }
    Ok(())
}

/// A refused provider setting: which entry, which key, why. The config file shows it as
/// `sms.providers[i].key`; SetSmsProviders names the request field instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub index: usize,
    pub name: String,
    pub key: String,
    pub why: String,
}

impl From<KeyError> for ConfigError {
    fn from(e: KeyError) -> Self {
        let KeyError {
            index: i,
            name,
            key,
            why,
        } = e;
        if name.is_empty() {
            return ConfigError(format!(
                "invalid configuration key sms.providers[{i}].{key}: {why}"
            ));
        }
        ConfigError(format!(
            "invalid configuration key sms.providers[{i}].{key} (provider {name:?}; environment \
             variable {PROVIDER_ENV_PREFIX}{}__{}): {why}",
            env_name(&name),
            key.to_ascii_uppercase()
        ))
    }
}

fn key_err(i: usize, name: &str, key: &str, why: impl std::fmt::Display) -> KeyError {
    KeyError {
        index: i,
        name: name.to_owned(),
        key: key.to_owned(),
        why: why.to_string(),
    }
}

/// A non-empty string setting.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn http_url(i: usize, name: &str, key: &str, url: &str) -> Result<(), KeyError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(())
    } else {
        Err(key_err(i, name, key, "must start with http:// or https://"))
    }
}

/// One provider's settings into its spec. Also used for a tenant's providers
/// (SetSmsProviders), converted into a [`RawProvider`] first.
pub fn provider(i: usize, p: &mut RawProvider, production: bool) -> Result<ProviderSpec, KeyError> {
    let name = p.name.trim().to_owned();
    let kind_name = p.kind.trim().to_ascii_lowercase();
    let Some((_, allowed, required)) = KINDS.iter().find(|(k, _, _)| *k == kind_name) else {
        let known: Vec<&str> = KINDS.iter().map(|(k, _, _)| *k).collect();
        return Err(key_err(
            i,
            &name,
            "kind",
            format!("{:?} is not one of {}", p.kind, known.join(", ")),
        ));
    };
    if production && kind_name == "console" {
        return Err(key_err(
            i,
            &name,
            "kind",
            "the console sink is for development only",
        ));
    }
    for key in p.set_keys() {
        if !allowed.contains(&key) {
            return Err(key_err(
                i,
                &name,
                key,
                format!("is not a setting of kind {kind_name}"),
            ));
        }
    }
    let get = |key: &str, p: &mut RawProvider| -> Option<String> {
        p.strings()
            .into_iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| text(v))
    };
    let mut values = HashMap::new();
    for key in *allowed {
        if let Some(v) = get(key, p) {
            values.insert(*key, v);
        }
    }
    for key in *required {
        if !values.contains_key(key) {
            return Err(key_err(i, &name, key, "must be set"));
        }
    }
    let take = |key: &str| values.get(key).cloned().unwrap_or_default();
    let opt = |key: &str| values.get(key).cloned();
    let secret = |key: &str| SecretString::from(take(key));
    let timeout = match p.timeout_ms {
        Some(0) => return Err(key_err(i, &name, "timeout_ms", "must be positive")),
        Some(ms) => Duration::from_millis(ms),
        None => twostep_sms_gateway::transport::DEFAULT_TIMEOUT,
    };
    if let Some(base) = opt("base_url") {
        http_url(i, &name, "base_url", &base)?;
    }
    let base = |default: &str| opt("base_url").unwrap_or_else(|| default.to_owned());
    let kind = match kind_name.as_str() {
        "console" => ProviderKind::Console,
        "twilio" => {
            let sender = match (opt("from"), opt("messaging_service_sid")) {
                (Some(from), None) => TwilioSender::From(from),
                (None, Some(sid)) => TwilioSender::MessagingService(sid),
                _ => {
                    return Err(key_err(
                        i,
                        &name,
                        "from",
                        "set exactly one of from and messaging_service_sid",
                    ));
                }
            };
            let mut c = TwilioConfig::new(take("account_sid"), secret("auth_token"), sender);
            c.base_url = base(TwilioConfig::DEFAULT_BASE_URL);
            c.api_key_sid = opt("api_key_sid");
            c.status_callback = opt("status_callback");
            c.signature_secret = opt("signature_secret").map(SecretString::from);
            c.timeout = timeout;
            ProviderKind::Twilio(c)
        }
        "clickatell" => {
            let mut c = ClickatellConfig::new(secret("api_key"));
            c.base_url = base(ClickatellConfig::DEFAULT_BASE_URL);
            c.from = opt("from");
            c.receipt_token = opt("receipt_token").map(SecretString::from);
            c.timeout = timeout;
            ProviderKind::Clickatell(c)
        }
        "clickatell_legacy" => {
            let mut c = ClickatellLegacyConfig::new(secret("token"));
            c.base_url = base(ClickatellLegacyConfig::DEFAULT_BASE_URL);
            c.from = opt("from");
            c.timeout = timeout;
            ProviderKind::ClickatellLegacy(c)
        }
        "vonage" => {
            let mut c = VonageConfig::new(take("api_key"), secret("api_secret"), take("from"));
            c.base_url = base(VonageConfig::DEFAULT_BASE_URL);
            c.signature =
                vonage_signature(i, &name, opt("signature_secret"), opt("signature_method"))?;
            c.receipt_token = opt("receipt_token").map(SecretString::from);
            c.timeout = timeout;
            ProviderKind::Vonage(c)
        }
        "plivo" => {
            let mut c = PlivoConfig::new(take("auth_id"), secret("auth_token"), take("src"));
            c.base_url = base(PlivoConfig::DEFAULT_BASE_URL);
            c.status_callback = opt("status_callback");
            c.timeout = timeout;
            ProviderKind::Plivo(c)
        }
        "bulksms" => {
            let mut c = BulkSmsConfig::new(take("username"), secret("password"));
            c.base_url = base(BulkSmsConfig::DEFAULT_BASE_URL);
            c.from = opt("from");
            c.receipt_token = opt("receipt_token").map(SecretString::from);
            c.timeout = timeout;
            ProviderKind::BulkSms(c)
        }
        "bulksms_eapi" => {
            let mut c = BulkSmsEapiConfig::new(take("username"), secret("password"));
            c.base_url = base(BulkSmsEapiConfig::DEFAULT_BASE_URL);
            c.sender = opt("sender");
            c.timeout = timeout;
            ProviderKind::BulkSmsEapi(c)
        }
        "messagebird" => {
            let mut c = MessageBirdConfig::new(secret("access_key"), take("originator"));
            c.base_url = base(MessageBirdConfig::DEFAULT_BASE_URL);
            c.timeout = timeout;
            ProviderKind::MessageBird(c)
        }
        _ => ProviderKind::GenericHttp(generic(i, &name, p, &values, timeout)?),
    };
    Ok(ProviderSpec { name, kind })
}

/// Vonage's signed-webhook settings for delivery receipts: a method needs a secret.
fn vonage_signature(
    i: usize,
    name: &str,
    secret: Option<String>,
    method: Option<String>,
) -> Result<Option<VonageSignature>, KeyError> {
    let method = match method {
        None => VonageSignatureMethod::default(),
        Some(m) => VonageSignatureMethod::parse(&m).ok_or_else(|| {
            let known: Vec<&str> = VonageSignatureMethod::ALL
                .iter()
                .map(|m| m.as_str())
                .collect();
            key_err(
                i,
                name,
                "signature_method",
                format!("{m:?} is not one of {}", known.join(", ")),
            )
        })?,
    };
    match secret {
        Some(secret) => Ok(Some(VonageSignature {
            secret: SecretString::from(secret),
            method,
        })),
        None if method != VonageSignatureMethod::default() => Err(key_err(
            i,
            name,
            "signature_secret",
            "must be set with signature_method",
        )),
        None => Ok(None),
    }
}

fn generic(
    i: usize,
    name: &str,
    p: &RawProvider,
    values: &HashMap<&str, String>,
    timeout: Duration,
) -> Result<GenericHttpConfig, KeyError> {
    let url = values.get("url").cloned().unwrap_or_default();
    http_url(i, name, "url", &url)?;
    let method = match values
        .get("method")
        .map(|m| m.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("POST") => HttpMethod::Post,
        Some("GET") => HttpMethod::Get,
        Some(other) => {
            return Err(key_err(
                i,
                name,
                "method",
                format!("{other:?} is not GET or POST"),
            ));
        }
    };
    let mut c = GenericHttpConfig::new(name, SecretString::from(url), method);
    c.timeout = timeout;
    // The payload is used as written (spaces included): it is a template, not a value.
    c.payload = p.payload.clone().filter(|s| !s.trim().is_empty());
    if method == HttpMethod::Get && c.payload.is_some() {
        return Err(key_err(
            i,
            name,
            "payload",
            "is only sent with method = \"POST\"",
        ));
    }
    for (header, value) in p.headers.iter().flatten() {
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(key_err(
                i,
                name,
                "headers",
                format!("{header:?} is not a valid header name"),
            ));
        }
        c.headers
            .push((header.clone(), SecretString::from(value.clone())));
    }
    c.number_format = match values
        .get("number_format")
        .map(|f| f.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("e164") => NumberFormat::E164,
        Some("digits") => NumberFormat::Digits,
        Some(other) => {
            return Err(key_err(
                i,
                name,
                "number_format",
                format!("{other:?} is not e164 or digits"),
            ));
        }
    };
    if let Some(status) = p.expected_status {
        if !(100..=599).contains(&status) {
            return Err(key_err(
                i,
                name,
                "expected_status",
                "must be an HTTP status (100-599)",
            ));
        }
        c.expected_status = Some(status);
    }
    let pointer = |key: &str, v: Option<String>| -> Result<Option<String>, KeyError> {
        match v {
            Some(ptr) if !ptr.starts_with('/') => Err(key_err(
                i,
                name,
                key,
                "must be a JSON pointer starting with / (such as /messages/0/id)",
            )),
            other => Ok(other),
        }
    };
    c.message_id_pointer = pointer(
        "message_id_pointer",
        values.get("message_id_pointer").cloned(),
    )?;
    c.success_when = match (
        pointer("success_pointer", text(&p.success_pointer))?,
        &p.success_equals,
    ) {
        (Some(pointer), Some(equals)) => Some(JsonMatch {
            pointer,
            equals: equals.clone(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(key_err(
                i,
                name,
                "success_equals",
                "must be set with success_pointer",
            ));
        }
        (None, Some(_)) => {
            return Err(key_err(
                i,
                name,
                "success_pointer",
                "must be set with success_equals",
            ));
        }
    };
    Ok(c)
}

fn routes(raw: &[RawRoute], providers: &[ProviderSpec]) -> Result<Vec<RouteSpec>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let key = |k: &str| format!("sms.routes[{i}].{k}");
        let region = Region::parse(&r.country).map_err(|_| {
            ConfigError(format!(
                "invalid configuration key {}: {:?} is not an ISO 3166 country code such as NL",
                key("country"),
                r.country
            ))
        })?;
        if !seen.insert(region) {
            return Err(ConfigError(format!(
                "invalid configuration key {}: {region} has another route already",
                key("country")
            )));
        }
        if r.providers.is_empty() {
            return Err(ConfigError(format!(
                "invalid configuration key {}: must name at least one provider",
                key("providers")
            )));
        }
        for name in &r.providers {
            if !providers.iter().any(|p| p.name == name.trim()) {
                return Err(ConfigError(format!(
                    "invalid configuration key {}: {name:?} is not the name of a [[sms.providers]] entry",
                    key("providers")
                )));
            }
        }
        out.push(RouteSpec {
            region,
            providers: r.providers.iter().map(|n| n.trim().to_owned()).collect(),
        });
    }
    Ok(out)
}

fn positive(key: &str, v: u64) -> Result<Duration, ConfigError> {
    if v == 0 {
        return Err(super::bad(key, "must be positive"));
    }
    Ok(Duration::from_millis(v))
}

fn routing(raw: &RawRouting) -> Result<RouterPolicy, ConfigError> {
    if raw.breaker_failure_threshold == 0 {
        return Err(super::bad(
            "sms.routing.breaker_failure_threshold",
            "must be positive",
        ));
    }
    let base_backoff = positive("sms.routing.base_backoff_ms", raw.base_backoff_ms)?;
    let max_backoff = positive("sms.routing.max_backoff_ms", raw.max_backoff_ms)?;
    if max_backoff < base_backoff {
        return Err(super::bad(
            "sms.routing.max_backoff_ms",
            "must not be below base_backoff_ms",
        ));
    }
    Ok(RouterPolicy {
        max_retries: raw.max_retries,
        base_backoff,
        max_backoff,
        breaker: BreakerPolicy {
            failure_threshold: raw.breaker_failure_threshold,
            cool_down: positive("sms.routing.breaker_cool_down_ms", raw.breaker_cool_down_ms)?,
        },
        ..RouterPolicy::default()
    })
}

fn outbox(raw: &RawOutbox) -> Result<OutboxSettings, ConfigError> {
    if raw.concurrency == 0 {
        return Err(super::bad("sms.outbox.concurrency", "must be positive"));
    }
    let retry_base = positive("sms.outbox.retry_base_ms", raw.retry_base_ms)?;
    let retry_max = positive("sms.outbox.retry_max_ms", raw.retry_max_ms)?;
    if retry_max < retry_base {
        return Err(super::bad(
            "sms.outbox.retry_max_ms",
            "must not be below retry_base_ms",
        ));
    }
    // An hour at least: a final row's idempotency key must outlive any retry of its enqueue.
    if raw.retention_hours == 0 {
        return Err(super::bad(
            "sms.outbox.retention_hours",
            "must be at least 1",
        ));
    }
    Ok(OutboxSettings {
        lease: positive("sms.outbox.lease_ms", raw.lease_ms)?,
        poll_interval: positive("sms.outbox.poll_interval_ms", raw.poll_interval_ms)?,
        concurrency: raw.concurrency,
        retry_base,
        retry_max,
        retention: Duration::from_secs(raw.retention_hours.saturating_mul(3600)),
    })
}
