//! Bad input on every RPC: empty requests, garbage ids, oversized strings. The answer is a
//! client error naming what is wrong (INVALID_ARGUMENT), or the uniform UNAUTHENTICATED, or a
//! documented refusal; never INTERNAL or UNKNOWN, and never a crash.

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;

/// Codes a bad request may get. UNIMPLEMENTED is allowed for RPCs not built yet.
const ACCEPTABLE: &[Code] = &[
    Code::InvalidArgument,
    Code::Unauthenticated,
    Code::PermissionDenied,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::Unimplemented,
];

#[track_caller]
fn check<T: std::fmt::Debug>(rpc: &str, res: Result<tonic::Response<T>, tonic::Status>) {
    match res {
        Ok(r) => panic!("{rpc}: a bad request succeeded: {r:?}"),
        Err(s) => assert!(
            ACCEPTABLE.contains(&s.code()),
            "{rpc}: {:?} {}",
            s.code(),
            s.message()
        ),
    }
}

fn huge() -> String {
    "9".repeat(100_000)
}

#[tokio::test]
async fn every_rpc_refuses_empty_and_oversized_requests_without_internal_errors() {
    let server = TestServer::start(Backend::Embedded).await;
    let mut auth = server.auth().await;
    let mut account = server.account().await;
    let mut admin = server.admin().await;
    let h = huge();

    check(
        "StartLogin",
        auth.start_login(pb::StartLoginRequest::default()).await,
    );
    check(
        "StartLogin huge phone",
        auth.start_login(pb::StartLoginRequest {
            client: client(),
            method: Some(pb::start_login_request::Method::Phone(
                pb::PhoneCredentials {
                    phone_number: h.clone(),
                },
            )),
        })
        .await,
    );
    check(
        "StartLogin huge login",
        auth.start_login(pb::StartLoginRequest {
            client: client(),
            method: Some(pb::start_login_request::Method::Password(
                pb::PasswordCredentials {
                    login: h.clone(),
                    password: h.clone(),
                },
            )),
        })
        .await,
    );
    check(
        "StartLogin huge client",
        auth.start_login(pb::StartLoginRequest {
            client: Some(pb::ClientContext {
                user_agent: h.clone(),
                ..Default::default()
            }),
            method: Some(pb::start_login_request::Method::Phone(
                pb::PhoneCredentials {
                    phone_number: "+14155550100".into(),
                },
            )),
        })
        .await,
    );
    check(
        "VerifyCode",
        auth.verify_code(pb::VerifyCodeRequest::default()).await,
    );
    check(
        "VerifyCode unknown",
        auth.verify_code(pb::VerifyCodeRequest {
            client: client(),
            challenge_id: uuid::Uuid::new_v4().to_string(),
            code: "123456".into(),
        })
        .await,
    );
    check(
        "ResendCode",
        auth.resend_code(pb::ResendCodeRequest::default()).await,
    );
    check(
        "ResendCode unknown",
        auth.resend_code(pb::ResendCodeRequest {
            client: client(),
            challenge_id: uuid::Uuid::new_v4().to_string(),
        })
        .await,
    );
    check(
        "UseBackupCode",
        auth.use_backup_code(pb::UseBackupCodeRequest::default())
            .await,
    );
    check(
        "StartRegistration",
        auth.start_registration(pb::StartRegistrationRequest::default())
            .await,
    );
    check(
        "CompleteRegistration",
        auth.complete_registration(pb::CompleteRegistrationRequest::default())
            .await,
    );
    check(
        "CompleteRegistration unknown ticket",
        auth.complete_registration(pb::CompleteRegistrationRequest {
            client: client(),
            ticket: "tst_unknown".into(),
            display_name: "A".into(),
            email: "a@example.com".into(),
            password: None,
        })
        .await,
    );
    check(
        "RefreshSession",
        auth.refresh_session(pb::RefreshSessionRequest::default())
            .await,
    );
    check(
        "ValidateSession",
        auth.validate_session(pb::ValidateSessionRequest::default())
            .await,
    );
    check(
        "ValidateSession huge",
        auth.validate_session(pb::ValidateSessionRequest {
            access_token: h.clone(),
        })
        .await,
    );
    check(
        "RevokeSession",
        auth.revoke_session(pb::RevokeSessionRequest::default())
            .await,
    );

    check(
        "GetProfile",
        account.get_profile(pb::GetProfileRequest::default()).await,
    );
    check(
        "UpdateProfile",
        account
            .update_profile(pb::UpdateProfileRequest::default())
            .await,
    );
    check(
        "StartPhoneVerification",
        account
            .start_phone_verification(pb::StartPhoneVerificationRequest::default())
            .await,
    );
    check(
        "DisableTwoStep",
        account
            .disable_two_step(pb::DisableTwoStepRequest::default())
            .await,
    );
    check(
        "RegenerateBackupCodes",
        account
            .regenerate_backup_codes(pb::RegenerateBackupCodesRequest::default())
            .await,
    );
    check(
        "ChangePassword",
        account
            .change_password(pb::ChangePasswordRequest::default())
            .await,
    );
    check(
        "ListSessions",
        account
            .list_sessions(pb::ListSessionsRequest::default())
            .await,
    );

    check(
        "CreateTenant",
        admin
            .create_tenant(pb::CreateTenantRequest::default())
            .await,
    );
    check(
        "GetTenant garbage",
        admin
            .get_tenant(pb::GetTenantRequest {
                tenant_id: "x".into(),
            })
            .await,
    );
    check(
        "GetTenant unknown",
        admin
            .get_tenant(pb::GetTenantRequest {
                tenant_id: uuid::Uuid::new_v4().to_string(),
            })
            .await,
    );
    check(
        "ListTenants",
        admin
            .list_tenants(pb::ListTenantsRequest {
                page_size: 0,
                page_token: "x".into(),
            })
            .await,
    );
    check(
        "UpdateTenantPolicy",
        admin
            .update_tenant_policy(pb::UpdateTenantPolicyRequest {
                tenant_id: "x".into(),
                ..Default::default()
            })
            .await,
    );
    check(
        "CreateUser",
        admin.create_user(pb::CreateUserRequest::default()).await,
    );
    check(
        "CreateUser huge",
        admin
            .create_user(pb::CreateUserRequest {
                display_name: h.clone(),
                email: h.clone(),
                ..Default::default()
            })
            .await,
    );
    check(
        "GetUser",
        admin.get_user(pb::GetUserRequest::default()).await,
    );
    check(
        "GetUser unknown",
        admin
            .get_user(pb::GetUserRequest {
                user_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            })
            .await,
    );
    check(
        "FindUser",
        admin.find_user(pb::FindUserRequest::default()).await,
    );
    check(
        "SetUserPhone",
        admin
            .set_user_phone(pb::SetUserPhoneRequest::default())
            .await,
    );
    check(
        "ForcePasswordChange",
        admin
            .force_password_change(pb::ForcePasswordChangeRequest::default())
            .await,
    );
    check(
        "ResetTwoStep",
        admin
            .reset_two_step(pb::ResetTwoStepRequest::default())
            .await,
    );
    check(
        "LockUser",
        admin.lock_user(pb::LockUserRequest::default()).await,
    );
    check(
        "UnlockUser",
        admin.unlock_user(pb::UnlockUserRequest::default()).await,
    );
    check(
        "ListAuditEvents",
        admin
            .list_audit_events(pb::ListAuditEventsRequest {
                page_token: "x".into(),
                ..Default::default()
            })
            .await,
    );
    check(
        "CreateApiClient",
        admin
            .create_api_client(pb::CreateApiClientRequest::default())
            .await,
    );
    check(
        "RevokeApiClient",
        admin
            .revoke_api_client(pb::RevokeApiClientRequest::default())
            .await,
    );
    check(
        "SetSmsProviders",
        admin
            .set_sms_providers(pb::SetSmsProvidersRequest {
                tenant_id: "x".into(),
                ..Default::default()
            })
            .await,
    );
    check(
        "SendTestSms",
        admin.send_test_sms(pb::SendTestSmsRequest::default()).await,
    );
    check(
        "GetSmsProviders",
        admin
            .get_sms_providers(pb::GetSmsProvidersRequest {
                tenant_id: "x".into(),
            })
            .await,
    );
    check(
        "SendTestSms",
        admin
            .send_test_sms(pb::SendTestSmsRequest {
                phone_number: huge(),
                ..Default::default()
            })
            .await,
    );

    // Nothing above changed anything: the default tenant still has no users.
    let res = admin
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.tenants.len(), 1, "only the default tenant exists");
    assert!(
        server
            .settled_stderr_text()
            .await
            .lines()
            .all(|l| !l.contains("panicked")),
        "twostepd panicked"
    );
    let _ = Code::Ok;
}
