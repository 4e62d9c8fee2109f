//! API clients in durable storage. Same contract as `repos.rs`: absent is `Ok(None)`,
//! unreachable is `Unavailable`, and one contract suite passes on SQLite and PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::api_client::ApiClient;
use crate::ids::{ApiClientId, TenantId};
use crate::ports::RepoError;

#[async_trait]
pub trait ApiClientRepo: Send + Sync + 'static {
    async fn create(&self, client: &ApiClient) -> Result<(), RepoError>;

    /// The client with this id, revoked or not, whatever its tenant: authentication looks a
    /// key up by the id it carries.
    async fn get(&self, id: ApiClientId) -> Result<Option<ApiClient>, RepoError>;

    /// A tenant's clients ordered by id (ids are UUID v7, so oldest first), after `after`,
    /// at most `limit`; revoked ones only when `include_revoked`.
    async fn list(
        &self,
        tenant: TenantId,
        after: Option<ApiClientId>,
        limit: u32,
        include_revoked: bool,
    ) -> Result<Vec<ApiClient>, RepoError>;

    /// Revokes the tenant's client if it is not revoked yet (a second revocation keeps the
    /// first time) and returns it; `None` when the tenant has no such client.
    async fn revoke(
        &self,
        tenant: TenantId,
        id: ApiClientId,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiClient>, RepoError>;

    /// Records that the key was used at `now`.
    async fn touch(&self, id: ApiClientId, now: DateTime<Utc>) -> Result<(), RepoError>;
}
