//! Pooled connections that died with the database.
//!
//! When PostgreSQL restarts, every pooled connection dies with it, but the pool only finds
//! that out for the connections it pings, and it pings only those idle for half a second
//! (`db.rs` says why). Without more, each connection used in the half second before the
//! restart would fail one request after the database is back: one failed request per pooled
//! connection. So the first statement that finds its connection dead records the moment,
//! and every connection that went back to the pool before that moment is pinged before it
//! is handed out, however briefly it was idle.
//!
//! The moment is kept for the whole process, not per pool: a process that holds two pools
//! to different databases (tests do) pings the other pool's connections once, which costs a
//! round trip each and is never wrong.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The origin of the recorded moments.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds from [`EPOCH`] to the latest recorded loss, plus one; zero while none was seen.
static LAST_LOSS: AtomicU64 = AtomicU64::new(0);

/// Records that a statement found its connection dead (the server closed it, or it was
/// terminated by an administrator or a shutdown).
pub(crate) fn record() {
    let since_epoch = nanos(epoch().elapsed()).saturating_add(1);
    LAST_LOSS.fetch_max(since_epoch, Ordering::Relaxed);
}

/// Whether a pooled connection idle for `idle_for` went back to the pool before the latest
/// recorded loss, so it may have died with the others and must be pinged before use.
pub(crate) fn may_have_died(idle_for: Duration) -> bool {
    let last_loss = LAST_LOSS.load(Ordering::Relaxed);
    if last_loss == 0 {
        return false;
    }
    let released_at = nanos(epoch().elapsed()).saturating_sub(nanos(idle_for));
    released_at < last_loss
}

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
