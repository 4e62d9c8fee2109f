//! [`ApiClientRepo`] over the `api_clients` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use twostep_core::api_client::{ApiClient, ApiKeyHash, Scopes};
use twostep_core::ids::{ApiClientId, TenantId};
use twostep_core::ports::{ApiClientRepo, RepoError};

use super::db_time;
use crate::entity::api_client::{self, ActiveModel, Column, Entity};
use crate::error::{corrupt, repo_err};

/// API clients in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlApiClientRepo {
    db: DatabaseConnection,
}

impl SqlApiClientRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ApiClientRepo for SqlApiClientRepo {
    #[tracing::instrument(skip_all, fields(api_client = %client.id))]
    async fn create(&self, client: &ApiClient) -> Result<(), RepoError> {
        let row = ActiveModel {
            id: Set(client.id.as_uuid()),
            tenant_id: Set(client.tenant.as_uuid()),
            name: Set(client.name.clone()),
            key_hash: Set(client.key_hash.as_bytes().to_vec()),
            scopes: Set(client.scopes.to_list()),
            created_at: Set(db_time(client.created_at)),
            revoked_at: Set(client.revoked_at.map(db_time)),
            last_used_at: Set(client.last_used_at.map(db_time)),
        };
        Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: ApiClientId) -> Result<Option<ApiClient>, RepoError> {
        let row = Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_client).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn list(
        &self,
        tenant: TenantId,
        after: Option<ApiClientId>,
        limit: u32,
        include_revoked: bool,
    ) -> Result<Vec<ApiClient>, RepoError> {
        let mut query = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after.as_uuid()));
        }
        if !include_revoked {
            query = query.filter(Column::RevokedAt.is_null());
        }
        let rows = query
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        rows.into_iter().map(to_client).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn revoke(
        &self,
        tenant: TenantId,
        id: ApiClientId,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiClient>, RepoError> {
        let of_tenant = Condition::all()
            .add(Column::Id.eq(id.as_uuid()))
            .add(Column::TenantId.eq(tenant.as_uuid()));
        Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(db_time(now)))
            .filter(of_tenant.clone())
            .filter(Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        let row = Entity::find()
            .filter(of_tenant)
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_client).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn touch(&self, id: ApiClientId, now: DateTime<Utc>) -> Result<(), RepoError> {
        Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(db_time(now)))
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}

fn to_client(row: api_client::Model) -> Result<ApiClient, RepoError> {
    let hash: [u8; 32] = row
        .key_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("API key hash", "not 32 bytes"))?;
    let scopes = Scopes::parse_list(&row.scopes).map_err(|e| corrupt("API client scopes", e))?;
    Ok(ApiClient {
        id: ApiClientId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        name: row.name,
        scopes,
        key_hash: ApiKeyHash::from_bytes(hash),
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    })
}
