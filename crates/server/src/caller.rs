//! Who is calling. Until API keys exist (issue 6), a development server trusts the optional
//! `x-twostep-tenant` metadata (a tenant id or slug) and otherwise uses the default tenant.

use tonic::{Request, Status};
use twostep_core::ids::TenantId;

use crate::error::{invalid_argument, to_status};
use crate::state::AppState;

pub const TENANT_HEADER: &str = "x-twostep-tenant";

/// The tenant the call acts for.
pub async fn tenant<T>(state: &AppState, request: &Request<T>) -> Result<TenantId, Status> {
    let Some(value) = request.metadata().get(TENANT_HEADER) else {
        return Ok(state.default_tenant);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_argument(TENANT_HEADER, "is not text"))?
        .trim();
    if let Ok(id) = value.parse::<TenantId>() {
        return Ok(id);
    }
    match state.deps.tenants.get_by_slug(value).await {
        Ok(Some(t)) => Ok(t.id),
        Ok(None) => Err(Status::permission_denied("unknown tenant")),
        Err(e) => Err(to_status(e.into())),
    }
}

/// The tenant an admin request targets: its `tenant_id` field, or else the caller's tenant.
pub async fn target_tenant<T>(
    state: &AppState,
    request: &Request<T>,
    field: &str,
    value: &str,
) -> Result<TenantId, Status> {
    if value.trim().is_empty() {
        return tenant(state, request).await;
    }
    value
        .trim()
        .parse()
        .map_err(|_| invalid_argument(field, "is not a valid id"))
}
