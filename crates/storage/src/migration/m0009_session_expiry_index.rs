//! An index on `sessions.absolute_expires_at`, so that deleting the sessions whose family
//! can no longer be used (`SessionRepo::prune_ended`) reads only those rows, however large
//! the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    AbsoluteExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_absolute_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::AbsoluteExpiresAt)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
