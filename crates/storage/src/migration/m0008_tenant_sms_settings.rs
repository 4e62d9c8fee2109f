//! A tenant's own SMS settings (AdminService/SetSmsProviders): one row per tenant. `public`
//! is a JSON document without secrets (providers' settings, test numbers, templates);
//! `sealed` holds the secrets (provider credentials, test numbers' fixed codes) encrypted by
//! the sms-gateway under the key `key_id` names, so a dump holds no credential or code.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{blob, text, timestamp_with_time_zone, uuid};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum TenantSmsSettings {
    Table,
    TenantId,
    Public,
    Sealed,
    KeyId,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantSmsSettings::Table)
                    .col(uuid(TenantSmsSettings::TenantId).primary_key())
                    .col(text(TenantSmsSettings::Public))
                    .col(blob(TenantSmsSettings::Sealed))
                    .col(text(TenantSmsSettings::KeyId))
                    .col(timestamp_with_time_zone(TenantSmsSettings::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
