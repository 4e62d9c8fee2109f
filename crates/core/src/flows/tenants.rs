//! Tenant lookup with a short cache: every code RPC needs its tenant's policy, and a database
//! round trip per RPC would dominate the hot path. A policy change made through another
//! instance takes effect here within [`TenantCache::TTL`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::error::CoreError;
use crate::flows::Deps;
use crate::ids::TenantId;
use crate::tenant::Tenant;

#[derive(Default)]
pub struct TenantCache {
    entries: RwLock<HashMap<TenantId, (Arc<Tenant>, Instant)>>,
}

impl TenantCache {
    pub const TTL: Duration = Duration::from_secs(5);

    fn get(&self, id: TenantId) -> Option<Arc<Tenant>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&id)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(t, _)| Arc::clone(t))
    }

    pub fn put(&self, tenant: Tenant) -> Arc<Tenant> {
        let tenant = Arc::new(tenant);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.insert(tenant.id, (Arc::clone(&tenant), Instant::now()));
        tenant
    }
}

/// The caller's tenant. An unknown tenant is `PermissionDenied`: the caller's credentials
/// name a tenant that does not exist, which is a configuration error, not an end-user one.
pub async fn caller_tenant(deps: &Deps, id: TenantId) -> Result<Arc<Tenant>, CoreError> {
    if let Some(t) = deps.tenant_cache.get(id) {
        return Ok(t);
    }
    match deps.tenants.get(id).await? {
        Some(t) => Ok(deps.tenant_cache.put(t)),
        None => Err(CoreError::PermissionDenied(
            "the caller's tenant does not exist",
        )),
    }
}
