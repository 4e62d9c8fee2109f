use async_trait::async_trait;
use chrono::TimeZone;

use super::*;
use crate::flows::retention::PruneCalls;

/// An audit store that only prunes, as `PruneCalls` says.
struct Pruned(PruneCalls);

#[async_trait]
impl AuditRetention for Pruned {
    async fn prune_before(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        Ok(self.0.prune(before, limit))
    }
}

#[tokio::test]
async fn a_prune_deletes_one_batch_of_events_older_than_the_retention() {
    let audit = Pruned(PruneCalls::answering(7));
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
    assert_eq!(
        prune_once(&audit, TimeDelta::days(400), now).await.unwrap(),
        7
    );
    let cut_off = Utc.with_ymd_and_hms(2025, 11, 2, 12, 0, 0).unwrap();
    assert_eq!(audit.0.calls(), [(cut_off, BATCH)]);
}

/// A retention longer than the calendar deletes nothing rather than failing.
#[tokio::test]
async fn a_retention_past_the_start_of_time_cuts_off_at_its_start() {
    let audit = Pruned(PruneCalls::answering(0));
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
    prune_once(&audit, TimeDelta::MAX, now).await.unwrap();
    assert_eq!(audit.0.calls(), [(DateTime::<Utc>::MIN_UTC, BATCH)]);
}
