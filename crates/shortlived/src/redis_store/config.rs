//! Configuration of the Redis store and the parsing of its URL forms (see the crate docs).
//!
//! Errors name the problem but never repeat the URL, which may carry a password.

use std::fmt;
use std::time::Duration;

use redis::sentinel::SentinelNodeConnectionInfo;
use redis::{ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, TlsMode};

/// How to reach Redis and how to name keys there.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://`, `rediss://`, `redis+cluster://`, `rediss+cluster://`, `redis+sentinel://`
    /// or `rediss+sentinel://`; see the crate docs.
    pub url: String,
    /// The password of the Sentinels themselves (their `requirepass`), for the sentinel
    /// forms only: the URL's credentials are the data nodes'. `None`: no `AUTH` to them.
    pub sentinel_password: Option<String>,
    /// Put before every key, for sharing one Redis between deployments. Default `ts:`; must
    /// not contain `{` or `}` (the hash tags that follow it must decide the slot).
    pub key_prefix: String,
    /// The longest any call may take, connecting included; then it fails with
    /// `StoreError::Unavailable`. Also the client's connection and response timeouts.
    pub command_timeout: Duration,
}

/// A validated Redis URL: one server, the seed nodes of a cluster, or the Sentinels that
/// name a primary.
#[derive(Clone)]
pub struct RedisUrl {
    pub(super) kind: UrlKind,
}

#[derive(Clone)]
pub(super) enum UrlKind {
    Standalone(String),
    /// One `redis://` or `rediss://` URL per seed node.
    Cluster(Vec<String>),
    Sentinel(SentinelUrl),
}

/// The Sentinels to ask, the name of the primary they watch, and how to reach that primary.
#[derive(Clone)]
pub(super) struct SentinelUrl {
    pub(super) sentinels: Vec<ConnectionInfo>,
    /// What the Sentinels' `sentinel monitor <name> ...` calls the primary.
    pub(super) service: String,
    /// The primary's credentials and database (from the URL).
    pub(super) primary: RedisConnectionInfo,
    /// TLS to the primary (and to the Sentinels): `rediss+sentinel://`.
    pub(super) tls: bool,
    /// The hosts as written, for logs.
    hosts: String,
}

/// Why a Redis configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisConfigError {
    #[error(
        "redis url: unsupported scheme, expected redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://"
    )]
    Scheme,
    #[error("redis url: {0}")]
    Invalid(String),
    #[error("redis url: cluster node {index} (1-based) is invalid: {reason}")]
    ClusterNode { index: usize, reason: String },
    #[error("redis url: a cluster url takes host:port pairs only, no path, query or fragment")]
    ClusterExtra,
    #[error("redis url: sentinel {index} (1-based) is invalid: {reason}")]
    SentinelNode { index: usize, reason: String },
    #[error(
        "redis url: a sentinel url names the primary after the sentinels, as in redis+sentinel://host:26379,host:26379/mymaster[/db], and takes no query or fragment"
    )]
    SentinelService,
    #[error("redis sentinel password: only with a redis+sentinel:// or rediss+sentinel:// url")]
    SentinelPasswordUnused,
    #[error("redis key prefix must not contain '{{' or '}}'")]
    PrefixBraces,
    #[error("redis command timeout must be between 1 ms and 60 s")]
    Timeout,
}

// === impl RedisConfig ===

impl RedisConfig {
    pub const DEFAULT_KEY_PREFIX: &'static str = "ts:";
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

    /// A configuration with the default prefix and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            sentinel_password: None,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// Checks the URL's form (without connecting) and says which kind of deployment it names.
    pub fn parse_url(&self) -> Result<RedisUrl, RedisConfigError> {
        let url = parse_url(&self.url, self.sentinel_password.as_deref())?;
        if self.sentinel_password.is_some() && !url.is_sentinel() {
            return Err(RedisConfigError::SentinelPasswordUnused);
        }
        Ok(url)
    }

    /// Checks everything: the URL, the prefix and the timeout.
    pub fn validate(&self) -> Result<RedisUrl, RedisConfigError> {
        if self.key_prefix.contains(['{', '}']) {
            return Err(RedisConfigError::PrefixBraces);
        }
        if self.command_timeout < Duration::from_millis(1)
            || self.command_timeout > Duration::from_secs(60)
        {
            return Err(RedisConfigError::Timeout);
        }
        self.parse_url()
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(&self.url))
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "***"),
            )
            .field("key_prefix", &self.key_prefix)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

// === impl RedisUrl ===

impl RedisUrl {
    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, UrlKind::Cluster(_))
    }

    pub fn is_sentinel(&self) -> bool {
        matches!(self.kind, UrlKind::Sentinel(_))
    }

    /// How many nodes the URL names: 1 for a standalone server, the seed nodes for a
    /// cluster, the Sentinels for a sentinel URL.
    pub fn node_count(&self) -> usize {
        match &self.kind {
            UrlKind::Standalone(_) => 1,
            UrlKind::Cluster(nodes) => nodes.len(),
            UrlKind::Sentinel(s) => s.sentinels.len(),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            UrlKind::Standalone(url) => f.debug_tuple("Standalone").field(&redacted(url)).finish(),
            UrlKind::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redacted(n)).collect::<Vec<_>>())
                .finish(),
            UrlKind::Sentinel(s) => f
                .debug_struct("Sentinel")
                .field("sentinels", &s.hosts)
                .field("service", &s.service)
                .finish(),
        }
    }
}

