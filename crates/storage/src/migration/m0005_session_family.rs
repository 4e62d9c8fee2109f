//! Sessions remember when their family was born (the login) and the client's device id, so
//! that a listing shows the login time rather than the last rotation's.
//!
//! `family_created_at` is nullable only for rows written before this migration; it is filled
//! here from the oldest row of each family (rows already pruned cannot be recovered, so that
//! is the best known login time), and every new row sets it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    FamilyCreatedAt,
    DeviceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(timestamp_with_time_zone_null(Sessions::FamilyCreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(text(Sessions::DeviceId).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE sessions SET family_created_at = \
                 (SELECT MIN(f.created_at) FROM sessions f WHERE f.family_id = sessions.family_id) \
                 WHERE family_created_at IS NULL",
            )
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
