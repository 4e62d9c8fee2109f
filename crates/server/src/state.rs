//! State shared by the gRPC services.

use std::sync::Arc;

use twostep_core::flows::Deps;
use twostep_core::flows::api_clients::ApiClients;
use twostep_core::ids::TenantId;

#[derive(Clone)]
pub struct AppState {
    pub deps: Arc<Deps>,
    /// The tenant used when a development caller names none.
    pub default_tenant: TenantId,
    /// API clients and the cache of verified keys.
    pub api_clients: Arc<ApiClients>,
    /// Tenants' own SMS providers, else the global ones (SendTestSms sends through it).
    pub sms_routing: Arc<twostep_sms_gateway::TenantRouting>,
    /// `environment = "production"`: stricter checks of SMS settings.
    pub production: bool,
}
