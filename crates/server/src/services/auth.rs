//! `twostep.v1.AuthService`.

use tonic::{Request, Response, Status};
use twostep_core::flows::verify::Verified;
use twostep_core::flows::{codes, login, sessions, tenants, verify};
use twostep_core::ids::ChallengeId;
use twostep_core::otp::OtpCode;
use twostep_proto::v1 as pb;
use twostep_proto::v1::auth_service_server::AuthService;

use crate::caller;
use crate::convert;
use crate::error::{IntoStatus, invalid_argument, missing, unimplemented};
use crate::state::AppState;

pub struct AuthApi {
    pub state: AppState,
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn start_login(
        &self,
        request: Request<pb::StartLoginRequest>,
    ) -> Result<Response<pb::StartLoginResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        match &req.method {
            None => Err(missing("method")),
            Some(pb::start_login_request::Method::Phone(phone)) => {
                if phone.phone_number.trim().is_empty() {
                    return Err(missing("phone.phone_number"));
                }
                let view = login::start_phone_login(
                    &self.state.deps,
                    tenant,
                    &phone.phone_number,
                    &client,
                )
                .await
                .into_status()?;
                Ok(Response::new(pb::StartLoginResponse {
                    result: Some(pb::start_login_response::Result::Challenge(
                        convert::challenge(&view),
                    )),
                    remind_two_step: false,
                }))
            }
            Some(pb::start_login_request::Method::Password(creds)) => {
                if creds.login.trim().is_empty() {
                    return Err(missing("password.login"));
                }
                if creds.password.is_empty() {
                    return Err(missing("password.password"));
                }
                Err(unimplemented("StartLogin with a password"))
            }
        }
    }

    async fn verify_code(
        &self,
        request: Request<pb::VerifyCodeRequest>,
    ) -> Result<Response<pb::VerifyCodeResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let challenge: ChallengeId = convert::required_id("challenge_id", &req.challenge_id)?;
        let code =
            OtpCode::parse(&req.code).map_err(|e| invalid_argument("code", &e.to_string()))?;
        let verified = verify::verify_code(&self.state.deps, tenant, challenge, &code, &client)
            .await
            .into_status()?;
        let result = match verified {
            Verified::Session(issued) => {
                pb::verify_code_response::Result::Session(convert::session(&issued))
            }
        };
        Ok(Response::new(pb::VerifyCodeResponse {
            result: Some(result),
        }))
    }

    async fn resend_code(
        &self,
        request: Request<pb::ResendCodeRequest>,
    ) -> Result<Response<pb::ResendCodeResponse>, Status> {
        let tenant_id = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        convert::client_info(req.client.as_ref())?;
        let challenge: ChallengeId = convert::required_id("challenge_id", &req.challenge_id)?;
        let tenant = tenants::caller_tenant(&self.state.deps, tenant_id)
            .await
            .into_status()?;
        let view = codes::resend(&self.state.deps, &tenant, challenge)
            .await
            .into_status()?;
        Ok(Response::new(pb::ResendCodeResponse {
            challenge: Some(convert::challenge(&view)),
        }))
    }

    async fn use_backup_code(
        &self,
        _: Request<pb::UseBackupCodeRequest>,
    ) -> Result<Response<pb::UseBackupCodeResponse>, Status> {
        Err(unimplemented("UseBackupCode"))
    }

    async fn start_registration(
        &self,
        _: Request<pb::StartRegistrationRequest>,
    ) -> Result<Response<pb::StartRegistrationResponse>, Status> {
        Err(unimplemented("StartRegistration"))
    }

    async fn complete_registration(
        &self,
        _: Request<pb::CompleteRegistrationRequest>,
    ) -> Result<Response<pb::CompleteRegistrationResponse>, Status> {
        Err(unimplemented("CompleteRegistration"))
    }

    async fn refresh_session(
        &self,
        _: Request<pb::RefreshSessionRequest>,
    ) -> Result<Response<pb::RefreshSessionResponse>, Status> {
        Err(unimplemented("RefreshSession"))
    }

    async fn validate_session(
        &self,
        request: Request<pb::ValidateSessionRequest>,
    ) -> Result<Response<pb::ValidateSessionResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let token = &request.get_ref().access_token;
        if token.is_empty() {
            return Err(missing("access_token"));
        }
        let s = sessions::validate(&self.state.deps, token)
            .await
            .into_status()?;
        // A token of another tenant is as unknown as a made-up one.
        if s.tenant != tenant {
            return Err(crate::error::to_status(
                twostep_core::CoreError::Unauthenticated,
            ));
        }
        Ok(Response::new(pb::ValidateSessionResponse {
            session_id: s.id.to_string(),
            user_id: s.user.to_string(),
            tenant_id: s.tenant.to_string(),
            role: convert::role(s.role).into(),
            auth_method: convert::auth_method(s.auth_method).into(),
            expires_at: Some(convert::timestamp(
                s.access_expires_at.min(s.absolute_expires_at),
            )),
        }))
    }

    async fn revoke_session(
        &self,
        _: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        Err(unimplemented("RevokeSession"))
    }
}
