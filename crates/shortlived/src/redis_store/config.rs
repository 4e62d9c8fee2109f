//! Configuration of the Redis store and the parsing of its URL forms (see the crate docs).
//!
//! Errors name the problem but never repeat the URL, which may carry a password.

use std::fmt;
use std::time::Duration;

use redis::IntoConnectionInfo;

/// How to reach Redis and how to name keys there.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://`, `rediss://`, `redis+cluster://` or `rediss+cluster://`; see the crate docs.
    pub url: String,
    /// Put before every key, for sharing one Redis between deployments. Default `ts:`; must
    /// not contain `{` or `}` (the hash tags that follow it must decide the slot).
    pub key_prefix: String,
    /// The longest any call may take, connecting included; then it fails with
    /// `StoreError::Unavailable`. Also the client's connection and response timeouts.
    pub command_timeout: Duration,
}

/// A validated Redis URL: one server, or the seed nodes of a cluster.
#[derive(Clone)]
pub struct RedisUrl {
    pub(super) kind: UrlKind,
}

#[derive(Clone)]
pub(super) enum UrlKind {
    Standalone(String),
    /// One `redis://` or `rediss://` URL per seed node.
    Cluster(Vec<String>),
}

/// Why a Redis configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisConfigError {
    #[error(
        "redis url: unsupported scheme, expected redis://, rediss://, redis+cluster:// or rediss+cluster://"
    )]
    Scheme,
    #[error("redis url: {0}")]
    Invalid(String),
    #[error("redis url: cluster node {index} (1-based) is invalid: {reason}")]
    ClusterNode { index: usize, reason: String },
    #[error("redis url: a cluster url takes host:port pairs only, no path, query or fragment")]
    ClusterExtra,
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
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// Checks the URL's form (without connecting) and says which kind of deployment it names.
    pub fn parse_url(&self) -> Result<RedisUrl, RedisConfigError> {
        parse_url(&self.url)
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

    /// How many nodes the URL names: 1 for a standalone server, the seed nodes for a cluster.
    pub fn node_count(&self) -> usize {
        match &self.kind {
            UrlKind::Standalone(_) => 1,
            UrlKind::Cluster(nodes) => nodes.len(),
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
        }
    }
}

// === parsing ===

fn parse_url(url: &str) -> Result<RedisUrl, RedisConfigError> {
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
