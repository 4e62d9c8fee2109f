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
    Alias, Asterisk, CommonTableExpression, DeleteStatement, Expr, ExprTrait, InsertStatement,
    OnConflict, Query, SubQueryStatement, WithClause, WithQuery,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    TransactionTrait,
};
use twostep_core::ids::{ChallengeId, TenantId, UserId};
use twostep_core::ports::{ConsumedChallenges, Factor, RepoError};

use super::db_time;
use super::lockout::clearing;
use crate::entity::consumed_challenge::{Column, Entity};
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

/// `INSERT … ON CONFLICT (challenge_id) DO NOTHING`: of two records of one challenge, only
/// the first inserts a row.
fn insertion(tenant: TenantId, challenge: ChallengeId, now: DateTime<Utc>) -> InsertStatement {
    Query::insert()
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
        .to_owned()
}

/// `WITH consumed AS (INSERT … RETURNING challenge_id), ended AS (DELETE FROM
/// account_lockouts WHERE … AND EXISTS (SELECT 1 FROM consumed)) SELECT COUNT(*) AS recorded
/// FROM consumed`. PostgreSQL runs every data-modifying `WITH` whether or not the main query
/// reads it; the `EXISTS` keeps a replay from ending the run.
fn insertion_ending_run(mut insert: InsertStatement, mut clear: DeleteStatement) -> WithQuery {
    let consumed = Alias::new("consumed");
    insert.returning_col(Column::ChallengeId);
    let recorded = Query::select()
        .expr(Expr::val(1))
        .from(consumed.clone())
        .to_owned();
    clear.and_where(Expr::exists(recorded));
    let cte = |name: Alias, query: SubQueryStatement| {
        CommonTableExpression::new()
            .query(query)
            .table_name(name)
            .to_owned()
    };
    let with = WithClause::new()
        .cte(cte(consumed.clone(), insert.into()))
        .cte(cte(Alias::new("ended"), clear.into()))
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
        let insert = insertion(tenant, challenge, now);
        let recorded = match ends_run {
            None => {
                self.db
                    .execute(&insert)
                    .await
                    .map_err(repo_err)?
                    .rows_affected()
                    == 1
            }
            Some((user, factor)) => {
                let clear = clearing(tenant, user, factor);
                if self.db.get_database_backend() == DbBackend::Postgres {
                    let statement = insertion_ending_run(insert, clear);
                    let row = self.db.query_one(&statement).await.map_err(repo_err)?;
                    let count = row.map(|r| r.try_get::<i64>("", "recorded"));
                    count.transpose().map_err(repo_err)? == Some(1)
                } else {
                    // SQLite has no data-modifying `WITH`: one transaction instead.
                    let txn = self.db.begin().await.map_err(repo_err)?;
                    let inserted = txn
                        .execute(&insert)
                        .await
                        .map_err(repo_err)?
                        .rows_affected();
                    if inserted == 1 {
                        txn.execute(&clear).await.map_err(repo_err)?;
                    }
                    txn.commit().await.map_err(repo_err)?;
                    inserted == 1
                }
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
