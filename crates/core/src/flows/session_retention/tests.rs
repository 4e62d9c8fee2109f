use std::sync::Mutex;

use async_trait::async_trait;
use chrono::TimeZone;

use super::*;
use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::session::Session;
use crate::token::TokenHash;

/// Records each prune's cut-off and limit, and answers with a fixed count.
struct Pruned {
    calls: Mutex<Vec<(DateTime<Utc>, u32)>>,
    answer: u64,
}

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
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((before, limit));
        Ok(self.answer)
    }
}

#[tokio::test]
async fn a_prune_deletes_one_batch_of_families_ended_a_day_ago() {
    let repo = Pruned {
        calls: Mutex::new(Vec::new()),
        answer: 3,
    };
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
    assert_eq!(prune_once(&repo, now).await.unwrap(), 3);
    let day_before = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
    assert_eq!(
        *repo.calls.lock().unwrap_or_else(|p| p.into_inner()),
        [(day_before, BATCH)]
    );
}

#[test]
fn a_full_batch_is_followed_soon_and_anything_else_in_a_minute() {
    assert_eq!(next_wait(&Ok(u64::from(BATCH))), AFTER_FULL_BATCH);
    assert_eq!(next_wait(&Ok(u64::from(BATCH) - 1)), EVERY);
    assert_eq!(next_wait(&Ok(0)), EVERY);
    let down = Err(RepoError::Unavailable("database down".into()));
    assert_eq!(next_wait(&down), EVERY);
}
