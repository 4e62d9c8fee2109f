//! Durable state of twostep in SQL, through sea-orm, on SQLite or PostgreSQL.
//!
//! [`Database::connect`] opens a pool, [`Database::migrate`] brings the schema up to date,
//! and [`Database::tenants`], [`Database::users`], [`Database::sessions`],
//! [`Database::backup_codes`], [`Database::audit`] and [`Database::outbox`] hand out the
//! implementations of the core ports `TenantRepo`, `UserRepo`, `SessionRepo`, `BackupCodeRepo`,
//! `AuditLog` and `OutboxRepo`. Rows never
//! leave this crate: repositories convert them to core types, and database errors to
//! `RepoError` (unique violations to `Conflict` naming the field, unreachable databases to
//! `Unavailable`).
//!
//! **Architecture invariant:** one set of migrations serves both engines, and one contract
//! test suite (`tests/contract`) runs against both.

mod connection_loss;
mod db;
mod entity;
mod error;
mod migration;
mod redact;
mod repo;

pub use db::{Database, DbOptions, Engine};
pub use error::StorageError;
pub use repo::{
    SqlApiClientRepo, SqlAuditLog, SqlBackupCodeRepo, SqlConsumedChallenges, SqlLockoutRepo,
    SqlOutboxRepo, SqlSessionRepo, SqlSmsSettingsRepo, SqlTenantRepo, SqlUserRepo,
};
