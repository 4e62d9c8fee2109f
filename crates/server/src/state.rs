//! State shared by the gRPC services.

use std::sync::Arc;

use twostep_core::flows::Deps;
use twostep_core::ids::TenantId;

#[derive(Clone)]
pub struct AppState {
    pub deps: Arc<Deps>,
    /// The tenant used when a development caller names none.
    pub default_tenant: TenantId,
}
