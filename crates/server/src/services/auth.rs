//! `twostep.v1.AuthService`.

use tonic::{Request, Response, Status};
use twostep_core::flows::backup_login;
use twostep_core::flows::password_login::{self, LoginStep};
use twostep_core::flows::registration::{self, Completion, EmailRegistration, RegistrationStart};
use twostep_core::flows::sessions::RevokeTarget;
use twostep_core::flows::verify::Verified;
use twostep_core::flows::{codes, login, sessions, tenants, verify};
use twostep_core::ids::ChallengeId;
use twostep_core::otp::OtpCode;
use twostep_proto::v1 as pb;
use twostep_proto::v1::auth_service_server::AuthService;

use crate::caller;
use crate::convert;
use crate::error::{IntoStatus, invalid_argument, missing};
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
                convert::bounded("password.login", &creds.login, 320)?;
                let outcome = password_login::start(
                    &self.state.deps,
                    tenant,
                    &creds.login,
                    &creds.password,
                    &client,
                )
                .await
                .into_status()?;
                use pb::start_login_response::Result as R;
                let result = match outcome.step {
                    LoginStep::Challenge(view) => R::Challenge(convert::challenge(&view)),
                    LoginStep::Session(issued) => R::Session(convert::session(&issued)),
                    LoginStep::EnrollmentRequired(token, ttl) => {
                        R::EnrollmentRequired(convert::ticket(&token, ttl))
                    }
                    LoginStep::PasswordChangeRequired(token, ttl) => {
                        R::PasswordChangeRequired(convert::ticket(&token, ttl))
                    }
                };
                Ok(Response::new(pb::StartLoginResponse {
                    result: Some(result),
                    remind_two_step: outcome.remind_two_step,
                }))
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
        use pb::verify_code_response::Result as R;
        let result = match verified {
            Verified::Session(issued) => R::Session(convert::session(&issued)),
            Verified::RegistrationTicket(token, ttl) => {
                R::RegistrationTicket(convert::ticket(&token, ttl))
            }
            Verified::PasswordChangeRequired(token, ttl) => {
                R::PasswordChangeRequired(convert::ticket(&token, ttl))
            }
            Verified::PhoneVerified(outcome) => R::PhoneVerified(pb::PhoneVerified {
                masked_phone: outcome.masked_phone,
                two_step_enabled: outcome.two_step_enabled,
                backup_codes: outcome.backup_codes,
                session: outcome.session.as_ref().map(convert::session),
            }),
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
        let client = convert::client_info(req.client.as_ref())?;
        let challenge: ChallengeId = convert::required_id("challenge_id", &req.challenge_id)?;
        let tenant = tenants::caller_tenant(&self.state.deps, tenant_id)
            .await
            .into_status()?;
        let view = codes::resend(&self.state.deps, &tenant, challenge, &client)
            .await
            .into_status()?;
        Ok(Response::new(pb::ResendCodeResponse {
            challenge: Some(convert::challenge(&view)),
        }))
    }

    async fn use_backup_code(
        &self,
        request: Request<pb::UseBackupCodeRequest>,
    ) -> Result<Response<pb::UseBackupCodeResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        let challenge: ChallengeId = convert::required_id("challenge_id", &req.challenge_id)?;
        if req.backup_code.trim().is_empty() {
            return Err(missing("backup_code"));
        }
        convert::bounded("backup_code", &req.backup_code, 64)?;
        let (verified, remaining) = backup_login::use_backup_code(
            &self.state.deps,
            tenant,
            challenge,
            &req.backup_code,
            &client,
        )
        .await
        .into_status()?;
        use pb::use_backup_code_response::Result as R;
        let result = match verified {
            Verified::Session(issued) => R::Session(convert::session(&issued)),
            Verified::PasswordChangeRequired(token, ttl) => {
                R::PasswordChangeRequired(convert::ticket(&token, ttl))
            }
            Verified::RegistrationTicket(..) | Verified::PhoneVerified(_) => {
                return Err(crate::error::to_status(twostep_core::CoreError::Internal(
                    "a backup code finished something other than a login".into(),
                )));
            }
        };
        Ok(Response::new(pb::UseBackupCodeResponse {
            result: Some(result),
            remaining_backup_codes: u32::try_from(remaining).unwrap_or(u32::MAX),
        }))
    }

    async fn start_registration(
        &self,
        request: Request<pb::StartRegistrationRequest>,
    ) -> Result<Response<pb::StartRegistrationResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.into_inner();
        let client = convert::client_info(req.client.as_ref())?;
        use pb::start_registration_response::Result as R;
        let result = match req.method {
            None => return Err(missing("method")),
            Some(pb::start_registration_request::Method::Phone(phone)) => {
                if phone.phone_number.trim().is_empty() {
                    return Err(missing("phone.phone_number"));
                }
                let view = registration::start_with_phone(
                    &self.state.deps,
                    tenant,
                    &phone.phone_number,
                    &client,
                )
                .await
                .into_status()?;
                R::Challenge(convert::challenge(&view))
            }
            Some(pb::start_registration_request::Method::Email(email)) => {
                for (field, value) in [
                    ("email.email", &email.email),
                    ("email.password", &email.password),
                ] {
                    if value.trim().is_empty() {
                        return Err(missing(field));
                    }
                }
                convert::bounded("email.display_name", &email.display_name, 1024)?;
                let input = EmailRegistration {
                    email: email.email,
                    password: email.password,
                    display_name: email.display_name,
                    phone: Some(email.phone_number),
                };
                match registration::start_with_email(&self.state.deps, tenant, input, &client)
                    .await
                    .into_status()?
                {
                    RegistrationStart::Challenge(view) => R::Challenge(convert::challenge(&view)),
                    RegistrationStart::Session(issued) => R::Session(convert::session(&issued)),
                }
            }
        };
        Ok(Response::new(pb::StartRegistrationResponse {
            result: Some(result),
        }))
    }

    async fn complete_registration(
        &self,
        request: Request<pb::CompleteRegistrationRequest>,
    ) -> Result<Response<pb::CompleteRegistrationResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.into_inner();
        let client = convert::client_info(req.client.as_ref())?;
        if req.ticket.trim().is_empty() {
            return Err(missing("ticket"));
        }
        if req.email.trim().is_empty() {
            return Err(missing("email"));
        }
        convert::bounded("display_name", &req.display_name, 1024)?;
        let input = Completion {
            ticket: req.ticket,
            display_name: req.display_name,
            email: req.email,
            password: req.password,
        };
        let issued = registration::complete(&self.state.deps, tenant, input, &client)
            .await
            .into_status()?;
        Ok(Response::new(pb::CompleteRegistrationResponse {
            session: Some(convert::session(&issued)),
        }))
    }

    async fn refresh_session(
        &self,
        request: Request<pb::RefreshSessionRequest>,
    ) -> Result<Response<pb::RefreshSessionResponse>, Status> {
        let tenant_id = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        if req.refresh_token.trim().is_empty() {
            return Err(missing("refresh_token"));
        }
        let tenant = tenants::caller_tenant(&self.state.deps, tenant_id)
            .await
            .into_status()?;
        let issued = sessions::refresh(&self.state.deps, &tenant, &req.refresh_token, &client)
            .await
            .into_status()?;
        Ok(Response::new(pb::RefreshSessionResponse {
            session: Some(convert::session(&issued)),
        }))
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
        request: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        let tenant = caller::tenant(&self.state, &request).await?;
        let req = request.get_ref();
        let client = convert::client_info(req.client.as_ref())?;
        if req.access_token.is_empty() {
            return Err(missing("access_token"));
        }
        let target = match &req.target {
            None | Some(pb::revoke_session_request::Target::AllSessions(false)) => {
                RevokeTarget::Current
            }
            Some(pb::revoke_session_request::Target::AllSessions(true)) => RevokeTarget::All,
            Some(pb::revoke_session_request::Target::SessionId(id)) => {
                RevokeTarget::Session(convert::required_id("session_id", id)?)
            }
        };
        let session = sessions::validate(&self.state.deps, &req.access_token)
            .await
            .into_status()?;
        if session.tenant != tenant {
            return Err(crate::error::to_status(
                twostep_core::CoreError::Unauthenticated,
            ));
        }
        let count = sessions::revoke(&self.state.deps, &req.access_token, target, &client)
            .await
            .into_status()?;
        Ok(Response::new(pb::RevokeSessionResponse {
            revoked_count: u32::try_from(count).unwrap_or(u32::MAX),
        }))
    }
}
