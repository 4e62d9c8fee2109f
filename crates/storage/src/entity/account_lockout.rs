//! A row of `account_lockouts`: one account's consecutive failures for one factor.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_lockouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// `otp` or `password`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub factor: String,
    pub tenant_id: Uuid,
    pub failures: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub hard_locked_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
