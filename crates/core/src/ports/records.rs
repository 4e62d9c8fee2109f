//! Durable records beside users: backup codes and audit events. Same contract as
//! `repos.rs`: absent is `Ok(None)`/empty, unreachable is `Unavailable`, and one contract suite
//! passes on SQLite and PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditEvent, AuditFilter};
use crate::ids::{TenantId, UserId};
use crate::ports::RepoError;

/// One stored backup code: an argon2id PHC string of the code, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackupCode {
    pub id: uuid::Uuid,
    pub hash: String,
}

#[async_trait]
pub trait BackupCodeRepo: Send + Sync + 'static {
    /// In one transaction: deletes every code of the user (used or not) and stores `hashes` as
    /// the new batch, so no old code works after this returns (R26).
    async fn replace_batch(
        &self,
        tenant: TenantId,
        user: UserId,
        hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// The user's unused codes.
    async fn unused(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Vec<StoredBackupCode>, RepoError>;

    /// Marks one code used, only if it is still unused (`UPDATE … WHERE used_at IS NULL`), so
    /// of concurrent uses of one code exactly one gets `true` (R26).
    async fn consume(&self, id: uuid::Uuid, now: DateTime<Utc>) -> Result<bool, RepoError>;

    /// Deletes every code of the user (two-step reset).
    async fn delete_all(&self, tenant: TenantId, user: UserId) -> Result<(), RepoError>;
}

#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError>;

    /// Records several events, all or none where the store allows (one statement in SQL).
    async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), RepoError> {
        for event in events {
            self.record(event).await?;
        }
        Ok(())
    }

    /// Returns once every event recorded before the call is stored; a log that stores in
    /// `record` itself has nothing to wait for.
    async fn flush(&self) -> Result<(), RepoError> {
        Ok(())
    }

    /// Events of one tenant matching `filter`, newest first, strictly older than the event
    /// `before` (a cursor from the previous page) when given; at most `limit`.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        before: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, RepoError>;
}

/// Deleting audit events past their retention (`flows::audit_retention`). Apart from
/// [`AuditLog`], which the request path writes through a buffer: only the durable store prunes.
#[async_trait]
pub trait AuditRetention: Send + Sync + 'static {
    /// Deletes at most `limit` events that happened before `before`; returns how many.
    async fn prune_before(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError>;
}

/// A durable record of every code that was accepted. The short-lived store already consumes a
/// challenge atomically, but Redis replication is asynchronous: after a failover to a replica
/// that missed the consumption, the same code would verify again. Recording the consumption
/// in SQL closes that gap (R39 a).
#[async_trait]
pub trait ConsumedChallenges: Send + Sync + 'static {
    /// Records that the challenge's code was accepted. `true` the first time, `false` when it
    /// was recorded before: the caller must then refuse the code. The first time, it also ends
    /// `ends_run`'s failure run, as [`LockoutRepo::clear`] does (R10), in the same atomic step:
    /// an accepted code costs one write where it cost two, and a replay ends nothing.
    ///
    /// [`LockoutRepo::clear`]: crate::ports::LockoutRepo::clear
    async fn record(
        &self,
        tenant: TenantId,
        challenge: crate::ids::ChallengeId,
        now: DateTime<Utc>,
        ends_run: Option<(crate::ids::UserId, crate::ports::Factor)>,
    ) -> Result<bool, RepoError>;

    /// Whether the challenge's code (or a backup code in its place) was accepted, as far
    /// back as records are kept (a day at least).
    async fn contains(
        &self,
        tenant: TenantId,
        challenge: crate::ids::ChallengeId,
    ) -> Result<bool, RepoError>;
}
