//! `[sessions]`: the in-process cache of validated sessions (`ValidateSession`'s fast path).

use std::time::Duration;

use serde::Deserialize;
use twostep_core::session_cache::SessionCacheConfig;

use super::{ConfigError, bad};

/// The longest `sessions.cache_max_age_ms` accepted: the bound on how long another instance
/// may accept a revoked session should a revocation's publish fail.
const MAX_AGE_LIMIT: Duration = Duration::from_secs(60);

/// `[sessions]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    /// Most sessions cached per instance; 0 turns the cache off.
    pub cache_capacity: usize,
    /// How long a cached session is trusted without reading SQL again.
    pub cache_max_age_ms: u64,
}

impl Default for RawSessions {
    fn default() -> Self {
        let d = SessionCacheConfig::default();
        Self {
            cache_capacity: d.capacity,
            cache_max_age_ms: u64::try_from(d.max_age.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

pub(super) fn validate_sessions(raw: &RawSessions) -> Result<SessionCacheConfig, ConfigError> {
    let max_age = Duration::from_millis(raw.cache_max_age_ms);
    if raw.cache_capacity > 0 && (max_age.is_zero() || max_age > MAX_AGE_LIMIT) {
        return Err(bad(
            "sessions.cache_max_age_ms",
            "must be between 1 and 60000 (or set sessions.cache_capacity = 0)",
        ));
    }
    Ok(SessionCacheConfig {
        capacity: raw.cache_capacity,
        max_age,
    })
}
