//! [`LockoutRepo`] over the `account_lockouts` table. Each admission is one upsert statement
//! whose conflict takes the row's lock (PostgreSQL) or the database's write lock (SQLite), so
//! racing attempts on one account are decided one after the other (R8), and the hard lock can
//! never be overrun.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    DeleteStatement, Expr, ExprTrait, Func, InsertStatement, OnConflict, Query,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{Admission, Factor, LockRule, LockoutRepo, LockoutState, RepoError};

use super::db_time;
use crate::entity::account_lockout::{Column, Entity};
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

fn deadline(rule: &LockRule, failures: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rule.delay_after(failures)
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| now + d)
}

/// One admission as a single upsert, so that it costs one round trip and one commit: a first
/// attempt inserts failure number 1; a later one counts `failures + 1` and sets the lock
/// deadlines in the same statement, but only while no lock holds (the `WHERE` of the
/// `DO UPDATE`). The conflict takes the row lock (PostgreSQL) or the write lock (SQLite), so
/// racing attempts are decided one after the other (R8). A refused attempt updates nothing and
/// returns no row.
fn admission(
    tenant: TenantId,
    user: UserId,
    factor: Factor,
    rule: &LockRule,
    now: DateTime<Utc>,
) -> InsertStatement {
    let failures = || Expr::col((Entity, Column::Failures));
    let next = || failures().add(1);
    let hard_at = i32::try_from(rule.hard_at).unwrap_or(i32::MAX);
    let hard_locked_at = Func::coalesce([
        Expr::col((Entity, Column::HardLockedAt)),
        Expr::case(next().gte(hard_at), Expr::value(now))
            .finally(Expr::value(Option::<DateTime<Utc>>::None))
            .into(),
    ]);
    let mut conflict = OnConflict::columns([Column::UserId, Column::Factor]);
    conflict
        .value(Column::Failures, next())
        .value(Column::LockedUntil, locked_until(rule, next(), now))
        .value(Column::HardLockedAt, hard_locked_at)
        .value(Column::UpdatedAt, Expr::value(now))
        .action_and_where(open(tenant, rule, now));
    let first = NewRow {
        failures: 1,
        locked_until: deadline(rule, 1, now),
        hard_locked_at: (1 >= rule.hard_at).then_some(now),
    };
    upsert((tenant, user, factor), first, conflict, now)
}

/// The row an upsert inserts when the account has none yet.
struct NewRow {
    failures: i32,
    locked_until: Option<DateTime<Utc>>,
    hard_locked_at: Option<DateTime<Utc>>,
}

/// `INSERT … ON CONFLICT (user_id, factor) <conflict> RETURNING failures`: the shape of both
/// admissions. A conflict whose `WHERE` refuses updates nothing and returns no row.
fn upsert(
    (tenant, user, factor): (TenantId, UserId, Factor),
    row: NewRow,
    conflict: OnConflict,
    now: DateTime<Utc>,
) -> InsertStatement {
    Query::insert()
        .into_table(Entity)
        .columns([
            Column::UserId,
            Column::Factor,
            Column::TenantId,
            Column::Failures,
            Column::LockedUntil,
            Column::HardLockedAt,
            Column::UpdatedAt,
        ])
        .values_panic([
            user.as_uuid().into(),
            factor.as_str().into(),
            tenant.as_uuid().into(),
            row.failures.into(),
            Expr::value(row.locked_until),
            Expr::value(row.hard_locked_at),
            now.into(),
        ])
        .on_conflict(conflict)
        .returning_col(Column::Failures)
        .to_owned()
}

/// Whether the stored row admits an attempt: the tenant's, no soft lock running and, unless
/// the rule passes it, no hard lock.
fn open(tenant: TenantId, rule: &LockRule, now: DateTime<Utc>) -> Expr {
    let mut open = Expr::col((Entity, Column::TenantId))
        .eq(tenant.as_uuid())
        .and(
            Expr::col((Entity, Column::LockedUntil))
                .is_null()
                .or(Expr::col((Entity, Column::LockedUntil)).lte(now)),
        );
    if !rule.past_hard_lock {
        open = open.and(Expr::col((Entity, Column::HardLockedAt)).is_null());
    }
    open
}

