//! `twostep.v1.AdminService`.

use tonic::{Request, Response, Status};
use twostep_core::audit::AuditFilter;
use twostep_core::flows::admin::{
    self, NewTenantInput, NewUserInput, PhoneChange, PolicyChange, TenantChange, TwoStepReset,
    UserLookup,
};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::tenant::Policy;
use twostep_proto::v1 as pb;
use twostep_proto::v1::admin_service_server::AdminService;

use super::admin_convert;
use crate::caller;
use crate::convert;
use crate::error::{IntoStatus, invalid_argument, missing};
use crate::state::AppState;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

pub struct AdminApi {
    pub state: AppState,
}

/// `page_size` of a list request: 0 means the default, above the maximum is refused.
fn page_size(value: u32) -> Result<u32, Status> {
    match value {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n > MAX_PAGE_SIZE => Err(invalid_argument("page_size", "must be at most 500")),
        n => Ok(n),
    }
}

impl AdminApi {
    /// The tenant and the user a user-targeted request names.
    async fn target_user<T>(
        &self,
        request: &Request<T>,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<(TenantId, UserId), Status> {
        let tenant = caller::target_tenant(&self.state, request, "tenant_id", tenant_id).await?;
        let user = convert::required_id("user_id", user_id)?;
        Ok((tenant, user))
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::CreateTenantResponse>, Status> {
        caller::require_operator(&request)?;
        let actor = caller::actor(&request);
        let req = request.into_inner();
        if req.slug.trim().is_empty() {
            return Err(missing("slug"));
        }
        if req.name.trim().is_empty() {
            return Err(missing("name"));
        }
        let policy = match &req.policy {
            Some(p) => convert::policy_from(p)?,
            None => Policy::default(),
        };
        let input = NewTenantInput {
            slug: req.slug,
            name: req.name,
            app_name: req.app_name,
            policy,
        };
        let tenant = admin::create_tenant(&self.state.deps, input, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::CreateTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::GetTenantResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let id = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let tenant = admin::get_tenant(&self.state.deps, id)
            .await
            .into_status()?;
        Ok(Response::new(pb::GetTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        caller::require_operator(&request)?;
        let req = request.into_inner();
        if req.page_size > MAX_PAGE_SIZE {
            return Err(invalid_argument("page_size", "must be at most 500"));
        }
        let limit = if req.page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            req.page_size
        };
        let after = match req.page_token.trim() {
            "" => None,
            token => Some(token.parse::<TenantId>().map_err(|_| {
                invalid_argument("page_token", "is not a token from a previous page")
            })?),
        };
        let tenants = self
            .state
            .deps
            .tenants
            .list(after, limit)
            .await
            .map_err(|e| crate::error::to_status(e.into()))?;
        let next_page_token = match tenants.last() {
            Some(last) if u32::try_from(tenants.len()).unwrap_or(u32::MAX) == limit => {
                last.id.to_string()
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListTenantsResponse {
            tenants: tenants.iter().map(convert::tenant).collect(),
            next_page_token,
        }))
    }

    async fn update_tenant_policy(
        &self,
        request: Request<pb::UpdateTenantPolicyRequest>,
    ) -> Result<Response<pb::UpdateTenantPolicyResponse>, Status> {
        let actor = caller::actor(&request);
        let field = request.get_ref().tenant_id.clone();
        let id = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        let paths = admin_convert::mask_paths(req.update_mask.as_ref())?;
        let policy = match &req.policy {
            Some(p) => {
                let from = convert::policy_from(p)?;
                if paths.is_empty() || paths == ["*"] {
                    Some(PolicyChange::Replace(from))
                } else {
                    Some(PolicyChange::Fields { from, paths })
                }
            }
            None if paths.is_empty() => None,
            None => {
                return Err(invalid_argument(
                    "policy",
                    "is required when update_mask is set",
                ));
            }
        };
        let change = TenantChange {
            policy,
            name: req.name,
            app_name: req.app_name,
        };
        let tenant = admin::update_tenant(&self.state.deps, id, change, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::UpdateTenantPolicyResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let actor = caller::actor(&request);
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        if req.display_name.trim().is_empty() {
            return Err(missing("display_name"));
        }
        let input = NewUserInput {
            email: Some(req.email),
            display_name: req.display_name,
            phone: Some(req.phone_number),
            phone_verified: req.phone_verified,
            password: Some(req.password),
            role: convert::role_from(req.role)?,
            two_step_enabled: req.two_step_enabled,
            must_change_password: req.must_change_password,
        };
        let user = admin::create_user(&self.state.deps, tenant, input, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let id: UserId = convert::required_id("user_id", &request.get_ref().user_id)?;
        let user = admin::get_user(&self.state.deps, tenant, id)
            .await
            .into_status()?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn find_user(
        &self,
        request: Request<pb::FindUserRequest>,
    ) -> Result<Response<pb::FindUserResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let lookup = match request.into_inner().lookup {
            Some(pb::find_user_request::Lookup::Email(e)) if !e.trim().is_empty() => {
                convert::bounded("email", &e, 320)?;
                UserLookup::Email(e)
            }
            Some(pb::find_user_request::Lookup::Email(_)) => return Err(missing("email")),
            Some(pb::find_user_request::Lookup::PhoneNumber(p)) if !p.trim().is_empty() => {
                UserLookup::Phone(p)
            }
            Some(pb::find_user_request::Lookup::PhoneNumber(_)) => {
                return Err(missing("phone_number"));
            }
            None => return Err(missing("lookup")),
        };
        let user = admin::find_user(&self.state.deps, tenant, lookup)
            .await
            .into_status()?;
        Ok(Response::new(pb::FindUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn set_user_phone(
        &self,
        request: Request<pb::SetUserPhoneRequest>,
    ) -> Result<Response<pb::SetUserPhoneResponse>, Status> {
        let actor = caller::actor(&request);
        let r = request.get_ref();
        let (tenant, id) = self.target_user(&request, &r.tenant_id, &r.user_id).await?;
        let req = request.into_inner();
        let change = PhoneChange {
            phone: Some(req.phone_number),
            mark_verified: req.mark_verified,
            enable_two_step: req.enable_two_step,
        };
        let user = admin::set_user_phone(&self.state.deps, tenant, id, change, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::SetUserPhoneResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn force_password_change(
        &self,
        request: Request<pb::ForcePasswordChangeRequest>,
    ) -> Result<Response<pb::ForcePasswordChangeResponse>, Status> {
        let actor = caller::actor(&request);
        let r = request.get_ref();
        let (tenant, id) = self.target_user(&request, &r.tenant_id, &r.user_id).await?;
        let revoke = request.get_ref().revoke_sessions;
        let user = admin::force_password_change(&self.state.deps, tenant, id, revoke, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::ForcePasswordChangeResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn reset_two_step(
        &self,
        request: Request<pb::ResetTwoStepRequest>,
    ) -> Result<Response<pb::ResetTwoStepResponse>, Status> {
        let actor = caller::actor(&request);
        let r = request.get_ref();
        let (tenant, id) = self.target_user(&request, &r.tenant_id, &r.user_id).await?;
        let reset = TwoStepReset {
            clear_phone: request.get_ref().clear_phone,
            revoke_sessions: request.get_ref().revoke_sessions,
        };
        let user = admin::reset_two_step(&self.state.deps, tenant, id, reset, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::ResetTwoStepResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn lock_user(
        &self,
        request: Request<pb::LockUserRequest>,
    ) -> Result<Response<pb::LockUserResponse>, Status> {
        let actor = caller::actor(&request);
        let r = request.get_ref();
        let (tenant, id) = self.target_user(&request, &r.tenant_id, &r.user_id).await?;
        // Characters are checked by the flow; refuse megabytes before they get there.
        convert::bounded("reason", &request.get_ref().reason, 4 * 500)?;
        let user = admin::lock_user(
            &self.state.deps,
            tenant,
            id,
            &request.get_ref().reason,
            &actor,
        )
        .await
        .into_status()?;
        Ok(Response::new(pb::LockUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn unlock_user(
        &self,
        request: Request<pb::UnlockUserRequest>,
    ) -> Result<Response<pb::UnlockUserResponse>, Status> {
        let actor = caller::actor(&request);
        let r = request.get_ref();
        let (tenant, id) = self.target_user(&request, &r.tenant_id, &r.user_id).await?;
        let user = admin::unlock_user(&self.state.deps, tenant, id, &actor)
            .await
            .into_status()?;
        Ok(Response::new(pb::UnlockUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let user = match req.user_id.trim() {
            "" => None,
            id => Some(convert::required_id::<UserId>("user_id", id)?),
        };
        let since = admin_convert::optional_time("since", req.since.as_ref())?;
        let until = admin_convert::optional_time("until", req.until.as_ref())?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(invalid_argument("until", "must not be before since"));
        }
        let before = match req.page_token.trim() {
            "" => None,
            token => Some(token.parse::<uuid::Uuid>().map_err(|_| {
                invalid_argument("page_token", "is not a token from a previous page")
            })?),
        };
        let filter = AuditFilter {
            user,
            kinds: admin_convert::audit_kinds(&req.types)?,
            since,
            until,
        };
        // One more than a page tells whether another page follows.
        let mut events =
            admin::list_audit_events(&self.state.deps, tenant, &filter, before, limit + 1)
                .await
                .into_status()?;
        let more = events.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match events.last() {
            Some(last) if more => last.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events.iter().map(admin_convert::audit_event).collect(),
            next_page_token,
        }))
    }

    async fn create_api_client(
        &self,
        request: Request<pb::CreateApiClientRequest>,
    ) -> Result<Response<pb::CreateApiClientResponse>, Status> {
        self.create_api_client_rpc(request).await
    }

    async fn list_api_clients(
        &self,
        request: Request<pb::ListApiClientsRequest>,
    ) -> Result<Response<pb::ListApiClientsResponse>, Status> {
        self.list_api_clients_rpc(request).await
    }

    async fn revoke_api_client(
        &self,
        request: Request<pb::RevokeApiClientRequest>,
    ) -> Result<Response<pb::RevokeApiClientResponse>, Status> {
        self.revoke_api_client_rpc(request).await
    }

    async fn set_sms_providers(
        &self,
        request: Request<pb::SetSmsProvidersRequest>,
    ) -> Result<Response<pb::SetSmsProvidersResponse>, Status> {
        self.set_sms_providers_rpc(request).await
    }

    async fn get_sms_providers(
        &self,
        request: Request<pb::GetSmsProvidersRequest>,
    ) -> Result<Response<pb::GetSmsProvidersResponse>, Status> {
        self.get_sms_providers_rpc(request).await
    }

    async fn send_test_sms(
        &self,
        request: Request<pb::SendTestSmsRequest>,
    ) -> Result<Response<pb::SendTestSmsResponse>, Status> {
        self.send_test_sms_rpc(request).await
    }
}
