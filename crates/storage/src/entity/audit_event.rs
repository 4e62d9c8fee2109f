//! A row of `audit_events`. The actor is split into its kind (`user`, `api_client`, `system`)
//! and its id (the user id, the API client id, or empty for the system); `kind` is
//! `AuditKind::as_str`; `details` is a JSON object of strings.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub at: DateTimeUtc,
    pub actor_kind: String,
    pub actor_id: String,
    pub user_id: Option<Uuid>,
    pub kind: String,
    pub masked_phone: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: String,
    pub details: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