impl SentinelUrl {
    /// How redis-rs is to reach the primary the Sentinels name.
    pub(super) fn node(&self) -> SentinelNodeConnectionInfo {
        let node =
            SentinelNodeConnectionInfo::default().set_redis_connection_info(self.primary.clone());
        if self.tls {
            node.set_tls_mode(TlsMode::Secure)
        } else {
            node
        }
    }
}

// === parsing ===

fn parse_url(url: &str, sentinel_password: Option<&str>) -> Result<RedisUrl, RedisConfigError> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").ok_or(RedisConfigError::Scheme)?;
    match scheme.to_ascii_lowercase().as_str() {
        "redis" | "rediss" => {
            url.into_connection_info()
                .map_err(|e| RedisConfigError::Invalid(e.to_string()))?;
            Ok(RedisUrl {
                kind: UrlKind::Standalone(url.to_owned()),
            })
        }
        "redis+cluster" => parse_cluster("redis", rest),
        "rediss+cluster" => parse_cluster("rediss", rest),
        "redis+sentinel" => parse_sentinel("redis", rest, sentinel_password),
        "rediss+sentinel" => parse_sentinel("rediss", rest, sentinel_password),
        _ => Err(RedisConfigError::Scheme),
    }
}

/// `[userinfo@]host[:port],host[:port],...` into one URL per node, each with the userinfo.
fn parse_cluster(scheme: &str, rest: &str) -> Result<RedisUrl, RedisConfigError> {
    // A password may contain '@' only percent-encoded, but split at the last one to be safe.
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, rest),
    };
    let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
    if hosts.contains(['/', '?', '#']) {
        return Err(RedisConfigError::ClusterExtra);
    }
    let mut nodes = Vec::new();
    for (i, host) in hosts.split(',').enumerate() {
        let index = i + 1;
        let host = host.trim();
        if host.is_empty() {
            return Err(RedisConfigError::ClusterNode {
                index,
                reason: "empty".to_owned(),
            });
        }
        let node = match userinfo {
            Some(userinfo) => format!("{scheme}://{userinfo}@{host}"),
            None => format!("{scheme}://{host}"),
        };
        node.as_str()
            .into_connection_info()
            .map_err(|e| RedisConfigError::ClusterNode {
                index,
                reason: e.to_string(),
            })?;
        nodes.push(node);
    }
    Ok(RedisUrl {
        kind: UrlKind::Cluster(nodes),
    })
}

/// The port Sentinels listen on unless told otherwise.
const SENTINEL_PORT: u16 = 26379;

/// `[userinfo@]host[:port],host[:port],.../service[/db]`: the Sentinels (TLS with `rediss`,
/// authenticated with `sentinel_password`), then the primary's name, database and
/// credentials (the userinfo).
fn parse_sentinel(
    scheme: &str,
    rest: &str,
    sentinel_password: Option<&str>,
) -> Result<RedisUrl, RedisConfigError> {
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    if rest.contains(['?', '#']) {
        return Err(RedisConfigError::SentinelService);
    }
    let (hosts, path) = rest
        .split_once('/')
        .ok_or(RedisConfigError::SentinelService)?;
    let path = path.strip_suffix('/').unwrap_or(path);
    let (service, db) = match path.split_once('/') {
        Some((service, db)) => (service, db),
        None => (path, "0"),
    };
    if service.is_empty() || service.contains('/') || db.contains('/') {
        return Err(RedisConfigError::SentinelService);
    }
    // The primary's credentials and database, percent-decoded by redis-rs's own parser.
    let primary = match userinfo {
        Some(userinfo) => format!("{scheme}://{userinfo}@primary/{db}"),
        None => format!("{scheme}://primary/{db}"),
    };
    let primary = primary
        .as_str()
        .into_connection_info()
        .map_err(|e| RedisConfigError::Invalid(e.to_string()))?;
    let mut sentinels = Vec::new();
    for (i, host) in hosts.split(',').enumerate() {
        let index = i + 1;
        let host = host.trim();
        let bad = |reason: String| RedisConfigError::SentinelNode { index, reason };
        if host.is_empty() {
            return Err(bad("empty".to_owned()));
        }
        // A bare host, or an IPv6 literal without a port, gets the Sentinels' port.
        let has_port = match host.rsplit_once(':') {
            Some((before, _)) if !host.ends_with(']') => {
                !before.contains(':') || before.ends_with(']')
            }
            _ => false,
        };
        let address = if has_port {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{SENTINEL_PORT}")
        };
        let mut info = address
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        if let Some(password) = sentinel_password {
            info = info.set_redis_settings(RedisConnectionInfo::default().set_password(password));
        }
        sentinels.push(info);
    }
    Ok(RedisUrl {
        kind: UrlKind::Sentinel(SentinelUrl {
            sentinels,
            service: service.to_owned(),
            primary: primary.redis_settings().clone(),
            tls: scheme == "rediss",
            hosts: hosts.to_owned(),
        }),
    })
}

/// The URL with any userinfo replaced by `***`, for logs.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, hosts)) => format!("{scheme}://***@{hosts}"),
            None => url.to_owned(),
        },
        None => "<not a url>".to_owned(),
    }
}

#[cfg(test)]
mod tests;
