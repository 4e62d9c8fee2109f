//! The ledger of accepted codes (R39 a): one row per consumed challenge, keyed by its id, so a
//! code that a Redis failover revives cannot be accepted twice. Rows are pruned after a day;
//! no challenge lives longer than ten minutes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{timestamp_with_time_zone, uuid};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ConsumedChallenges {
    Table,
    ChallengeId,
    TenantId,
    ConsumedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsumedChallenges::Table)
                    .col(uuid(ConsumedChallenges::ChallengeId).primary_key())
                    .col(uuid(ConsumedChallenges::TenantId))
                    .col(timestamp_with_time_zone(ConsumedChallenges::ConsumedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_consumed_challenges_consumed_at")
                    .table(ConsumedChallenges::Table)
                    .col(ConsumedChallenges::ConsumedAt)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
