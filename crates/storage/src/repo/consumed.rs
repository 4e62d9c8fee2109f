//! [`ConsumedChallenges`] over the `consumed_challenges` table: one conditional insert per
//! accepted code, so of two acceptances of one challenge only the first is recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter};
use twostep_core::ids::{ChallengeId, TenantId};
use twostep_core::ports::{ConsumedChallenges, RepoError};

use super::db_time;
use crate::entity::consumed_challenge::{self, Column, Entity};
use crate::error::repo_err;

/// Rows older than this are pruned; no challenge lives longer than ten minutes.
const KEEP: chrono::Duration = chrono::Duration::days(1);
/// Prune on one insert in this many, so pruning costs nothing noticeable per request.
const PRUNE_EVERY: u64 = 1000;

#[derive(Debug, Clone)]
pub struct SqlConsumedChallenges {
    db: DatabaseConnection,
    inserts: Arc<AtomicU64>,
}

impl SqlConsumedChallenges {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            inserts: Arc::new(AtomicU64::new(0)),
        }
    }
}

#[async_trait]
impl ConsumedChallenges for SqlConsumedChallenges {
    async fn record(
        &self,
        tenant: TenantId,
        challenge: ChallengeId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let row = consumed_challenge::Model {
            challenge_id: challenge.as_uuid(),
            tenant_id: tenant.as_uuid(),
            consumed_at: db_time(now),
        }
        .into_active_model();
        let inserted = Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::ChallengeId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        if self.inserts.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            let pruned = Entity::delete_many()
                .filter(Column::ConsumedAt.lt(db_time(now - KEEP)))
                .exec(&self.db)
                .await
                .map_err(repo_err)?;
            tracing::debug!(pruned = pruned.rows_affected, "consumed challenges pruned");
        }
        Ok(inserted == 1)
    }

    async fn contains(&self, tenant: TenantId, challenge: ChallengeId) -> Result<bool, RepoError> {
        let row = Entity::find_by_id(challenge.as_uuid())
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(row.is_some())
    }
}
