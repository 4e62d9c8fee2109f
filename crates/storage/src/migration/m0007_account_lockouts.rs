//! The account lockout ledger (R9–R11, R39 b): consecutive failures per user and factor
//! (`otp` or `password`), the soft-lock deadline and the hard lock, in SQL so that a Redis
//! flush or failover cannot reopen a lock or reset a count.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string_len, timestamp_with_time_zone, uuid};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AccountLockouts {
    Table,
    UserId,
    Factor,
    TenantId,
    Failures,
    LockedUntil,
    HardLockedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountLockouts::Table)
                    .col(uuid(AccountLockouts::UserId))
                    .col(string_len(AccountLockouts::Factor, 16))
                    .col(uuid(AccountLockouts::TenantId))
                    .col(integer(AccountLockouts::Failures))
                    .col(
                        ColumnDef::new(AccountLockouts::LockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AccountLockouts::HardLockedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp_with_time_zone(AccountLockouts::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(AccountLockouts::UserId)
                            .col(AccountLockouts::Factor),
                    )
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
