//! `twostep.v1.AccountService`: designed, not built yet (issue 4). Every method answers
//! UNIMPLEMENTED until its flow exists.

use tonic::{Request, Response, Status};
use twostep_proto::v1 as pb;
use twostep_proto::v1::account_service_server::AccountService;

use crate::error::unimplemented;

pub struct AccountApi;

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn get_profile(
        &self,
        _: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        Err(unimplemented("GetProfile"))
    }

    async fn update_profile(
        &self,
        _: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        Err(unimplemented("UpdateProfile"))
    }

    async fn start_phone_verification(
        &self,
        _: Request<pb::StartPhoneVerificationRequest>,
    ) -> Result<Response<pb::StartPhoneVerificationResponse>, Status> {
        Err(unimplemented("StartPhoneVerification"))
    }

    async fn disable_two_step(
        &self,
        _: Request<pb::DisableTwoStepRequest>,
    ) -> Result<Response<pb::DisableTwoStepResponse>, Status> {
        Err(unimplemented("DisableTwoStep"))
    }

    async fn regenerate_backup_codes(
        &self,
        _: Request<pb::RegenerateBackupCodesRequest>,
    ) -> Result<Response<pb::RegenerateBackupCodesResponse>, Status> {
        Err(unimplemented("RegenerateBackupCodes"))
    }

    async fn change_password(
        &self,
        _: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        Err(unimplemented("ChangePassword"))
    }

    async fn list_sessions(
        &self,
        _: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Err(unimplemented("ListSessions"))
    }
}
