//! [`OutboxRepo`] over the `sms_outbox` table.
//!
//! Claiming is one transaction on both engines: select the due rows, mark them `sending`
//! under a fresh claim token, read them back by that token. On PostgreSQL the select takes
//! the rows with `FOR UPDATE SKIP LOCKED`, so concurrent claimers (other instances) lock
//! disjoint rows without waiting for each other; the update re-checks `status = 'queued'`,
//! so even a row that slipped through is claimed once. SQLite has one writer at a time: the
//! transaction is `IMMEDIATE`, so it holds the write lock from its first statement and no
//! other claim interleaves.
//!
//! Every later change of a claimed row (`finish`, `extend_lease`) is one conditional
//! `UPDATE … WHERE id = ? AND claim_token = ? AND status = 'sending'`, so a worker that lost
//! its lease changes nothing. Delivery receipts move a final row forward the same way: one
//! conditional `UPDATE` naming the statuses it may leave, so repeats and races are harmless.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use twostep_core::challenge::Purpose;
use twostep_core::ids::TenantId;
use twostep_core::ports::{
    ClaimedOutboxMessage, ExpiredRows, NewOutboxMessage, OutboxOutcome, OutboxRecord, OutboxRepo,
    OutboxStatus, ReceiptOutcome, ReceiptScope, ReceiptStatus, RepoError, STAND_IN_EXPIRY,
    SealedBody,
};

use super::{db_time, delete_batch};
use crate::entity::sms_outbox::{self, Column, Entity};
use crate::error::{corrupt, repo_err};

/// The outbox rows in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlOutboxRepo {
    db: DatabaseConnection,
}

impl SqlOutboxRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Ends the rows of `slice` past their expiry that no worker holds; returns how many.
    async fn expire_where(
        &self,
        now: DateTime<Utc>,
        held: &[uuid::Uuid],
        slice: sea_orm::sea_query::SimpleExpr,
    ) -> Result<u64, RepoError> {
        let now = db_time(now);
        let unheld = Condition::any().add(status_is(OutboxStatus::Queued)).add(
            Condition::all()
                .add(status_is(OutboxStatus::Sending))
                .add(Column::LeaseUntil.lte(now))
                .add(not_held(held)),
        );
        let res = Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutboxStatus::Expired.as_str()))
            .col_expr(Column::Body, null_body())
            .col_expr(Column::ClaimToken, null_uuid())
            .col_expr(Column::LeaseUntil, null_time())
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::ExpiresAt.lte(now))
            .filter(slice)
            .filter(unheld)
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected)
    }
}

fn status_is(status: OutboxStatus) -> sea_orm::sea_query::SimpleExpr {
    Column::Status.eq(status.as_str())
}

/// The row still held under `claim`.
fn held(id: uuid::Uuid, claim: uuid::Uuid) -> Condition {
    Condition::all()
        .add(Column::Id.eq(id))
        .add(Column::ClaimToken.eq(claim))
        .add(status_is(OutboxStatus::Sending))
}

/// Rows not under one of the caller's own claims (always true when it holds none).
fn not_held(held: &[uuid::Uuid]) -> Condition {
    if held.is_empty() {
        Condition::all()
    } else {
        Condition::all().add(Column::ClaimToken.is_not_in(held.iter().copied()))
    }
}

fn null_time() -> Expr {
    Expr::value(None::<DateTime<Utc>>)
}

fn null_uuid() -> Expr {
    Expr::value(None::<uuid::Uuid>)
}

