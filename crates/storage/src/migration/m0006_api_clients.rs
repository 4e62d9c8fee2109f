//! API clients: the calling services' keys, bound to one tenant and to scopes. A key is stored
//! only as its SHA-256 (32 bytes); the id it carries is the primary key, so authentication is
//! one lookup by primary key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    blob, text, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    Id,
    TenantId,
    Name,
    KeyHash,
    /// Comma-separated scope names (`auth,admin`).
    Scopes,
    CreatedAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiClients::Table)
                    .col(uuid(ApiClients::Id).primary_key())
                    .col(uuid(ApiClients::TenantId))
                    .col(text(ApiClients::Name))
                    .col(blob(ApiClients::KeyHash))
                    .col(text(ApiClients::Scopes))
                    .col(timestamp_with_time_zone(ApiClients::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiClients::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiClients::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_clients_tenant")
                            .from(ApiClients::Table, ApiClients::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Lists are per tenant, in id order.
        manager
            .create_index(
                Index::create()
                    .name("ix_api_clients_tenant_id")
                    .table(ApiClients::Table)
                    .col(ApiClients::TenantId)
                    .col(ApiClients::Id)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
