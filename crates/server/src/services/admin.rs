//! `twostep.v1.AdminService`.

use tonic::{Request, Response, Status};
use twostep_core::flows::admin::{self, NewTenantInput, NewUserInput};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::tenant::Policy;
use twostep_proto::v1 as pb;
use twostep_proto::v1::admin_service_server::AdminService;

use crate::caller;
use crate::convert;
use crate::error::{IntoStatus, invalid_argument, missing, unimplemented};
use crate::state::AppState;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

pub struct AdminApi {
    pub state: AppState,
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::CreateTenantResponse>, Status> {
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
        let tenant = admin::create_tenant(&self.state.deps, input)
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
        _: Request<pb::UpdateTenantPolicyRequest>,
    ) -> Result<Response<pb::UpdateTenantPolicyResponse>, Status> {
        Err(unimplemented("UpdateTenantPolicy"))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        if req.display_name.trim().is_empty() {
            return Err(missing("display_name"));
        }
        if req.must_change_password {
            return Err(unimplemented("CreateUser with must_change_password"));
        }
        let input = NewUserInput {
            email: Some(req.email),
            display_name: req.display_name,
            phone: Some(req.phone_number),
            phone_verified: req.phone_verified,
            password: Some(req.password),
            role: convert::role_from(req.role)?,
            two_step_enabled: req.two_step_enabled,
        };
        let user = admin::create_user(&self.state.deps, tenant, input)
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
        _: Request<pb::FindUserRequest>,
    ) -> Result<Response<pb::FindUserResponse>, Status> {
        Err(unimplemented("FindUser"))
    }

    async fn set_user_phone(
        &self,
        _: Request<pb::SetUserPhoneRequest>,
    ) -> Result<Response<pb::SetUserPhoneResponse>, Status> {
        Err(unimplemented("SetUserPhone"))
    }

    async fn force_password_change(
        &self,
        _: Request<pb::ForcePasswordChangeRequest>,
    ) -> Result<Response<pb::ForcePasswordChangeResponse>, Status> {
        Err(unimplemented("ForcePasswordChange"))
    }

    async fn reset_two_step(
        &self,
        _: Request<pb::ResetTwoStepRequest>,
    ) -> Result<Response<pb::ResetTwoStepResponse>, Status> {
        Err(unimplemented("ResetTwoStep"))
    }

    async fn lock_user(
        &self,
        _: Request<pb::LockUserRequest>,
    ) -> Result<Response<pb::LockUserResponse>, Status> {
        Err(unimplemented("LockUser"))
    }

    async fn unlock_user(
        &self,
        _: Request<pb::UnlockUserRequest>,
    ) -> Result<Response<pb::UnlockUserResponse>, Status> {
        Err(unimplemented("UnlockUser"))
    }

    async fn list_audit_events(
        &self,
        _: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        Err(unimplemented("ListAuditEvents"))
    }

    async fn create_api_client(
        &self,
        _: Request<pb::CreateApiClientRequest>,
    ) -> Result<Response<pb::CreateApiClientResponse>, Status> {
        Err(unimplemented("CreateApiClient"))
    }

    async fn list_api_clients(
        &self,
        _: Request<pb::ListApiClientsRequest>,
    ) -> Result<Response<pb::ListApiClientsResponse>, Status> {
        Err(unimplemented("ListApiClients"))
    }

    async fn revoke_api_client(
        &self,
        _: Request<pb::RevokeApiClientRequest>,
    ) -> Result<Response<pb::RevokeApiClientResponse>, Status> {
        Err(unimplemented("RevokeApiClient"))
    }

    async fn set_sms_providers(
        &self,
        _: Request<pb::SetSmsProvidersRequest>,
    ) -> Result<Response<pb::SetSmsProvidersResponse>, Status> {
        Err(unimplemented("SetSmsProviders"))
    }

    async fn send_test_sms(
        &self,
        _: Request<pb::SendTestSmsRequest>,
    ) -> Result<Response<pb::SendTestSmsResponse>, Status> {
        Err(unimplemented("SendTestSms"))
    }
}