fn null_body() -> Expr {
    Expr::value(None::<Vec<u8>>)
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[async_trait]
impl OutboxRepo for SqlOutboxRepo {
    #[tracing::instrument(skip_all, fields(outbox_id = %message.id, tenant_id = %message.tenant))]
    async fn enqueue(&self, message: &NewOutboxMessage) -> Result<bool, RepoError> {
        let created_at = db_time(message.created_at);
        // A stand-in is written as its end: the same insert a real message costs (R19), but
        // with no body to erase and no status to change later, so it never comes back as a
        // second version of the row (an UPDATE, and on PostgreSQL a dead tuple to vacuum).
        let (status, body) = if message.is_stand_in() {
            (OutboxStatus::Expired, None)
        } else {
            (OutboxStatus::Queued, Some(message.body.0.clone()))
        };
        let row = sms_outbox::Model {
            id: message.id,
            tenant_id: message.tenant.as_uuid(),
            idempotency_key: message.idempotency_key.clone(),
            purpose: message.purpose.map(|p| p.as_str().to_owned()),
            masked_to: message.masked_to.clone(),
            body,
            key_id: message.key_id.clone(),
            status: status.as_str().to_owned(),
            attempts: 0,
            claim_token: None,
            lease_until: None,
            next_attempt_at: created_at,
            expires_at: db_time(message.expires_at),
            provider: None,
            provider_message_id: None,
            last_error: None,
            created_at,
            updated_at: created_at,
            sent_at: None,
            delivered_at: None,
        };
        let inserted = Entity::insert(row.into_active_model())
            .on_conflict_do_nothing_on([Column::TenantId, Column::IdempotencyKey])
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
    }

    #[tracing::instrument(skip(self))]
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        key_ids: &[String],
    ) -> Result<Vec<ClaimedOutboxMessage>, RepoError> {
        if limit == 0 || key_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = db_time(now);
        let lease_until = db_time(later(now, lease));
        let claim = uuid::Uuid::new_v4();
        // IMMEDIATE takes SQLite's write lock at BEGIN, where the busy timeout applies;
        // PostgreSQL ignores the option.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(repo_err)?;
        let ids: Vec<uuid::Uuid> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(status_is(OutboxStatus::Queued))
            .filter(Column::NextAttemptAt.lte(now))
            .filter(Column::ExpiresAt.gt(now))
            .filter(Column::KeyId.is_in(key_ids.iter().map(String::as_str)))
            .order_by_asc(Column::NextAttemptAt)
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            // Rendered on PostgreSQL only; SQLite's IMMEDIATE transaction already excludes
            // every other writer.
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_tuple()
            .all(&txn)
            .await
            .map_err(repo_err)?;
        if ids.is_empty() {
            txn.commit().await.map_err(repo_err)?;
            return Ok(Vec::new());
        }
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutboxStatus::Sending.as_str()))
            .col_expr(Column::ClaimToken, Expr::value(claim))
            .col_expr(Column::LeaseUntil, Expr::value(lease_until))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.is_in(ids))
            .filter(status_is(OutboxStatus::Queued))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        let rows = Entity::find()
            .filter(Column::ClaimToken.eq(claim))
            .filter(status_is(OutboxStatus::Sending))
            .order_by_asc(Column::NextAttemptAt)
            .order_by_asc(Column::Id)
            .all(&txn)
            .await
            .map_err(repo_err)?;
        txn.commit().await.map_err(repo_err)?;
        rows.into_iter().map(to_claimed).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn extend_lease(
        &self,
        id: uuid::Uuid,
        claim: uuid::Uuid,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let res = Entity::update_many()
            .col_expr(Column::LeaseUntil, Expr::value(db_time(lease_until)))
            .filter(held(id, claim))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected == 1)
    }

    #[tracing::instrument(skip(self, outcome))]
    async fn finish(
        &self,
        id: uuid::Uuid,
        claim: uuid::Uuid,
        outcome: &OutboxOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let now = db_time(now);
        let mut update = Entity::update_many()
            .col_expr(Column::ClaimToken, null_uuid())
            .col_expr(Column::LeaseUntil, null_time())
            .col_expr(Column::UpdatedAt, Expr::value(now));
        update = match outcome {
            OutboxOutcome::Sent {
                provider,
                provider_message_id,
            } => update
                .col_expr(Column::Status, Expr::value(OutboxStatus::Sent.as_str()))
                .col_expr(Column::Body, null_body())
                .col_expr(Column::Provider, Expr::value(provider.clone()))
                .col_expr(
                    Column::ProviderMessageId,
                    Expr::value(provider_message_id.clone()),
                )
                .col_expr(Column::SentAt, Expr::value(now)),
            OutboxOutcome::Retry {
                next_attempt_at,
                error,
            } => update
                .col_expr(Column::Status, Expr::value(OutboxStatus::Queued.as_str()))
                .col_expr(
                    Column::NextAttemptAt,
                    Expr::value(db_time(*next_attempt_at)),
                )
                .col_expr(Column::LastError, Expr::value(error.clone())),
            OutboxOutcome::Failed { error } => update
                .col_expr(Column::Status, Expr::value(OutboxStatus::Failed.as_str()))
                .col_expr(Column::Body, null_body())
                .col_expr(Column::LastError, Expr::value(error.clone())),
            OutboxOutcome::Expired { error } => {
                let update = update
                    .col_expr(Column::Status, Expr::value(OutboxStatus::Expired.as_str()))
                    .col_expr(Column::Body, null_body());
                match error {
                    Some(error) => update.col_expr(Column::LastError, Expr::value(error.clone())),
                    None => update,
                }
            }
        };
        let res = update
            .filter(held(id, claim))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected == 1)
    }

    #[tracing::instrument(skip(self))]
    async fn requeue_abandoned(
        &self,
        now: DateTime<Utc>,
        held: &[uuid::Uuid],
    ) -> Result<u64, RepoError> {
        let now = db_time(now);
        let res = Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutboxStatus::Queued.as_str()))
            .col_expr(Column::ClaimToken, null_uuid())
            .col_expr(Column::LeaseUntil, null_time())
            .col_expr(Column::NextAttemptAt, Expr::value(now))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(status_is(OutboxStatus::Sending))
            .filter(Column::LeaseUntil.lte(now))
            .filter(Column::ExpiresAt.gt(now))
            .filter(not_held(held))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected)
    }

    #[tracing::instrument(skip(self))]
    async fn expire_due(
        &self,
        now: DateTime<Utc>,
        held: &[uuid::Uuid],
    ) -> Result<ExpiredRows, RepoError> {
        // Two statements, so that stand-ins are counted apart without reading rows back.
        let stand_ins = self
            .expire_where(now, held, Column::ExpiresAt.lte(STAND_IN_EXPIRY))
            .await?;
        let missed = self
            .expire_where(now, held, Column::ExpiresAt.gt(STAND_IN_EXPIRY))
            .await?;
        Ok(ExpiredRows { missed, stand_ins })
    }

    #[tracing::instrument(skip(self))]
    async fn prune_finished(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        let finished = OutboxStatus::ALL
            .into_iter()
            .filter(|status| status.is_final())
            .map(OutboxStatus::as_str);
        // The batch walks the (status, expires_at) index of the expiry sweep.
        let batch = Query::select()
            .column(Column::Id)
            .from(Entity)
            .and_where(Column::Status.is_in(finished))
            .and_where(Column::ExpiresAt.lt(db_time(before)))
            .limit(u64::from(limit))
            .to_owned();
        delete_batch::<Entity>(&self.db, Column::Id, batch).await
    }

    #[tracing::instrument(skip(self, status))]
    async fn record_receipt(
        &self,
        scope: ReceiptScope,
        provider: &str,
        provider_message_id: &str,
        status: &ReceiptStatus,
        now: DateTime<Utc>,
    ) -> Result<ReceiptOutcome, RepoError> {
        if provider_message_id.is_empty() {
            return Ok(ReceiptOutcome::UnknownMessage);
        }
        let now = db_time(now);
        let mut this_message = Condition::all()
            .add(Column::Provider.eq(provider))
            .add(Column::ProviderMessageId.eq(provider_message_id));
        if let ReceiptScope::Tenant(tenant) = scope {
            this_message = this_message.add(Column::TenantId.eq(tenant.as_uuid()));
        }
        // One conditional UPDATE per move, so concurrent receipts (providers retry, and
        // several instances may take them) never move a row backwards.
        let (to, rows) = match status {
            ReceiptStatus::Sent => (OutboxStatus::Sent, 0),
            ReceiptStatus::Delivered => {
                let res = Entity::update_many()
                    .col_expr(
                        Column::Status,
                        Expr::value(OutboxStatus::Delivered.as_str()),
                    )
                    .col_expr(Column::DeliveredAt, Expr::value(now))
                    .col_expr(Column::UpdatedAt, Expr::value(now))
                    .filter(this_message.clone())
                    .filter(
                        Column::Status
                            .is_in([OutboxStatus::Sent.as_str(), OutboxStatus::Failed.as_str()]),
                    )
                    .exec(&self.db)
                    .await
                    .map_err(repo_err)?;
                (OutboxStatus::Delivered, res.rows_affected)
            }
            ReceiptStatus::Failed { reason } => {
                let res = Entity::update_many()
                    .col_expr(Column::Status, Expr::value(OutboxStatus::Failed.as_str()))
                    .col_expr(Column::LastError, Expr::value(reason.clone()))
                    .col_expr(Column::UpdatedAt, Expr::value(now))
                    .filter(this_message.clone())
                    .filter(status_is(OutboxStatus::Sent))
                    .exec(&self.db)
                    .await
                    .map_err(repo_err)?;
                (OutboxStatus::Failed, res.rows_affected)
            }
        };
        if rows > 0 {
            return Ok(ReceiptOutcome::Recorded(to));
        }
        let current: Option<String> = Entity::find()
            .select_only()
            .column(Column::Status)
            .filter(this_message)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        match current {
            None => Ok(ReceiptOutcome::UnknownMessage),
            Some(raw) => {
                let status =
                    OutboxStatus::parse(&raw).ok_or_else(|| corrupt("outbox status", &raw))?;
                Ok(ReceiptOutcome::Unchanged(status))
            }
        }
    }

    #[tracing::instrument(skip(self))]
    async fn find(&self, id: uuid::Uuid) -> Result<Option<OutboxRecord>, RepoError> {
        Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(repo_err)?
            .map(to_record)
            .transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_key(
        &self,
        tenant: TenantId,
        idempotency_key: &str,
    ) -> Result<Option<OutboxRecord>, RepoError> {
        Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::IdempotencyKey.eq(idempotency_key))
            .one(&self.db)
            .await
            .map_err(repo_err)?
            .map(to_record)
            .transpose()
    }
}

