//! Log lines for events that come in floods under abuse (rate-limit refusals, refusals of a
//! locked account, sends refused by the kill switch): at most one line per second per kind,
//! carrying how many such events there were since the previous line.
//!
//! One line per refused request made the rejection path of a flood cost a formatted log line
//! and a write each, and a flood of a million rejections wrote hundreds of MiB of identical
//! lines, which is a disk-filling amplifier in an attacker's hands. The first event of a
//! flood is always logged at once, so a quiet system still shows every refusal; the counts
//! of every event are exact. Each event is also logged at `debug`, for a developer.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

/// At most one line per kind in this many milliseconds.
const INTERVAL_MS: i64 = 1000;

/// One kind of flood event: its count since the last line, and when the next line may go.
pub(crate) struct FloodLog {
    unlogged: AtomicU64,
    next_line_ms: AtomicI64,
}

impl FloodLog {
    pub(crate) const fn new() -> Self {
        Self {
            unlogged: AtomicU64::new(0),
            next_line_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts one event at `now`. `Some(n)` when this event's line should be written, with
    /// `n` the events since the previous line, this one included; `None` when it is only
    /// counted.
    pub(crate) fn event(&self, now: DateTime<Utc>) -> Option<u64> {
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let now_ms = now.timestamp_millis();
        let next = self.next_line_ms.load(Ordering::Relaxed);
        if now_ms < next {
            return None;
        }
        // One caller wins the line; the others of the same instant are only counted.
        self.next_line_ms
            .compare_exchange(
                next,
                now_ms.saturating_add(INTERVAL_MS),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()?;
        Some(self.unlogged.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn the_first_event_is_logged_then_one_line_per_interval_with_the_count() {
        let log = FloodLog::new();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(log.event(t0), Some(1));
        for i in 1..=500 {
            assert_eq!(log.event(t0 + TimeDelta::milliseconds(i)), None);
        }
        assert_eq!(log.event(t0 + TimeDelta::milliseconds(999)), None);
        assert_eq!(log.event(t0 + TimeDelta::milliseconds(1000)), Some(502));
        assert_eq!(log.event(t0 + TimeDelta::milliseconds(1500)), None);
        // A quiet spell: the next event is logged at once, with the one before it.
        assert_eq!(log.event(t0 + TimeDelta::seconds(60)), Some(2));
    }
}
