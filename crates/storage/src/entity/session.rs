//! A row of `sessions`. Tokens appear only as their SHA-256 (32 bytes each).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub family_id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub auth_method: String,
    pub access_hash: Vec<u8>,
    pub refresh_hash: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub access_expires_at: DateTimeUtc,
    pub refresh_expires_at: DateTimeUtc,
    pub absolute_expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub user_agent: String,
    pub ip_address: String,
    /// Null only on rows written before migration m0005 that it could not date.
    pub family_created_at: Option<DateTimeUtc>,
    pub device_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