fn purpose(row: &sms_outbox::Model) -> Result<Option<Purpose>, RepoError> {
    row.purpose
        .as_deref()
        .map(|p| Purpose::parse(p).ok_or_else(|| corrupt("outbox purpose", p)))
        .transpose()
}

fn attempts(row: &sms_outbox::Model) -> Result<u32, RepoError> {
    u32::try_from(row.attempts).map_err(|_| corrupt("outbox attempts", row.attempts))
}

fn to_claimed(row: sms_outbox::Model) -> Result<ClaimedOutboxMessage, RepoError> {
    let purpose = purpose(&row)?;
    let attempts = attempts(&row)?;
    let (Some(claim), Some(lease_until)) = (row.claim_token, row.lease_until) else {
        return Err(corrupt(
            "outbox claim",
            "claimed row without token or lease",
        ));
    };
    let Some(body) = row.body else {
        return Err(corrupt("outbox body", "claimed row without body"));
    };
    Ok(ClaimedOutboxMessage {
        id: row.id,
        tenant: TenantId::from_uuid(row.tenant_id),
        claim,
        idempotency_key: row.idempotency_key,
        purpose,
        masked_to: row.masked_to,
        body: SealedBody(body),
        key_id: row.key_id,
        attempts,
        created_at: row.created_at,
        expires_at: row.expires_at,
        lease_until,
    })
}

fn to_record(row: sms_outbox::Model) -> Result<OutboxRecord, RepoError> {
    let purpose = purpose(&row)?;
    let attempts = attempts(&row)?;
    let status =
        OutboxStatus::parse(&row.status).ok_or_else(|| corrupt("outbox status", &row.status))?;
    Ok(OutboxRecord {
        id: row.id,
        tenant: TenantId::from_uuid(row.tenant_id),
        idempotency_key: row.idempotency_key,
        purpose,
        masked_to: row.masked_to,
        status,
        attempts,
        provider: row.provider,
        provider_message_id: row.provider_message_id,
        last_error: row.last_error,
        has_body: row.body.is_some(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: row.expires_at,
        next_attempt_at: row.next_attempt_at,
        lease_until: row.lease_until,
        sent_at: row.sent_at,
        delivered_at: row.delivered_at,
    })
}
