//! Configuration: built-in defaults, then an optional TOML file (`--config PATH`), then
//! `TWOSTEP_*` environment variables with `__` between levels
//! (`TWOSTEP_SERVER__LISTEN_ADDR=0.0.0.0:50051`).
//!
//! The raw, user-facing structure ([`RawSettings`]) is checked once at start-up and turned
//! into [`Settings`], which holds domain values only, so a bad value stops the process with
//! one line naming the key instead of failing later.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use twostep_core::otp::CodeKey;
use twostep_core::password::{HashCost, HashPriority};
use twostep_sms_gateway::OutboxKey;

mod audit;
mod auth;
mod http;
mod metrics;
mod risk;
mod sessions;
mod sms;

pub use audit::RawAudit;
pub use auth::{AuthSettings, RawAuth, RawTls, TlsSettings};
pub use http::{HttpSettings, RawHttp, default_callback, receipt_path, tenant_receipt_path};
pub use metrics::{MetricsSettings, RawMetrics};
pub use risk::{RawRisk, RiskSettings};
pub use sessions::RawSessions;
pub use sms::{
    KeyError, RawOutbox, RawProvider, RawRoute, RawRouting, RawSms, SmsSettings,
    provider as provider_spec,
};

/// The top-level keys; environment variables whose first segment is not one of these are not
/// ours (for example the test harness's `TWOSTEP_TEST_*`) and are ignored.
const TOP_LEVEL_KEYS: &[&str] = &[
    "environment",
    "server",
    "database",
    "redis",
    "security",
    "sms",
    "log",
    "health",
    "http",
    "metrics",
    "auth",
    "risk",
    "sessions",
    "audit",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub listen_addr: SocketAddr,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub shutdown_grace: Duration,
    /// `server.memory_trim_secs`: how often free heap memory is handed back to the system
    /// (`memory::run_trimmer`); `None` when 0.
    pub memory_trim_interval: Option<Duration>,
    pub database_url: SecretString,
    pub run_migrations: bool,
    pub database_connect_timeout: Duration,
    pub redis: Option<RedisSettings>,
    pub code_key: Option<CodeKey>,
    pub hash_cost: HashCost,
    pub hash_permits: usize,
    pub hash_max_wait: Duration,
    pub hash_priority: HashPriority,
    /// `security.sms_kill_switch`: refuse every code send.
    pub sms_kill_switch: bool,
    pub sms_console: bool,
    /// Providers, routes, routing policy and outbox worker settings (`[sms]`).
    pub sms: SmsSettings,
    /// Seals SMS bodies in the outbox; `None` in development without a key (a random one
    /// per process is used then).
    pub outbox_key: Option<OutboxKey>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub health_interval: Duration,
    /// Caller authentication (`[auth]`).
    pub auth: AuthSettings,
    /// `[server.tls]`: TLS, and mutual TLS with a client CA; `None` serves plaintext.
    pub tls: Option<TlsSettings>,
    /// `[risk]`: SIM-swap signals before a second-factor SMS (R30).
    pub risk: RiskSettings,
    /// `[sessions]`: the cache of validated sessions.
    pub session_cache: twostep_core::session_cache::SessionCacheConfig,
    /// `[audit]`: how long audit events are kept; `None` keeps every event.
    pub audit_retention: Option<chrono::TimeDelta>,
    /// `[http]`: the delivery-receipt listener; `None` when off.
    pub http: Option<HttpSettings>,
    /// `[metrics]`: the Prometheus listener; `None` when off.
    pub metrics: Option<MetricsSettings>,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: SecretString,
    /// The Sentinels' own password, for a `redis+sentinel://` URL.
    pub sentinel_password: Option<SecretString>,
    pub command_timeout: Duration,
    pub key_prefix: String,
}

/// A start-up configuration error: one line, naming the key or the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

fn bad(key: &str, why: impl std::fmt::Display) -> ConfigError {
    let env = format!("TWOSTEP_{}", key.replace('.', "__").to_ascii_uppercase());
    ConfigError(format!(
        "invalid configuration key {key} (environment variable {env}): {why}"
    ))
}

