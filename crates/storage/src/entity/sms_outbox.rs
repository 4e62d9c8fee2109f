//! A row of `sms_outbox`. `status` is `OutboxStatus::as_str`, `purpose` is `Purpose::as_str`;
//! `body` is the sealed message, NULL once the row is final.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub idempotency_key: String,
    pub purpose: Option<String>,
    pub masked_to: String,
    pub body: Option<Vec<u8>>,
    pub key_id: String,
    pub status: String,
    pub attempts: i32,
    pub claim_token: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub next_attempt_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
