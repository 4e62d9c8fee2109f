//! [`SessionRepo`] over the `sessions` table.
//!
//! Token lookups are the hot path of every authenticated call: each is one query on a unique
//! index. Rotation is the one multi-statement write, and its single transaction is what makes
//! refresh-token reuse detectable (R34): of two concurrent rotations of the same session,
//! exactly one revokes it and inserts a successor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use twostep_core::ids::{FamilyId, SessionId, TenantId, UserId};
use twostep_core::ports::{RepoError, SessionRepo};
use twostep_core::session::{AuthMethod, Session};
use twostep_core::token::TokenHash;
use twostep_core::user::Role;

use super::{db_time, delete_batch};
use crate::entity::session::{self, Column, Entity};
use crate::error::{corrupt, repo_err};

/// Sessions in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlSessionRepo {
    db: DatabaseConnection,
}

impl SqlSessionRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Sets `revoked_at` on the not yet revoked sessions that `filter` selects.
    async fn revoke_where(
        &self,
        filter: sea_orm::Condition,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let res = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(db_time(now)))
            .filter(filter)
            .filter(Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected)
    }
}

#[async_trait]
impl SessionRepo for SqlSessionRepo {
    #[tracing::instrument(skip_all, fields(session_id = %session.id, user_id = %session.user))]
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        Entity::insert(to_row(session).into_active_model())
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_access(&self, hash: TokenHash) -> Result<Option<Session>, RepoError> {
        let row = Entity::find()
            .filter(Column::AccessHash.eq(hash.as_bytes().to_vec()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_session).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_refresh(&self, hash: TokenHash) -> Result<Option<Session>, RepoError> {
        let row = Entity::find()
            .filter(Column::RefreshHash.eq(hash.as_bytes().to_vec()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_session).transpose()
    }

    #[tracing::instrument(skip(self, new), fields(new_session_id = %new.id))]
    async fn rotate(
        &self,
        old: SessionId,
        new: &Session,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        // IMMEDIATE takes SQLite's write lock at BEGIN, where the busy timeout applies, rather
        // than upgrading a read lock later, which fails at once under contention.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(repo_err)?;
        let revoked = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(db_time(now)))
            .filter(Column::Id.eq(old.as_uuid()))
            .filter(Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        if revoked.rows_affected != 1 {
            txn.rollback().await.map_err(repo_err)?;
            return Ok(false);
        }
        Entity::insert(to_row(new).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(repo_err)?;
        txn.commit().await.map_err(repo_err)?;
        Ok(true)
    }

    #[tracing::instrument(skip(self))]
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let n = self
            .revoke_where(Column::Id.eq(id.as_uuid()).into(), now)
            .await?;
        Ok(n == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn revoke_family(&self, family: FamilyId, now: DateTime<Utc>) -> Result<u64, RepoError> {
        self.revoke_where(Column::FamilyId.eq(family.as_uuid()).into(), now)
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn revoke_all_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let filter = sea_orm::Condition::all()
            .add(Column::TenantId.eq(tenant.as_uuid()))
            .add(Column::UserId.eq(user.as_uuid()));
        self.revoke_where(filter, now).await
    }

    #[tracing::instrument(skip(self))]
    async fn list_live_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepoError> {
        let now = db_time(now);
        let rows = Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::RevokedAt.is_null())
            .filter(Column::RefreshExpiresAt.gt(now))
            .filter(Column::AbsoluteExpiresAt.gt(now))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        rows.into_iter().map(to_session).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn prune_ended(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        // The batch walks `ix_sessions_absolute_expires_at`.
        let batch = Query::select()
            .column(Column::Id)
            .from(Entity)
            .and_where(Column::AbsoluteExpiresAt.lt(db_time(before)))
            .limit(u64::from(limit))
            .to_owned();
        delete_batch::<Entity>(&self.db, Column::Id, batch).await
    }
}

fn to_row(s: &Session) -> session::Model {
    session::Model {
        id: s.id.as_uuid(),
        family_id: s.family.as_uuid(),
        tenant_id: s.tenant.as_uuid(),
        user_id: s.user.as_uuid(),
        role: s.role.as_str().to_owned(),
        auth_method: s.auth_method.as_str().to_owned(),
        access_hash: s.access_hash.as_bytes().to_vec(),
        refresh_hash: s.refresh_hash.as_bytes().to_vec(),
        created_at: db_time(s.created_at),
        access_expires_at: db_time(s.access_expires_at),
        refresh_expires_at: db_time(s.refresh_expires_at),
        absolute_expires_at: db_time(s.absolute_expires_at),
        revoked_at: s.revoked_at.map(db_time),
        user_agent: s.user_agent.clone(),
        ip_address: s.ip_address.clone(),
        family_created_at: Some(db_time(s.family_created_at)),
        device_id: s.device_id.clone(),
    }
}

fn to_session(row: session::Model) -> Result<Session, RepoError> {
    let hash = |bytes: Vec<u8>, what| {
        <[u8; 32]>::try_from(bytes)
            .map(TokenHash::from_bytes)
            .map_err(|b| corrupt(what, format_args!("{} bytes", b.len())))
    };
    Ok(Session {
        id: SessionId::from_uuid(row.id),
        family: FamilyId::from_uuid(row.family_id),
        tenant: TenantId::from_uuid(row.tenant_id),
        user: UserId::from_uuid(row.user_id),
        role: Role::parse(&row.role).ok_or_else(|| corrupt("session role", &row.role))?,
        auth_method: AuthMethod::parse(&row.auth_method)
            .ok_or_else(|| corrupt("session auth method", &row.auth_method))?,
        access_hash: hash(row.access_hash, "access hash")?,
        refresh_hash: hash(row.refresh_hash, "refresh hash")?,
        created_at: row.created_at,
        family_created_at: row.family_created_at.unwrap_or(row.created_at),
        access_expires_at: row.access_expires_at,
        refresh_expires_at: row.refresh_expires_at,
        absolute_expires_at: row.absolute_expires_at,
        revoked_at: row.revoked_at,
        user_agent: row.user_agent,
        ip_address: row.ip_address,
        device_id: row.device_id,
    })
}
