//! [`UserRepo`] over the `users` table.
//!
//! Emails and numbers are compared in their canonical forms (`Email` lower-cases the domain,
//! `PhoneNumber` is E.164), so lookups are plain equality on indexed columns.

use async_trait::async_trait;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
};
use twostep_core::email::Email;
use twostep_core::ids::{TenantId, UserId};
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{RepoError, UserRepo};
use twostep_core::user::{NewUser, Role, User};

use super::db_time;
use crate::entity::user::{self, ActiveModel, Column, Entity};
use crate::error::{corrupt, repo_err};

/// Users in SQL; cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqlUserRepo {
    db: DatabaseConnection,
}

impl SqlUserRepo {
    pub(crate) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UserRepo for SqlUserRepo {
    #[tracing::instrument(skip_all, fields(tenant_id = %user.tenant, user_id = %user.id))]
    async fn create(&self, user: &NewUser) -> Result<User, RepoError> {
        let created_at = db_time(user.created_at);
        let row = user::Model {
            id: user.id.as_uuid(),
            tenant_id: user.tenant.as_uuid(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            display_name: user.display_name.clone(),
            password_hash: user.password_hash.clone(),
            phone_e164: user.phone.as_ref().map(|p| p.e164().to_owned()),
            phone_verified_at: user.phone_verified_at.map(db_time),
            two_step_enabled: user.two_step_enabled,
            role: user.role.as_str().to_owned(),
            must_change_password: user.must_change_password,
            locked_at: None,
            created_at,
            updated_at: created_at,
        };
        Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&self.db)
            .await
            .map_err(repo_err)?;
        to_user(row)
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, RepoError> {
        let row = Entity::find_by_id(id.as_uuid())
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_user).transpose()
    }

    #[tracing::instrument(skip(self, email))]
    async fn find_by_email(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<User>, RepoError> {
        let row = Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_user).transpose()
    }

    #[tracing::instrument(skip(self, phone))]
    async fn find_by_verified_phone(
        &self,
        tenant: TenantId,
        phone: &PhoneNumber,
    ) -> Result<Option<User>, RepoError> {
        let row = Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::PhoneE164.eq(phone.e164()))
            .filter(Column::PhoneVerifiedAt.is_not_null())
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        row.map(to_user).transpose()
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %user.tenant, user_id = %user.id))]
    async fn update(&self, user: &User) -> Result<bool, RepoError> {
        // Identity and birth are not mutable; everything else is written as given.
        let changes = ActiveModel {
            id: NotSet,
            tenant_id: NotSet,
            created_at: NotSet,
            email: Set(user.email.as_ref().map(|e| e.as_str().to_owned())),
            display_name: Set(user.display_name.clone()),
            password_hash: Set(user.password_hash.clone()),
            phone_e164: Set(user.phone.as_ref().map(|p| p.e164().to_owned())),
            phone_verified_at: Set(user.phone_verified_at.map(db_time)),
            two_step_enabled: Set(user.two_step_enabled),
            role: Set(user.role.as_str().to_owned()),
            must_change_password: Set(user.must_change_password),
            locked_at: Set(user.locked_at.map(db_time)),
            updated_at: Set(db_time(user.updated_at)),
        };
        let res = Entity::update_many()
            .set(changes)
            .filter(Column::Id.eq(user.id.as_uuid()))
            .filter(Column::TenantId.eq(user.tenant.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(res.rows_affected > 0)
    }
}

fn to_user(row: user::Model) -> Result<User, RepoError> {
    let email = row
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| corrupt("user email", e))?;
    let phone = row
        .phone_e164
        .as_deref()
        .map(PhoneNumber::from_e164)
        .transpose()
        .map_err(|e| corrupt("user phone", e))?;
    let role = Role::parse(&row.role).ok_or_else(|| corrupt("user role", &row.role))?;
    Ok(User {
        id: UserId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        email,
        display_name: row.display_name,
        password_hash: row.password_hash,
        phone,
        phone_verified_at: row.phone_verified_at,
        two_step_enabled: row.two_step_enabled,
        role,
        must_change_password: row.must_change_password,
        locked_at: row.locked_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
