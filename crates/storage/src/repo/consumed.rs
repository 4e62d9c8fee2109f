//! [`ConsumedChallenges`] over the `consumed_challenges` table: one conditional insert per
//! accepted code, so of two acceptances of one challenge only the first is recorded. The
//! insert also ends the account's failure run in `account_lockouts` when it records: on
//! PostgreSQL in the same statement (a data-modifying `WITH`), on SQLite in one transaction.
//! An accepted code is on `VerifyCode`'s path, and two statements were two round trips and
//! two commits there.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, CommonTableExpression, Expr, ExprTrait, OnConflict, Query, WithClause,
    WithQuery,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionTrait,
};
use twostep_core::ids::{ChallengeId, TenantId, UserId};
use twostep_core::ports::{ConsumedChallenges, Factor, RepoError};

use super::db_time;
use crate::entity::account_lockout;
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

impl SqlConsumedChallenges {
    /// The insert alone: `true` when it recorded.
    async fn insert<C: ConnectionTrait>(
        db: &C,
        tenant: TenantId,
        challenge: ChallengeId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let row = consumed_challenge::Model {
            challenge_id: challenge.as_uuid(),
            tenant_id: tenant.as_uuid(),
            consumed_at: now,
        }
        .into_active_model();
        let inserted = Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::ChallengeId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map_err(repo_err)?;
        Ok(inserted == 1)
    }

    /// SQLite has no data-modifying `WITH`: the insert and the end of the run in one
    /// transaction.
    async fn record_in_transaction(
        &self,
        tenant: TenantId,
        challenge: ChallengeId,
        now: DateTime<Utc>,
        (user, factor): (UserId, Factor),
    ) -> Result<bool, RepoError> {
        let txn = self.db.begin().await.map_err(repo_err)?;
        let recorded = Self::insert(&txn, tenant, challenge, now).await?;
        if recorded {
            end_run(tenant, user, factor)
                .exec(&txn)
                .await
                .map_err(repo_err)?;
        }
        txn.commit().await.map_err(repo_err)?;
        Ok(recorded)
    }

    /// One PostgreSQL statement: the insert, and the end of the run only if it inserted.
    async fn record_in_one_statement(
        &self,
        tenant: TenantId,
        challenge: ChallengeId,
        now: DateTime<Utc>,
        (user, factor): (UserId, Factor),
    ) -> Result<bool, RepoError> {
        let statement = insert_and_end_run(tenant, challenge, now, user, factor);
        let row = self.db.query_one(&statement).await.map_err(repo_err)?;
        let recorded = match row {
            Some(row) => row.try_get::<i64>("", "recorded").map_err(repo_err)?,
            None => 0,
        };
        Ok(recorded == 1)
    }

    /// Prunes old rows on one insert in [`PRUNE_EVERY`].
    async fn maybe_prune(&self, now: DateTime<Utc>) -> Result<(), RepoError> {
        if self.inserts.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            let pruned = Entity::delete_many()
                .filter(Column::ConsumedAt.lt(db_time(now - KEEP)))
                .exec(&self.db)
                .await
                .map_err(repo_err)?;
            tracing::debug!(pruned = pruned.rows_affected, "consumed challenges pruned");
        }
        Ok(())
    }
}

/// Deletes the account's counter for the factor, as [`LockoutRepo::clear`] does.
///
/// [`LockoutRepo::clear`]: twostep_core::ports::LockoutRepo::clear
fn end_run(
    tenant: TenantId,
    user: UserId,
    factor: Factor,
) -> sea_orm::DeleteMany<account_lockout::Entity> {
    account_lockout::Entity::delete_many()
        .filter(account_lockout::Column::UserId.eq(user.as_uuid()))
        .filter(account_lockout::Column::Factor.eq(factor.as_str()))
        .filter(account_lockout::Column::TenantId.eq(tenant.as_uuid()))
}

/// `WITH consumed AS (INSERT … ON CONFLICT DO NOTHING RETURNING challenge_id),
/// ended AS (DELETE FROM account_lockouts WHERE … AND EXISTS (SELECT 1 FROM consumed))
/// SELECT COUNT(*) AS recorded FROM consumed`. PostgreSQL runs every data-modifying `WITH`
/// whether or not the main query reads it; the `EXISTS` keeps a replay from ending the run.
fn insert_and_end_run(
    tenant: TenantId,
    challenge: ChallengeId,
    now: DateTime<Utc>,
    user: UserId,
    factor: Factor,
) -> WithQuery {
    let consumed = Alias::new("consumed");
    let insert = Query::insert()
        .into_table(Entity)
        .columns([Column::ChallengeId, Column::TenantId, Column::ConsumedAt])
        .values_panic([
            challenge.as_uuid().into(),
            tenant.as_uuid().into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(Column::ChallengeId)
                .do_nothing()
                .to_owned(),
        )
        .returning_col(Column::ChallengeId)
        .to_owned();
    let recorded = Query::select()
        .expr(Expr::val(1))
        .from(consumed.clone())
        .to_owned();
    let end = Query::delete()
        .from_table(account_lockout::Entity)
        .and_where(Expr::col(account_lockout::Column::UserId).eq(user.as_uuid()))
        .and_where(Expr::col(account_lockout::Column::Factor).eq(factor.as_str()))
        .and_where(Expr::col(account_lockout::Column::TenantId).eq(tenant.as_uuid()))
        .and_where(Expr::exists(recorded))
        .to_owned();
    let with = WithClause::new()
        .cte(
            CommonTableExpression::new()
                .query(insert)
                .table_name(consumed.clone())
                .to_owned(),
        )
        .cte(
            CommonTableExpression::new()
                .query(end)
                .table_name(Alias::new("ended"))
                .to_owned(),
        )
        .to_owned();
    Query::select()
        .expr_as(Expr::col(Asterisk).count(), Alias::new("recorded"))
        .from(consumed)
        .to_owned()
        .with(with)
}

#[async_trait]
impl ConsumedChallenges for SqlConsumedChallenges {
    async fn record(
        &self,
        tenant: TenantId,
        challenge: ChallengeId,
        now: DateTime<Utc>,
        ends_run: Option<(UserId, Factor)>,
    ) -> Result<bool, RepoError> {
        let now = db_time(now);
        let recorded = match (ends_run, self.db.get_database_backend()) {
            (None, _) => Self::insert(&self.db, tenant, challenge, now).await?,
            (Some(run), DbBackend::Postgres) => {
                self.record_in_one_statement(tenant, challenge, now, run)
                    .await?
            }
            (Some(run), _) => {
                self.record_in_transaction(tenant, challenge, now, run)
                    .await?
            }
        };
        self.maybe_prune(now).await?;
        Ok(recorded)
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
