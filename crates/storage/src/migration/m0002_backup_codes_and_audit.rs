//! Backup codes and the audit log.
//!
//! Backup codes belong to their user and go with it. Audit events name their tenant and user
//! by id only, without foreign keys: the record of what happened outlives what it is about.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    pk_uuid, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
    uuid_null,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_backup_codes(manager).await?;
        create_audit_events(manager).await
    }

    /// Wrapped in a transaction on SQLite too, like `m0001_initial`.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum BackupCodes {
    Table,
    Id,
    TenantId,
    UserId,
    Hash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    At,
    ActorKind,
    ActorId,
    UserId,
    Kind,
    MaskedPhone,
    ClientIp,
    UserAgent,
    Details,
}

async fn create_backup_codes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(BackupCodes::Table)
                .col(pk_uuid(BackupCodes::Id))
                .col(uuid(BackupCodes::TenantId))
                .col(uuid(BackupCodes::UserId))
                // An argon2id PHC string, never the code.
                .col(text(BackupCodes::Hash))
                .col(timestamp_with_time_zone(BackupCodes::CreatedAt))
                .col(timestamp_with_time_zone_null(BackupCodes::UsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_backup_codes_tenant")
                        .from(BackupCodes::Table, BackupCodes::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_backup_codes_user")
                        .from(BackupCodes::Table, BackupCodes::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_backup_codes_tenant_user")
                .table(BackupCodes::Table)
                .col(BackupCodes::TenantId)
                .col(BackupCodes::UserId)
                .to_owned(),
        )
        .await
}

async fn create_audit_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(pk_uuid(AuditEvents::Id))
                .col(uuid(AuditEvents::TenantId))
                .col(timestamp_with_time_zone(AuditEvents::At))
                .col(text(AuditEvents::ActorKind))
                .col(text(AuditEvents::ActorId))
                .col(uuid_null(AuditEvents::UserId))
                .col(text(AuditEvents::Kind))
                .col(text_null(AuditEvents::MaskedPhone))
                .col(text_null(AuditEvents::ClientIp))
                .col(text(AuditEvents::UserAgent))
                // JSON object of strings, as text: portable, read back through serde.
                .col(text(AuditEvents::Details))
                .to_owned(),
        )
        .await?;
    // Every listing is one tenant's, newest first, optionally narrowed to a user or a kind;
    // `id` ends each index so that ties on `at` are ordered by the index too.
    let indexes = [
        (
            "ix_audit_events_tenant_at",
            vec![AuditEvents::TenantId, AuditEvents::At, AuditEvents::Id],
        ),
        (
            "ix_audit_events_tenant_user_at",
            vec![
                AuditEvents::TenantId,
                AuditEvents::UserId,
                AuditEvents::At,
                AuditEvents::Id,
            ],
        ),
        (
            "ix_audit_events_tenant_kind_at",
            vec![
                AuditEvents::TenantId,
                AuditEvents::Kind,
                AuditEvents::At,
                AuditEvents::Id,
            ],
        ),
    ];
    for (name, cols) in indexes {
        let mut index = Index::create();
        index.name(name).table(AuditEvents::Table);
        for col in cols {
            index.col(col);
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}
