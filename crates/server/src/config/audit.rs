//! `[audit]`: how long audit events are kept.

use chrono::TimeDelta;
use serde::Deserialize;

use super::{ConfigError, bad};

/// A century: longer is a typo, not a policy.
const MAX_RETENTION_DAYS: u32 = 36_500;

/// `[audit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// Days an audit event is kept before it is deleted; 0 (the default) keeps every event.
    pub retention_days: u32,
}

/// The retention, `None` when events are kept for ever.
pub(super) fn validate_audit(raw: &RawAudit) -> Result<Option<TimeDelta>, ConfigError> {
    match raw.retention_days {
        0 => Ok(None),
        days if days > MAX_RETENTION_DAYS => Err(bad(
            "audit.retention_days",
            "must be at most 36500 (or 0 to keep every event)",
        )),
        days => Ok(Some(TimeDelta::days(i64::from(days)))),
    }
}
