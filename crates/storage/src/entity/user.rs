//! A row of `users`. Email, phone and role are stored in the canonical text forms of their
//! core types (`Email::as_str`, E.164, `Role::as_str`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: Option<String>,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub phone_e164: Option<String>,
    pub phone_verified_at: Option<DateTimeUtc>,
    pub two_step_enabled: bool,
    pub role: String,
    pub must_change_password: bool,
    pub locked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
