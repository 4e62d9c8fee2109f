//! Durable state: tenants, users and sessions, in SQL through the `storage` crate.
//!
//! Contract for every implementation: lookups of something absent return `Ok(None)`, never an
//! error; a uniqueness violation is [`RepoError::Conflict`] naming the field; a database that
//! cannot be reached is [`RepoError::Unavailable`]; the same contract suite passes on SQLite
//! and PostgreSQL. Timestamps are kept to the microsecond (truncated), PostgreSQL's precision.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::phone::PhoneNumber;
use crate::ports::BoxError;
use crate::session::Session;
use crate::tenant::{Policy, Tenant};
use crate::token::TokenHash;
use crate::user::{NewUser, User};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A unique constraint refused the write; `field` names it (`slug`, `email`, `phone`).
    #[error("{field} already exists")]
    Conflict { field: &'static str },
    /// The database could not be reached or did not answer in time.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    #[error("database failed")]
    Internal(#[source] BoxError),
}

#[async_trait]
pub trait TenantRepo: Send + Sync + 'static {
    async fn create(&self, tenant: &Tenant) -> Result<(), RepoError>;
    async fn get(&self, id: TenantId) -> Result<Option<Tenant>, RepoError>;
    async fn get_by_slug(&self, slug: &str) -> Result<Option<Tenant>, RepoError>;
    /// Tenants ordered by id, starting after `after`, at most `limit` of them.
    async fn list(&self, after: Option<TenantId>, limit: u32) -> Result<Vec<Tenant>, RepoError>;
    /// Replaces the policy; `None` when the tenant does not exist.
    async fn update_policy(
        &self,
        id: TenantId,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError>;
    /// Sets the given fields (and `updated_at`) in one statement, so a rename and a policy
    /// change land together or not at all; `None` when the tenant does not exist.
    async fn update(
        &self,
        id: TenantId,
        change: &TenantUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError>;
}

/// What [`TenantRepo::update`] changes; `None` keeps the stored value. Values are already
/// validated by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantUpdate<'a> {
    pub name: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub policy: Option<&'a Policy>,
}

#[async_trait]
pub trait UserRepo: Send + Sync + 'static {
    /// Creates a user. Email is unique per tenant; a phone number is unique per tenant among
    /// verified numbers (two users may have typed the same unverified number).
    async fn create(&self, user: &NewUser) -> Result<User, RepoError>;
    async fn get(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, RepoError>;
    async fn find_by_email(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<User>, RepoError>;
    /// The user whose **verified** number this is.
    async fn find_by_verified_phone(
        &self,
        tenant: TenantId,
        phone: &PhoneNumber,
    ) -> Result<Option<User>, RepoError>;
    /// Saves every mutable field of `user` (matched by tenant and id), `updated_at` included:
    /// the caller bumps it from its clock. Returns `false` when no such user exists.
    async fn update(&self, user: &User) -> Result<bool, RepoError>;
}

#[async_trait]
pub trait SessionRepo: Send + Sync + 'static {
    async fn create(&self, session: &Session) -> Result<(), RepoError>;
    /// The session whose access token hashes to `hash`, revoked or not; callers check validity.
    async fn find_by_access(&self, hash: TokenHash) -> Result<Option<Session>, RepoError>;
    /// The session whose refresh token hashes to `hash`, including rotated and revoked ones,
    /// so that reuse of a rotated token can be detected.
    async fn find_by_refresh(&self, hash: TokenHash) -> Result<Option<Session>, RepoError>;
    /// In one transaction: revokes `old` only if it is not revoked yet, and inserts `new` (same
    /// family). Returns `false`, inserting nothing, when `old` was already revoked: the caller
    /// treats that as refresh-token reuse (R34).
    async fn rotate(
        &self,
        old: SessionId,
        new: &Session,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
    /// Revokes one session; `false` if it did not exist or was already revoked.
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError>;
    /// Revokes every session of a refresh-token family; returns how many were live.
    async fn revoke_family(&self, family: FamilyId, now: DateTime<Utc>) -> Result<u64, RepoError>;
    /// Revokes every session of a user; returns how many were live.
    async fn revoke_all_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError>;
    /// Live (not revoked, not past their refresh or absolute expiry) sessions of a user,
    /// newest first.
    async fn list_live_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepoError>;
    /// Deletes at most `limit` sessions whose family's absolute expiry is before `before`, and
    /// returns how many. No token of such a family works any more, so nothing is lost but
    /// history: not even reuse detection (R34), which only matters while a family lives.
    async fn prune_ended(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError>;
}
