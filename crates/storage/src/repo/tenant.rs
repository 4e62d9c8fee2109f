//! [`TenantRepo`] over the `tenants` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use twostep_core::ids::TenantId;
use twostep_core::ports::{RepoError, TenantRepo, TenantUpdate};
use twostep_core::tenant::{Policy, Tenant};

use super::db_time;
use crate::entity::tenant::{self, ActiveModel, Column, Entity};
use crate::error::{corrupt, repo_err};

/// Tenants in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlTenantRepo {
    db: DatabaseConnection,
}

impl SqlTenantRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl TenantRepo for SqlTenantRepo {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
    async fn create(&self, tenant: &Tenant) -> Result<(), RepoError> {
        let created_at = db_time(tenant.created_at);
        let row = ActiveModel {
            id: Set(tenant.id.as_uuid()),
            slug: Set(tenant.slug.clone()),
            name: Set(tenant.name.clone()),
            app_name: Set(tenant.app_name.clone()),
            policy: Set(policy_json(&tenant.policy)?),
            created_at: Set(created_at),
            updated_at: Set(created_at),
        };
        Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: TenantId) -> Result<Option<Tenant>, RepoError> {
        let row = Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_tenant).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn get_by_slug(&self, slug: &str) -> Result<Option<Tenant>, RepoError> {
        let row = Entity::find()
            .filter(Column::Slug.eq(slug))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_tenant).transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn list(&self, after: Option<TenantId>, limit: u32) -> Result<Vec<Tenant>, RepoError> {
        let mut query = Entity::find();
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after.as_uuid()));
        }
        let rows = query
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        rows.into_iter().map(to_tenant).collect()
    }

    #[tracing::instrument(skip(self, policy))]
    async fn update_policy(
        &self,
        id: TenantId,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError> {
        let res = Entity::update_many()
            .col_expr(Column::Policy, Expr::value(policy_json(policy)?))
            .col_expr(Column::UpdatedAt, Expr::value(db_time(now)))
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        if res.rows_affected == 0 {
            return Ok(None);
        }
        self.get(id).await
    }

    #[tracing::instrument(skip(self, change))]
    async fn update(
        &self,
        id: TenantId,
        change: &TenantUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError> {
        let mut update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(db_time(now)))
            .filter(Column::Id.eq(id.as_uuid()));
        if let Some(name) = change.name {
            update = update.col_expr(Column::Name, Expr::value(name));
        }
        if let Some(app_name) = change.app_name {
            update = update.col_expr(Column::AppName, Expr::value(app_name));
        }
        if let Some(policy) = change.policy {
            update = update.col_expr(Column::Policy, Expr::value(policy_json(policy)?));
        }
        let res = update.exec(&self.db).await.map_err(repo_err)?;
        if res.rows_affected == 0 {
            return Ok(None);
        }
        self.get(id).await
    }
}

fn policy_json(policy: &Policy) -> Result<String, RepoError> {
    serde_json::to_string(policy).map_err(|e| RepoError::Internal(Box::new(e)))
}

fn to_tenant(row: tenant::Model) -> Result<Tenant, RepoError> {
    let policy = serde_json::from_str(&row.policy).map_err(|e| corrupt("tenant policy", e))?;
    Ok(Tenant {
        id: TenantId::from_uuid(row.id),
        slug: row.slug,
        name: row.name,
        app_name: row.app_name,
        policy,
        created_at: row.created_at,
    })
}
