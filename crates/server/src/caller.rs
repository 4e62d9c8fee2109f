//! Who is calling: the [`Caller`] that the authentication layer (`authn`) puts in every
//! twostep RPC's extensions, and the tenant a call acts for.
//!
//! A call with an API key acts for the key's tenant. `x-twostep-tenant` (a tenant id or slug)
//! may name that same tenant, or, on AdminService with the `operator` scope, another one.
//! A development call without a key (allowed on loopback when `auth.allow_unauthenticated`)
//! may do everything, for the tenant `x-twostep-tenant` names or else the default tenant.

use tonic::{Request, Status};
use twostep_core::api_client::{Scope, Scopes};
use twostep_core::audit::Actor;
use twostep_core::ids::{ApiClientId, TenantId};

use crate::error::{invalid_argument, unauthenticated_caller};
use crate::state::AppState;

pub const TENANT_HEADER: &str = "x-twostep-tenant";

/// The authenticated caller of one RPC.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The API client whose key the call carried; `None` for a development call without one.
    pub api_client: Option<ApiClientId>,
    /// The tenant the call acts for.
    pub tenant: TenantId,
    pub scopes: Scopes,
}

impl Caller {
    /// The audit log's actor: the API client, or `development` without a key.
    pub fn actor(&self) -> Actor {
        match self.api_client {
            Some(id) => Actor::ApiClient(id.to_string()),
            None => Actor::ApiClient("development".into()),
        }
    }

    /// Whether this caller may act on tenants other than its own (AdminService only).
    pub fn is_operator(&self) -> bool {
        self.scopes.contains(Scope::Operator)
    }
}

/// The caller the authentication layer recorded. Its absence means the layer did not run,
/// and the call is refused rather than trusted.
pub fn caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(unauthenticated_caller)
}

/// The API client that makes the call (`None` for a development call without a key), for
/// per-client limits.
pub fn api_client<T>(request: &Request<T>) -> Option<ApiClientId> {
    request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.api_client)
}

/// The audit log's actor for the call.
pub fn actor<T>(request: &Request<T>) -> Actor {
    match request.extensions().get::<Caller>() {
        Some(c) => c.actor(),
        None => Actor::System,
    }
}

/// The tenant the call acts for.
pub async fn tenant<T>(_state: &AppState, request: &Request<T>) -> Result<TenantId, Status> {
    caller(request).map(|c| c.tenant)
}

/// Refuses a caller without the `operator` scope (CreateTenant, ListTenants).
pub fn require_operator<T>(request: &Request<T>) -> Result<(), Status> {
    if caller(request)?.is_operator() {
        Ok(())
    } else {
        Err(Status::permission_denied(
            "the API key lacks the operator scope",
        ))
    }
}

/// The tenant an admin request targets: its `tenant_id` field, or else the caller's tenant.
/// Another tenant than the caller's needs the `operator` scope.
pub async fn target_tenant<T>(
    state: &AppState,
    request: &Request<T>,
    field: &str,
    value: &str,
) -> Result<TenantId, Status> {
    if value.trim().is_empty() {
        return tenant(state, request).await;
    }
    let target: TenantId = value
        .trim()
        .parse()
        .map_err(|_| invalid_argument(field, "is not a valid id"))?;
    let caller = caller(request)?;
    if target != caller.tenant && !caller.is_operator() {
        return Err(Status::permission_denied(
            "the API key is bound to another tenant",
        ));
    }
    Ok(target)
}