/// The admission of an attempt already known right, as one upsert: a row that admits it is
/// reset to no failures and no locks (what `clear` leaves, but kept as a zero row so that the
/// statement is one upsert on both backends); a locked row is left alone and no row returns.
fn success_admission(
    tenant: TenantId,
    user: UserId,
    factor: Factor,
    rule: &LockRule,
    now: DateTime<Utc>,
) -> InsertStatement {
    let no_time = || Expr::value(Option::<DateTime<Utc>>::None);
    let mut conflict = OnConflict::columns([Column::UserId, Column::Factor]);
    conflict
        .value(Column::Failures, Expr::value(0i32))
        .value(Column::LockedUntil, no_time())
        .value(Column::HardLockedAt, no_time())
        .value(Column::UpdatedAt, Expr::value(now))
        .action_and_where(open(tenant, rule, now));
    let cleared = NewRow {
        failures: 0,
        locked_until: None,
        hard_locked_at: None,
    };
    upsert((tenant, user, factor), cleared, conflict, now)
}

/// `DELETE` of the account's counter for the factor: what ends a run. Also part of the write
/// that records an accepted code (`SqlConsumedChallenges::record`).
pub(crate) fn clearing(tenant: TenantId, user: UserId, factor: Factor) -> DeleteStatement {
    Query::delete()
        .from_table(Entity)
        .and_where(Expr::col(Column::UserId).eq(user.as_uuid()))
        .and_where(Expr::col(Column::Factor).eq(factor.as_str()))
        .and_where(Expr::col(Column::TenantId).eq(tenant.as_uuid()))
        .to_owned()
}

/// The soft-lock deadline after failure number `failures` (an SQL expression), as a `CASE` over
/// the few counts whose delay is still doubling; past those the delay is the maximum.
fn locked_until(rule: &LockRule, failures: Expr, now: DateTime<Utc>) -> Expr {
    let none = Expr::value(Option::<DateTime<Utc>>::None);
    let soft_at = i32::try_from(rule.soft_at).unwrap_or(i32::MAX);
    let mut case = Expr::case(failures.clone().lt(soft_at), none.clone());
    let mut n = rule.soft_at;
    // At most 32 doublings before `delay_after` saturates; the loop ends sooner when the delay
    // reaches the maximum.
    for _ in 0..32 {
        let Some(delay) = rule.delay_after(n) else {
            break;
        };
        if delay >= rule.max_delay {
            break;
        }
        let Ok(count) = i32::try_from(n) else { break };
        case = case.case(
            failures.clone().eq(count),
            Expr::value(deadline(rule, n, now)),
        );
        n = n.saturating_add(1);
    }
    let longest = chrono::Duration::from_std(rule.max_delay)
        .ok()
        .map(|d| now + d);
    case.finally(Expr::value(longest)).into()
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
        let statement = admission(tenant, user, factor, rule, now);
        let Some(row) = self.db.query_one(&statement).await.map_err(repo_err)? else {
            return Ok(Admission::Refused);
        };
        let failures = count(row.try_get::<i32>("", "failures").map_err(repo_err)?);
        Ok(Admission::Admitted {
            failures,
            locked_until: deadline(rule, failures, now),
            hard_locked: failures >= rule.hard_at,
        })
    }

    async fn admit_success(
        &self,
        tenant: TenantId,
        user: UserId,
        factor: Factor,
        rule: &LockRule,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let statement = success_admission(tenant, user, factor, rule, db_time(now));
        let row = self.db.query_one(&statement).await.map_err(repo_err)?;
        Ok(row.is_some())
    }

    async fn clear(&self, tenant: TenantId, user: UserId, factor: Factor) -> Result<(), RepoError> {
        self.db
            .execute(&clearing(tenant, user, factor))
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
        // A zero row (left by `admit_success`) is a cleared counter.
        Ok(row
            .filter(|r| r.failures > 0 || r.locked_until.is_some() || r.hard_locked_at.is_some())
            .map(|r| LockoutState {
                failures: count(r.failures),
                locked_until: r.locked_until,
                hard_locked_at: r.hard_locked_at,
            }))
    }
}
