//! The durable SMS outbox (`sms_outbox`): one row per message, see `ports::OutboxRepo`.
//!
//! `body` holds the message sealed by the outbox adapter (encrypted number and text) and is
//! set to NULL once the row is final, so no column ever holds a code in clear. The tenant is
//! named by id without a foreign key, like the audit log: the record of a send outlives what
//! it is about.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    blob_null, integer, pk_uuid, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_sms_outbox(manager).await
    }

    /// Wrapped in a transaction on SQLite too, like `m0001_initial`.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum SmsOutbox {
    Table,
    Id,
    TenantId,
    IdempotencyKey,
    Purpose,
    MaskedTo,
    Body,
    KeyId,
    Status,
    Attempts,
    ClaimToken,
    LeaseUntil,
    NextAttemptAt,
    ExpiresAt,
    Provider,
    ProviderMessageId,
    LastError,
    CreatedAt,
    UpdatedAt,
    SentAt,
    DeliveredAt,
}

async fn create_sms_outbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(SmsOutbox::Table)
                .col(pk_uuid(SmsOutbox::Id))
                .col(uuid(SmsOutbox::TenantId))
                .col(text(SmsOutbox::IdempotencyKey))
                .col(text_null(SmsOutbox::Purpose))
                .col(text(SmsOutbox::MaskedTo))
                // Sealed (nonce, ciphertext, tag); NULL once the row is final.
                .col(blob_null(SmsOutbox::Body))
                // A fingerprint of the key that sealed the body: workers claim only rows
                // they can open.
                .col(text(SmsOutbox::KeyId))
                // queued, sending, sent, delivered, failed, expired.
                .col(text(SmsOutbox::Status))
                .col(integer(SmsOutbox::Attempts).default(0))
                .col(uuid_null(SmsOutbox::ClaimToken))
                .col(timestamp_with_time_zone_null(SmsOutbox::LeaseUntil))
                .col(timestamp_with_time_zone(SmsOutbox::NextAttemptAt))
                .col(timestamp_with_time_zone(SmsOutbox::ExpiresAt))
                .col(text_null(SmsOutbox::Provider))
                .col(text_null(SmsOutbox::ProviderMessageId))
                .col(text_null(SmsOutbox::LastError))
                .col(timestamp_with_time_zone(SmsOutbox::CreatedAt))
                .col(timestamp_with_time_zone(SmsOutbox::UpdatedAt))
                .col(timestamp_with_time_zone_null(SmsOutbox::SentAt))
                .col(timestamp_with_time_zone_null(SmsOutbox::DeliveredAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ux_sms_outbox_tenant_idempotency_key")
                .table(SmsOutbox::Table)
                .col(SmsOutbox::TenantId)
                .col(SmsOutbox::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
    // The worker's scans: due queued rows, expired unfinished rows, lapsed leases.
    manager
        .create_index(
            Index::create()
                .name("ix_sms_outbox_status_next_attempt")
                .table(SmsOutbox::Table)
                .col(SmsOutbox::Status)
                .col(SmsOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_sms_outbox_status_expires")
                .table(SmsOutbox::Table)
                .col(SmsOutbox::Status)
                .col(SmsOutbox::ExpiresAt)
                .to_owned(),
        )
        .await?;
    // Delivery receipts name the provider's message id.
    manager
        .create_index(
            Index::create()
                .name("ix_sms_outbox_provider_message")
                .table(SmsOutbox::Table)
                .col(SmsOutbox::Provider)
                .col(SmsOutbox::ProviderMessageId)
                .to_owned(),
        )
        .await
}
