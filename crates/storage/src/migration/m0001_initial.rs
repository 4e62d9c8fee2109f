//! Tenants, users and sessions.
//!
//! Index names matter: the repositories tell which unique field a write violated from the
//! constraint name (PostgreSQL) or the column list (SQLite) in the error, so every unique
//! index on users carries `email` or `phone` in its name and its columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    blob, boolean, pk_uuid, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenants(manager).await?;
        create_users(manager).await?;
        create_sessions(manager).await
    }

    /// Wrapped in a transaction on SQLite too (the default is none there), so that a failure
    /// halfway leaves no half-made schema behind.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    AppName,
    Policy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Email,
    DisplayName,
    PasswordHash,
    PhoneE164,
    PhoneVerifiedAt,
    TwoStepEnabled,
    Role,
    MustChangePassword,
    LockedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    FamilyId,
    TenantId,
    UserId,
    Role,
    AuthMethod,
    AccessHash,
    RefreshHash,
    CreatedAt,
    AccessExpiresAt,
    RefreshExpiresAt,
    AbsoluteExpiresAt,
    RevokedAt,
    UserAgent,
    IpAddress,
}

async fn create_tenants(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Tenants::Table)
                .col(pk_uuid(Tenants::Id))
                .col(text(Tenants::Slug))
                .col(text(Tenants::Name))
                .col(text(Tenants::AppName))
                // JSON as text: portable, and read back through serde into `Policy`.
                .col(text(Tenants::Policy))
                .col(timestamp_with_time_zone(Tenants::CreatedAt))
                .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ux_tenants_slug")
                .table(Tenants::Table)
                .col(Tenants::Slug)
                .unique()
                .to_owned(),
        )
        .await
}

async fn create_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_uuid(Users::Id))
                .col(uuid(Users::TenantId))
                .col(text_null(Users::Email))
                .col(text(Users::DisplayName))
                .col(text_null(Users::PasswordHash))
                .col(text_null(Users::PhoneE164))
                .col(timestamp_with_time_zone_null(Users::PhoneVerifiedAt))
                .col(boolean(Users::TwoStepEnabled))
                .col(text(Users::Role))
                .col(boolean(Users::MustChangePassword))
                .col(timestamp_with_time_zone_null(Users::LockedAt))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_users_tenant")
                        .from(Users::Table, Users::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ux_users_tenant_email")
                .table(Users::Table)
                .col(Users::TenantId)
                .col(Users::Email)
                .unique()
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_users_tenant_phone")
                .table(Users::Table)
                .col(Users::TenantId)
                .col(Users::PhoneE164)
                .to_owned(),
        )
        .await?;
    // A number is unique per tenant among verified numbers only: two users may have typed the
    // same number before either proved it. sea-query has no portable partial index, but this
    // statement reads the same on SQLite and PostgreSQL.
    manager
        .get_connection()
        .execute_unprepared(
            "CREATE UNIQUE INDEX ux_users_tenant_verified_phone \
             ON users (tenant_id, phone_e164) WHERE phone_verified_at IS NOT NULL",
        )
        .await?;
    Ok(())
}

async fn create_sessions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Sessions::Table)
                .col(pk_uuid(Sessions::Id))
                .col(uuid(Sessions::FamilyId))
                .col(uuid(Sessions::TenantId))
                .col(uuid(Sessions::UserId))
                .col(text(Sessions::Role))
                .col(text(Sessions::AuthMethod))
                .col(blob(Sessions::AccessHash))
                .col(blob(Sessions::RefreshHash))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::AccessExpiresAt))
                .col(timestamp_with_time_zone(Sessions::RefreshExpiresAt))
                .col(timestamp_with_time_zone(Sessions::AbsoluteExpiresAt))
                .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                .col(text(Sessions::UserAgent))
                .col(text(Sessions::IpAddress))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_sessions_tenant")
                        .from(Sessions::Table, Sessions::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_sessions_user")
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    let indexes = [
        ("ux_sessions_access_hash", vec![Sessions::AccessHash], true),
        (
            "ux_sessions_refresh_hash",
            vec![Sessions::RefreshHash],
            true,
        ),
        (
            "ix_sessions_tenant_user",
            vec![Sessions::TenantId, Sessions::UserId],
            false,
        ),
        ("ix_sessions_family", vec![Sessions::FamilyId], false),
    ];
    for (name, cols, unique) in indexes {
        let mut index = Index::create();
        index.name(name).table(Sessions::Table);
        for col in cols {
            index.col(col);
        }
        if unique {
            index.unique();
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}
