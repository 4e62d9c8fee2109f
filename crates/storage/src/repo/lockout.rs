//! [`LockoutRepo`] over the `account_lockouts` table. Each admission is one transaction whose
//! first write takes the row's lock (PostgreSQL) or the database's write lock (SQLite), so
//! racing attempts on one account are decided one after the other (R8), and the hard lock can
//! never be overrun.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionTrait,
};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{Admission, Factor, LockRule, LockoutRepo, LockoutState, RepoError};

use super::db_time;
use crate::entity::account_lockout::{self, Column, Entity};
use crate::error::repo_err;

#[derive(Debug, Clone)]
pub struct SqlLockoutRepo {
    db: DatabaseConnection,
}

impl SqlLockoutRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[async_trait]
impl LockoutRepo for SqlLockoutRepo {
    async fn admit(
        &self,
        tenant: TenantId,
        user: UserId,
        factor: Factor,
        rule: &LockRule,
        now: DateTime<Utc>,
    ) -> Result<Admission, RepoError> {
        let now = db_time(now);
        let txn = self.db.begin().await.map_err(repo_err)?;
        let fresh = account_lockout::Model {
            user_id: user.as_uuid(),
            factor: factor.as_str().to_owned(),
            tenant_id: tenant.as_uuid(),
            failures: 0,
            locked_until: None,
            hard_locked_at: None,
            updated_at: now,
        }
        .into_active_model();
        Entity::insert(fresh)
            .on_conflict(
                OnConflict::columns([Column::UserId, Column::Factor])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(repo_err)?;
        // The decision: count the attempt only while no lock holds.
        let mut open = Condition::all()
            .add(Column::UserId.eq(user.as_uuid()))
            .add(Column::Factor.eq(factor.as_str()))
            .add(Column::TenantId.eq(tenant.as_uuid()))
            .add(
                Condition::any()
                    .add(Column::LockedUntil.is_null())
                    .add(Column::LockedUntil.lte(now)),
            );
        if !rule.past_hard_lock {
            open = open.add(Column::HardLockedAt.is_null());
        }
        let counted = Entity::update_many()
            .col_expr(Column::Failures, Expr::col(Column::Failures).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(open)
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        if counted.rows_affected == 0 {
            txn.commit().await.map_err(repo_err)?;
            return Ok(Admission::Refused);
        }
        let row = Entity::find_by_id((user.as_uuid(), factor.as_str().to_owned()))
            .one(&txn)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| RepoError::Internal("lockout row vanished".into()))?;
        let failures = count(row.failures);
        let locked_until = rule
            .delay_after(failures)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d);
        let hard_locked = failures >= rule.hard_at;
        let hard_locked_at = row.hard_locked_at.or(hard_locked.then_some(now));
        Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(locked_until))
            .col_expr(Column::HardLockedAt, Expr::value(hard_locked_at))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::Factor.eq(factor.as_str()))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        txn.commit().await.map_err(repo_err)?;
        Ok(Admission::Admitted {
            failures,
            locked_until,
            hard_locked,
        })
    }

    async fn clear(&self, tenant: TenantId, user: UserId, factor: Factor) -> Result<(), RepoError> {
        Entity::delete_many()
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::Factor.eq(factor.as_str()))
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn get(
        &self,
        tenant: TenantId,
        user: UserId,
        factor: Factor,
    ) -> Result<Option<LockoutState>, RepoError> {
        let row = Entity::find_by_id((user.as_uuid(), factor.as_str().to_owned()))
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(row.map(|r| LockoutState {
            failures: count(r.failures),
            locked_until: r.locked_until,
            hard_locked_at: r.hard_locked_at,
        }))
    }
}
