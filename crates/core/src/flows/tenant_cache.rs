//! [`TenantCache`]: the tenants' policies, read from the database at most once per
//! [`FRESH_FOR`] per tenant, and not on a request's path while a copy under [`SERVED_FOR`]
//! old exists (a [`RefreshingCache`]: its module says why).
//!
//! Every code RPC needs its tenant's policy, and a database round trip per RPC would dominate
//! the hot path. A policy change made through another instance takes effect here within
//! [`FRESH_FOR`] plus one database read; one made through this instance
//! ([`TenantCache::put`]) at once.
//!
//! Every copy that enters the cache, read or put, has its countries' numbering plans compiled
//! off the runtime's workers if they are not yet (`numbering_plans`: why); a copy served from
//! the cache does no such work.

use std::sync::Arc;
use std::time::Duration;

use super::numbering_plans;
use super::refreshing_cache::RefreshingCache;
use crate::ids::TenantId;
use crate::ports::{RepoError, TenantRepo};
use crate::tenant::Tenant;

/// How long a copy is served before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long a copy is served at all: past [`FRESH_FOR`] only while its refresh runs or after
/// a failed one; past this, the request reads the tenant itself.
pub const SERVED_FOR: Duration = Duration::from_secs(15);
/// Tenants kept at most (every one is read again within [`FRESH_FOR`] while in use).
const MAX_TENANTS: usize = 10_000;

/// Cheap to clone: clones share the entries.
#[derive(Clone)]
pub struct TenantCache(RefreshingCache<TenantId, Tenant>);

impl Default for TenantCache {
    fn default() -> Self {
        Self(RefreshingCache::new(
            "tenant",
            FRESH_FOR,
            SERVED_FOR,
            MAX_TENANTS,
        ))
    }
}

impl TenantCache {
    /// The tenant, from the cache or from `repo`; `None` when it does not exist.
    pub async fn get(
        &self,
        repo: &Arc<dyn TenantRepo>,
        id: TenantId,
    ) -> Result<Option<Arc<Tenant>>, RepoError> {
        let repo = Arc::clone(repo);
        self.0
            .get(id, move |id| async move {
                let tenant = repo.get(id).await?;
                // Only a read copy gets here, first read or refresh: how this instance learns
                // of a tenant created, or given new countries, after its start.
                if let Some(tenant) = &tenant {
                    numbering_plans::prepare_new_countries(tenant);
                }
                Ok(tenant)
            })
            .await
    }

    /// Stores a tenant just changed by this instance; a refresh already running does not
    /// overwrite it.
    pub fn put(&self, tenant: Tenant) -> Arc<Tenant> {
        numbering_plans::prepare_new_countries(&tenant);
        self.0.put(tenant.id, tenant)
    }

    /// A cache whose copies are read again once `fresh_for` old, for tests that cannot wait
    /// [`FRESH_FOR`].
    #[cfg(test)]
    pub(super) fn with_ages(fresh_for: Duration, served_for: Duration) -> Self {
        Self(RefreshingCache::new(
            "tenant",
            fresh_for,
            served_for,
            MAX_TENANTS,
        ))
    }
}
