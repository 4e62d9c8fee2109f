//! [`SmsSettingsRepo`] over the `tenant_sms_settings` table: one row per tenant, replaced as
//! a whole by an upsert.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, IntoActiveModel};
use twostep_core::ids::TenantId;
use twostep_core::ports::{RepoError, SealedBody, SmsSettingsRecord, SmsSettingsRepo};

use super::db_time;
use crate::entity::tenant_sms_settings::{Column, Entity, Model};
use crate::error::repo_err;

#[derive(Debug, Clone)]
pub struct SqlSmsSettingsRepo {
    db: DatabaseConnection,
}

impl SqlSmsSettingsRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SmsSettingsRepo for SqlSmsSettingsRepo {
    async fn get(&self, tenant: TenantId) -> Result<Option<SmsSettingsRecord>, RepoError> {
        let row = Entity::find_by_id(tenant.as_uuid())
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(row.map(|m| SmsSettingsRecord {
            tenant,
            public: m.public,
            sealed: SealedBody(m.sealed),
            key_id: m.key_id,
            updated_at: m.updated_at,
        }))
    }

    async fn put(&self, record: &SmsSettingsRecord) -> Result<(), RepoError> {
        let row = Model {
            tenant_id: record.tenant.as_uuid(),
            public: record.public.clone(),
            sealed: record.sealed.0.clone(),
            key_id: record.key_id.clone(),
            updated_at: db_time(record.updated_at),
        }
        .into_active_model();
        Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::TenantId)
                    .update_columns([
                        Column::Public,
                        Column::Sealed,
                        Column::KeyId,
                        Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}
