//! [`AuditLog`] over the `audit_events` table.
//!
//! Events are listed newest first in the order `(at DESC, id DESC)`, the id breaking ties
//! between events of the same microsecond. The `before` cursor is the id of the last event of
//! the previous page: the next page holds the events strictly after it in that order. A cursor
//! that names no event of the tenant yields an empty page rather than the first one again.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use twostep_core::audit::{Actor, AuditEvent, AuditFilter, AuditKind};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{AuditLog, AuditRetention, RepoError};

use super::{db_time, delete_batch};
use crate::entity::audit_event::{self, Column, Entity};
use crate::error::{corrupt, repo_err};

const ACTOR_USER: &str = "user";
const ACTOR_API_CLIENT: &str = "api_client";
const ACTOR_SYSTEM: &str = "system";

/// The audit log in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlAuditLog {
    db: DatabaseConnection,
}

impl SqlAuditLog {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditLog for SqlAuditLog {
    #[tracing::instrument(
        skip_all,
        fields(event_id = %event.id, tenant_id = %event.tenant, kind = event.kind.as_str())
    )]
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError> {
        Entity::insert(to_row(event)?.into_active_model())
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(count = events.len()))]
    async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), RepoError> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = events
            .iter()
            .map(|e| to_row(e).map(IntoActiveModel::into_active_model))
            .collect::<Result<Vec<_>, _>>()?;
        Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    #[tracing::instrument(skip(self, filter))]
    async fn list(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        before: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, RepoError> {
        let mut cond = Condition::all().add(Column::TenantId.eq(tenant.as_uuid()));
        if let Some(user) = filter.user {
            cond = cond.add(Column::UserId.eq(user.as_uuid()));
        }
        if !filter.kinds.is_empty() {
            cond = cond.add(Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
        }
        if let Some(since) = filter.since {
            cond = cond.add(Column::At.gte(db_time(since)));
        }
        if let Some(until) = filter.until {
            cond = cond.add(Column::At.lt(db_time(until)));
        }
        if let Some(before) = before {
            // The cursor's own time, looked up within the tenant; `(at, id) < (cursor)` is
            // spelled out rather than as a row value so that it reads the same everywhere.
            let cursor_at = Entity::find_by_id(before)
                .filter(Column::TenantId.eq(tenant.as_uuid()))
                .select_only()
                .column(Column::At)
                .into_tuple::<chrono::DateTime<chrono::Utc>>()
                .one(&self.db)
                .await
                .map_err(repo_err)?;
            let Some(cursor_at) = cursor_at else {
                return Ok(Vec::new());
            };
            cond = cond.add(
                Condition::any().add(Column::At.lt(cursor_at)).add(
                    Condition::all()
                        .add(Column::At.eq(cursor_at))
                        .add(Column::Id.lt(before)),
                ),
            );
        }
        let rows = Entity::find()
            .filter(cond)
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        rows.into_iter().map(to_event).collect()
    }
}

#[async_trait]
impl AuditRetention for SqlAuditLog {
    #[tracing::instrument(skip(self))]
    async fn prune_before(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        // The batch walks `ix_audit_events_at`.
        let batch = Query::select()
            .column(Column::Id)
            .from(Entity)
            .and_where(Column::At.lt(db_time(before)))
            .limit(u64::from(limit))
            .to_owned();
        delete_batch::<Entity>(&self.db, Column::Id, batch).await
    }
}

fn to_row(e: &AuditEvent) -> Result<audit_event::Model, RepoError> {
    let (actor_kind, actor_id) = match &e.actor {
        Actor::User(id) => (ACTOR_USER, id.to_string()),
        Actor::ApiClient(id) => (ACTOR_API_CLIENT, id.clone()),
        Actor::System => (ACTOR_SYSTEM, String::new()),
    };
    let details =
        serde_json::to_string(&e.details).map_err(|e| RepoError::Internal(Box::new(e)))?;
    Ok(audit_event::Model {
        id: e.id,
        tenant_id: e.tenant.as_uuid(),
        at: db_time(e.at),
        actor_kind: actor_kind.to_owned(),
        actor_id,
        user_id: e.user.map(|u| u.as_uuid()),
        kind: e.kind.as_str().to_owned(),
        masked_phone: e.masked_phone.clone(),
        client_ip: e.client_ip.clone(),
        user_agent: e.user_agent.clone(),
        details,
    })
}

fn to_event(row: audit_event::Model) -> Result<AuditEvent, RepoError> {
    let actor = match row.actor_kind.as_str() {
        ACTOR_USER => Actor::User(
            row.actor_id
                .parse()
                .map_err(|_| corrupt("audit actor id", &row.actor_id))?,
        ),
        ACTOR_API_CLIENT => Actor::ApiClient(row.actor_id),
        ACTOR_SYSTEM => Actor::System,
        other => return Err(corrupt("audit actor kind", other)),
    };
    let kind = AuditKind::parse(&row.kind).ok_or_else(|| corrupt("audit kind", &row.kind))?;
    let details: BTreeMap<String, String> =
        serde_json::from_str(&row.details).map_err(|e| corrupt("audit details", e))?;
    Ok(AuditEvent {
        id: row.id,
        at: row.at,
        tenant: TenantId::from_uuid(row.tenant_id),
        actor,
        user: row.user_id.map(UserId::from_uuid),
        kind,
        masked_phone: row.masked_phone,
        client_ip: row.client_ip,
        user_agent: row.user_agent,
        details,
    })
}