// === raw settings: what the file and environment may contain ===

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSettings {
    pub environment: String,
    pub server: RawServer,
    pub database: RawDatabase,
    pub redis: RawRedis,
    pub security: RawSecurity,
    pub sms: RawSms,
    pub log: RawLog,
    pub health: RawHealth,
    pub auth: RawAuth,
    pub risk: RawRisk,
    pub sessions: RawSessions,
    pub audit: RawAudit,
    pub http: RawHttp,
    pub metrics: RawMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen_addr: String,
    pub request_timeout_ms: u64,
    pub max_concurrent_requests: usize,
    pub shutdown_grace_secs: u64,
    pub memory_trim_secs: u64,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDatabase {
    pub url: String,
    pub run_migrations: bool,
    pub connect_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRedis {
    /// Unset: the in-memory store (one process only).
    pub url: Option<String>,
    /// The Sentinels' own password (`requirepass`), for a `redis+sentinel://` URL only.
    pub sentinel_password: Option<String>,
    pub command_timeout_ms: u64,
    pub key_prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSecurity {
    /// Hex, at least 32 bytes (`openssl rand -hex 32`). Required in production.
    pub code_key: Option<String>,
    /// Hex, exactly 32 bytes (`openssl rand -hex 32`): seals SMS bodies in the outbox.
    /// Required in production; the same on every instance.
    pub outbox_key: Option<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Concurrent password hashes; default: cores - 1, at least 1.
    pub password_hash_permits: Option<usize>,
    pub password_hash_max_wait_ms: u64,
    /// Password hashes under `SCHED_IDLE` instead of nice 10 (see `core::hash_scheduling`).
    pub password_hash_idle: bool,
    /// The global SMS kill switch: `true` refuses every code send with UNAVAILABLE before
    /// any limit, outbox row or provider (SMS-pumping emergency brake).
    pub sms_kill_switch: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: String,
    /// `pretty` or `json`; default: pretty in development, json in production.
    pub format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHealth {
    pub check_interval_ms: u64,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            environment: "development".to_owned(),
            server: RawServer::default(),
            database: RawDatabase::default(),
            redis: RawRedis::default(),
            security: RawSecurity::default(),
            sms: RawSms::default(),
            log: RawLog::default(),
            health: RawHealth::default(),
            auth: RawAuth::default(),
            risk: RawRisk::default(),
            sessions: RawSessions::default(),
            audit: RawAudit::default(),
            http: RawHttp::default(),
            metrics: RawMetrics::default(),
        }
    }
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen_addr: "127.0.0.1:50051".to_owned(),
            request_timeout_ms: 10_000,
            max_concurrent_requests: 1024,
            shutdown_grace_secs: 30,
            memory_trim_secs: 10,
            tls: None,
        }
    }
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            url: "sqlite://data/twostep.db?mode=rwc".to_owned(),
            run_migrations: true,
            connect_timeout_ms: 3_000,
        }
    }
}

impl Default for RawRedis {
    fn default() -> Self {
        Self {
            url: None,
            sentinel_password: None,
            command_timeout_ms: 500,
            key_prefix: "ts:".to_owned(),
        }
    }
}

impl Default for RawSecurity {
    fn default() -> Self {
        let cost = HashCost::default();
        Self {
            code_key: None,
            outbox_key: None,
            argon2_memory_kib: cost.m_kib,
            argon2_iterations: cost.t,
            argon2_parallelism: cost.p,
            password_hash_permits: None,
            password_hash_max_wait_ms: 2_000,
            password_hash_idle: false,
            sms_kill_switch: false,
        }
    }
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: None,
        }
    }
}

impl Default for RawHealth {
    fn default() -> Self {
        Self {
            check_interval_ms: 1_000,
        }
    }
}

// === loading ===

/// Loads and validates settings from the optional file and the process environment.
pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    load_from(file, &env)
}

