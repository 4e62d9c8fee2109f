//! The caller's tenant, through the [`TenantCache`] (`tenant_cache`: why, and how fresh).

use std::sync::Arc;

use crate::error::CoreError;
use crate::flows::Deps;
use crate::ids::TenantId;
use crate::tenant::Tenant;

pub use super::tenant_cache::TenantCache;

/// The caller's tenant. An unknown tenant is `PermissionDenied`: the caller's credentials
/// name a tenant that does not exist, which is a configuration error, not an end-user one.
pub async fn caller_tenant(deps: &Deps, id: TenantId) -> Result<Arc<Tenant>, CoreError> {
    match deps.tenant_cache.get(&deps.tenants, id).await? {
        Some(t) => Ok(t),
        None => Err(CoreError::PermissionDenied(
            "the caller's tenant does not exist",
        )),
    }
}
