//! Time as whole milliseconds, the unit both adapters decide in.
//!
//! Redis keeps times as integers (Lua numbers are doubles, exact for milliseconds since the
//! epoch but not for nanoseconds), so the in-memory store uses the same unit: both stores
//! then make the same decision at the same instant, to the millisecond. Stored times come
//! back truncated to the millisecond.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch.
pub(crate) fn from_time(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`from_time`]; `None` outside chrono's range.
pub(crate) fn to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
pub(crate) fn from_duration(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A non-negative millisecond count as a duration; negative counts become zero.
pub(crate) fn to_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// `t` truncated to the millisecond, as a store returns it.
pub(crate) fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    to_time(from_time(t)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_the_millisecond() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(to_time(from_time(t)).unwrap(), truncate(t));
        assert_eq!(from_time(truncate(t)) % 1000, 123);
        assert_eq!(from_duration(Duration::from_micros(2_500)), 2);
        assert_eq!(to_duration(-5), Duration::ZERO);
        assert_eq!(from_duration(Duration::MAX), i64::MAX);
    }
}