/// Loads from an explicit environment map (tests pass their own).
pub fn load_from(
    file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        if let Err(e) = std::fs::metadata(path) {
            return Err(ConfigError(format!(
                "cannot read config file {}: {e}",
                path.display()
            )));
        }
        builder = builder.add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    // Provider settings from the environment address an array entry by name, which the
    // `config` crate cannot do; `sms::validate` applies them.
    let (provider_env, env): (HashMap<String, String>, HashMap<String, String>) = env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| k.starts_with(sms::PROVIDER_ENV_PREFIX));
    let ours: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix("TWOSTEP_")
                .and_then(|rest| rest.split("__").next())
                .is_some_and(|top| TOP_LEVEL_KEYS.contains(&top.to_ascii_lowercase().as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix("TWOSTEP")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .source(Some(ours)),
    );
    let raw: RawSettings =
        builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| match file {
                Some(path) => ConfigError(format!(
                    "invalid configuration (file {} or TWOSTEP_* environment): {e}",
                    path.display()
                )),
                None => ConfigError(format!(
                    "invalid configuration (TWOSTEP_* environment): {e}"
                )),
            })?;
    validate(raw, &provider_env)
}

fn validate(
    raw: RawSettings,
    provider_env: &HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let environment = match raw.environment.to_ascii_lowercase().as_str() {
        "development" => Environment::Development,
        "production" => Environment::Production,
        other => {
            return Err(bad(
                "environment",
                format!("{other:?} is neither development nor production"),
            ));
        }
    };
    let production = environment == Environment::Production;
    let auth = auth::validate_auth(&raw.auth, production)?;
    let tls = auth::validate_tls(raw.server.tls.as_ref())?;
    let risk = risk::validate_risk(&raw.risk)?;
    let session_cache = sessions::validate_sessions(&raw.sessions)?;
    let audit_retention = audit::validate_audit(&raw.audit)?;
    let listen_addr = parse_listen_addr(
        "server.listen_addr",
        &raw.server.listen_addr,
        "127.0.0.1:50051",
    )?;
    if raw.server.request_timeout_ms == 0 {
        return Err(bad("server.request_timeout_ms", "must be positive"));
    }
    if raw.server.max_concurrent_requests == 0 {
        return Err(bad("server.max_concurrent_requests", "must be positive"));
    }
    let db_url = raw.database.url.trim().to_owned();
    if !(db_url.starts_with("sqlite:")
        || db_url.starts_with("postgres://")
        || db_url.starts_with("postgresql://"))
    {
        return Err(bad(
            "database.url",
            "must start with sqlite: or postgres://",
        ));
    }
    let redis = match raw
        .redis
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None if production => {
            return Err(bad(
                "redis.url",
                "is required in production (the in-memory store is for one development process)",
            ));
        }
        None => None,
        Some(url) => {
            let sentinel_password = raw
                .redis
                .sentinel_password
                .as_deref()
                .filter(|p| !p.is_empty());
            // The store's own parser, so that a bad URL is refused here, naming its problem
            // (never the URL, which may carry a password), before anything is started.
            let mut form = twostep_shortlived::RedisConfig::new(url);
            form.sentinel_password = sentinel_password.map(str::to_owned);
            if let Err(e) = form.parse_url() {
                let key = match e {
                    twostep_shortlived::RedisConfigError::SentinelPasswordUnused => {
                        "redis.sentinel_password"
                    }
                    _ => "redis.url",
                };
                return Err(bad(key, e));
            }
            if raw.redis.command_timeout_ms == 0 {
                return Err(bad("redis.command_timeout_ms", "must be positive"));
            }
            Some(RedisSettings {
                url: SecretString::from(url.to_owned()),
                sentinel_password: sentinel_password.map(|p| SecretString::from(p.to_owned())),
                command_timeout: Duration::from_millis(raw.redis.command_timeout_ms),
                key_prefix: raw.redis.key_prefix.clone(),
            })
        }
    };
    let code_key = match raw
        .security
        .code_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(hex_key) => {
            let bytes = hex::decode(hex_key)
                .map_err(|_| bad("security.code_key", "must be hex (openssl rand -hex 32)"))?;
            Some(CodeKey::new(bytes).map_err(|_| {
                bad(
                    "security.code_key",
                    "must be at least 32 bytes (64 hex characters)",
                )
            })?)
        }
        None if production => {
            return Err(bad(
                "security.code_key",
                "is required in production (openssl rand -hex 32)",
            ));
        }
        None => None,
    };
    let hash_cost = HashCost {
        m_kib: raw.security.argon2_memory_kib,
        t: raw.security.argon2_iterations,
        p: raw.security.argon2_parallelism,
    };
    let minimum = HashCost::default();
    if hash_cost.p == 0
        || hash_cost.t == 0
        || (hash_cost.m_kib < minimum.m_kib && hash_cost.t <= minimum.t)
    {
        // Below the OWASP minimum (m=19456 KiB, t=2, p=1) only with more iterations.
        return Err(bad(
            "security.argon2_memory_kib",
            "argon2id parameters are below the OWASP minimum m=19456, t=2, p=1",
        ));
    }
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    let hash_permits = raw
        .security
        .password_hash_permits
        .unwrap_or(cores.saturating_sub(1).max(1));
    if hash_permits == 0 {
        return Err(bad("security.password_hash_permits", "must be positive"));
    }
    let sms_console = raw.sms.console;
    let mut sms = sms::validate(raw.sms, provider_env, production)?;
    let http = http::validate(&raw.http, production)?;
    if let Some(http) = &http {
        http::default_callbacks(http, &mut sms);
    }
    let mut listeners = vec![("server.listen_addr", listen_addr)];
    listeners.extend(http.as_ref().map(|h| ("http.listen_addr", h.listen_addr)));
    let metrics = metrics::validate(&raw.metrics, &listeners)?;
    let outbox_key = match raw
        .security
        .outbox_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(hex_key) => {
            Some(OutboxKey::from_hex(hex_key).map_err(|e| bad("security.outbox_key", e))?)
        }
        None if production => {
            return Err(bad(
                "security.outbox_key",
                "is required in production (openssl rand -hex 32; the same on every instance)",
            ));
        }
        None => None,
    };
    let log_format = match raw.log.format.as_deref() {
        None if production => LogFormat::Json,
        None => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some("pretty") => LogFormat::Pretty,
        Some(other) => {
            return Err(bad(
                "log.format",
                format!("{other:?} is neither pretty nor json"),
            ));
        }
    };
    if raw.health.check_interval_ms == 0 {
        return Err(bad("health.check_interval_ms", "must be positive"));
    }
    Ok(Settings {
        environment,
        listen_addr,
        request_timeout: Duration::from_millis(raw.server.request_timeout_ms),
        max_concurrent_requests: raw.server.max_concurrent_requests,
        shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_secs),
        memory_trim_interval: (raw.server.memory_trim_secs > 0)
            .then(|| Duration::from_secs(raw.server.memory_trim_secs)),
        database_url: SecretString::from(db_url),
        run_migrations: raw.database.run_migrations,
        database_connect_timeout: Duration::from_millis(raw.database.connect_timeout_ms.max(1)),
        redis,
        code_key,
        hash_cost,
        hash_permits,
        hash_max_wait: Duration::from_millis(raw.security.password_hash_max_wait_ms),
        hash_priority: if raw.security.password_hash_idle {
            HashPriority::Idle
        } else {
            HashPriority::Nice
        },
        sms_kill_switch: raw.security.sms_kill_switch,
        sms_console,
        sms,
        outbox_key,
        log_level: raw.log.level,
        log_format,
        health_interval: Duration::from_millis(raw.health.check_interval_ms),
        auth,
        tls,
        risk,
        session_cache,
        audit_retention,
        http,
        metrics,
    })
}

/// A listener's address from the value of `key`; the error shows an `example`.
fn parse_listen_addr(key: &str, value: &str, example: &str) -> Result<SocketAddr, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(key, format!("{value:?} is not an address like {example}")))
}

#[cfg(test)]
mod tests;
