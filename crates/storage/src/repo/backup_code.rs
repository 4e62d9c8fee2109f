//! [`BackupCodeRepo`] over the `backup_codes` table.
//!
//! A new batch replaces the old one in a single transaction, so there is no moment at which
//! both work or neither does; a code is consumed by one conditional `UPDATE`, so of concurrent
//! uses of one code exactly one wins (R26).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{BackupCodeRepo, RepoError, StoredBackupCode};

use super::db_time;
use crate::entity::backup_code::{self, Column, Entity};
use crate::error::repo_err;

/// Backup codes in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlBackupCodeRepo {
    db: DatabaseConnection,
}

impl SqlBackupCodeRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn of_user(tenant: TenantId, user: UserId) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::TenantId.eq(tenant.as_uuid()))
        .add(Column::UserId.eq(user.as_uuid()))
}

#[async_trait]
impl BackupCodeRepo for SqlBackupCodeRepo {
    #[tracing::instrument(skip(self, hashes), fields(count = hashes.len()))]
    async fn replace_batch(
        &self,
        tenant: TenantId,
        user: UserId,
        hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        // IMMEDIATE takes SQLite's write lock at BEGIN, where the busy timeout applies.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(repo_err)?;
        Entity::delete_many()
            .filter(of_user(tenant, user))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        if !hashes.is_empty() {
            let created_at = db_time(now);
            let rows = hashes.iter().map(|hash| {
                backup_code::Model {
                    id: uuid::Uuid::new_v4(),
                    tenant_id: tenant.as_uuid(),
                    user_id: user.as_uuid(),
                    hash: hash.clone(),
                    created_at,
                    used_at: None,
                }
                .into_active_model()
            });
            Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(repo_err)?;
        }
        txn.commit().await.map_err(repo_err)
    }

    #[tracing::instrument(skip(self))]
    async fn unused(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Vec<StoredBackupCode>, RepoError> {
        let rows = Entity::find()
            .filter(of_user(tenant, user))
            .filter(Column::UsedAt.is_null())
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(rows
            .into_iter()
            .map(|row| StoredBackupCode {
                id: row.id,
                hash: row.hash,
            })
            .collect())
    }

    #[tracing::instrument(skip(self))]
    async fn consume(&self, id: uuid::Uuid, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let res = Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(db_time(now)))
            .filter(Column::Id.eq(id))
            .filter(Column::UsedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn delete_all(&self, tenant: TenantId, user: UserId) -> Result<(), RepoError> {
        Entity::delete_many()
            .filter(of_user(tenant, user))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}
