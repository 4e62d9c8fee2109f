//! `twostep.v1.AccountService`: the end user's own account. Each method parses its request
//! (`account_convert`), calls one flow of `twostep_core::flows::account` and converts the
//! answer.

use tonic::{Request, Response, Status};
use twostep_core::flows::account::{
    self, AfterPasswordChange, BackupCodesRegenerated, PasswordChangeRequest, ProfileChanges,
    TwoStepDisabled,
};
use twostep_proto::v1 as pb;
use twostep_proto::v1::account_service_server::AccountService;

use crate::caller;
use crate::convert;
use crate::error::IntoStatus;
use crate::services::account_convert as ac;
use crate::state::AppState;

pub struct AccountApi {
    pub state: AppState,
}

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        convert::client_info(req.client.as_ref())?;
        let token = ac::access_token(&req.access_token)?;
        let profile = account::get_profile(&self.state.deps, tenant, token)
            .await
            .into_status()?;
        Ok(Response::new(pb::GetProfileResponse {
            user: Some(convert::user(&profile.user)),
            remaining_backup_codes: u32::try_from(profile.remaining_backup_codes)
                .unwrap_or(u32::MAX),
            remind_two_step: profile.remind_two_step,
            may_disable_two_step: profile.may_disable_two_step,
        }))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let token = ac::access_token(&req.access_token)?;
        let reauth = ac::reauth(req.reauth.as_ref())?;
        let changes = ProfileChanges {
            display_name: req.display_name.clone(),
            email: req.email.clone(),
            phone_number: req.phone_number.clone(),
        };
        let updated =
            account::update_profile(&self.state.deps, tenant, token, changes, &reauth, &client)
                .await
                .into_status()?;
        Ok(Response::new(pb::UpdateProfileResponse {
            user: Some(convert::user(&updated.user)),
            challenge: updated.challenge.as_ref().map(ac::phone_start),
        }))
    }

    async fn start_phone_verification(
        &self,
        request: Request<pb::StartPhoneVerificationRequest>,
    ) -> Result<Response<pb::StartPhoneVerificationResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let credential = ac::credential(&req.access_token, &req.ticket)?;
        let reauth = ac::reauth(req.reauth.as_ref())?;
        let start = account::start_phone_verification(
            &self.state.deps,
            tenant,
            credential,
            &req.phone_number,
            &reauth,
            &client,
        )
        .await
        .into_status()?;
        Ok(Response::new(pb::StartPhoneVerificationResponse {
            challenge: Some(ac::phone_start(&start)),
        }))
    }

    async fn disable_two_step(
        &self,
        request: Request<pb::DisableTwoStepRequest>,
    ) -> Result<Response<pb::DisableTwoStepResponse>, Status> {
        use pb::disable_two_step_response::Result as R;
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let token = ac::access_token(&req.access_token)?;
        let reauth = ac::required_reauth(req.reauth.as_ref())?;
        let result = account::disable_two_step(&self.state.deps, tenant, token, &reauth, &client)
            .await
            .into_status()?;
        let result = match result {
            TwoStepDisabled::StepUp(view) => R::StepUpChallenge(ac::challenge(&view)),
            TwoStepDisabled::Done(user) => R::User(convert::user(&user)),
        };
        Ok(Response::new(pb::DisableTwoStepResponse {
            result: Some(result),
        }))
    }

    async fn regenerate_backup_codes(
        &self,
        request: Request<pb::RegenerateBackupCodesRequest>,
    ) -> Result<Response<pb::RegenerateBackupCodesResponse>, Status> {
        use pb::regenerate_backup_codes_response::Result as R;
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let token = ac::access_token(&req.access_token)?;
        let reauth = ac::required_reauth(req.reauth.as_ref())?;
        let result =
            account::regenerate_backup_codes(&self.state.deps, tenant, token, &reauth, &client)
                .await
                .into_status()?;
        let result = match result {
            BackupCodesRegenerated::StepUp(view) => R::StepUpChallenge(ac::challenge(&view)),
            BackupCodesRegenerated::Codes(codes) => R::BackupCodes(pb::BackupCodes { codes }),
        };
        Ok(Response::new(pb::RegenerateBackupCodesResponse {
            result: Some(result),
        }))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        use pb::change_password_response::Next;
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let credential = ac::credential(&req.access_token, &req.ticket)?;
        if req.new_password.is_empty() {
            return Err(ac::required("new_password"));
        }
        let change = PasswordChangeRequest {
            credential,
            current_password: &req.current_password,
            new_password: &req.new_password,
            revoke_other_sessions: req.revoke_other_sessions,
        };
        let changed = account::change_password(&self.state.deps, tenant, change, &client)
            .await
            .into_status()?;
        let next = match &changed.next {
            AfterPasswordChange::Nothing => None,
            AfterPasswordChange::Session(issued) => Some(Next::Session(convert::session(issued))),
            AfterPasswordChange::EnrollmentRequired(token, ttl) => {
                Some(Next::EnrollmentRequired(convert::ticket(token, *ttl)))
            }
        };
        Ok(Response::new(pb::ChangePasswordResponse {
            next,
            revoked_sessions: u32::try_from(changed.revoked_sessions).unwrap_or(u32::MAX),
        }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        convert::client_info(req.client.as_ref())?;
        let token = ac::access_token(&req.access_token)?;
        let list = account::list_sessions(&self.state.deps, tenant, token)
            .await
            .into_status()?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: list
                .sessions
                .iter()
                .map(|s| ac::session_info(s, &list.current))
                .collect(),
        }))
    }
}
