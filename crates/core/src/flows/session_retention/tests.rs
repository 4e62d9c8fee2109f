use async_trait::async_trait;
use chrono::TimeZone;

use super::*;
use crate::flows::retention::PruneCalls;
use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::session::Session;
use crate::token::TokenHash;

/// A session store that only prunes, as `PruneCalls` says.
struct Pruned(PruneCalls);

#[async_trait]
impl SessionRepo for Pruned {
    async fn create(&self, _: &Session) -> Result<(), RepoError> {
        Ok(())
    }
    async fn find_by_access(&self, _: TokenHash) -> Result<Option<Session>, RepoError> {
        Ok(None)
    }
    async fn find_by_refresh(&self, _: TokenHash) -> Result<Option<Session>, RepoError> {
        Ok(None)
    }
    async fn rotate(&self, _: SessionId, _: &Session, _: DateTime<Utc>) -> Result<bool, RepoError> {
        Ok(false)
    }
    async fn revoke(&self, _: SessionId, _: DateTime<Utc>) -> Result<bool, RepoError> {
        Ok(false)
    }
    async fn revoke_family(&self, _: FamilyId, _: DateTime<Utc>) -> Result<u64, RepoError> {
        Ok(0)
    }
    async fn revoke_all_for_user(
        &self,
        _: TenantId,
        _: UserId,
        _: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        Ok(0)
    }
    async fn list_live_for_user(
        &self,
        _: TenantId,
        _: UserId,
        _: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepoError> {
        Ok(Vec::new())
    }
    async fn prune_ended(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        Ok(self.0.prune(before, limit))
    }
}

#[tokio::test]
async fn a_prune_deletes_one_batch_of_families_ended_a_day_ago() {
    let repo = Pruned(PruneCalls::answering(3));
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
    assert_eq!(prune_once(&repo, now).await.unwrap(), 3);
    let day_before = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
    assert_eq!(repo.0.calls(), [(day_before, BATCH)]);
}
