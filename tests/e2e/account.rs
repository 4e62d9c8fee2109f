//! AccountService end to end: phone enrollment and change (R28, R29, R31), disabling two-step
//! by tenant policy, backup codes (R26), password changes (R24, R25), session listings, and
//! bad input.

use std::time::Duration;

use tonic::{Code, Request};
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase for ada";

// ---------------------------------------------------------------------------------------
// Helpers

/// `n` random US numbers whose last four digits differ, so console SMS can be told apart.
fn numbers(n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    while out.len() < n {
        let candidate = random_us_number();
        if out.iter().all(|o| last_four(o) != last_four(&candidate)) {
            out.push(candidate);
        }
    }
    out
}

/// A request, optionally for a tenant other than the default (by slug).
fn req<T>(tenant: Option<&str>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(slug) = tenant {
        request
            .metadata_mut()
            .insert("x-twostep-tenant", slug.parse().unwrap());
    }
    request
}

struct NewUser<'a> {
    tenant_id: &'a str,
    phone: &'a str,
    email: &'a str,
    password: &'a str,
    two_step: bool,
    must_change_password: bool,
}

impl Default for NewUser<'_> {
    fn default() -> Self {
        Self {
            tenant_id: "",
            phone: "",
            email: "",
            password: PASSWORD,
            two_step: false,
            must_change_password: false,
        }
    }
}

async fn create_user(server: &TestServer, u: NewUser<'_>) -> pb::User {
    let mut admin = server.admin().await;
    admin
        .create_user(pb::CreateUserRequest {
            tenant_id: u.tenant_id.into(),
            email: u.email.into(),
            display_name: "Ada".into(),
            phone_number: u.phone.into(),
            phone_verified: !u.phone.is_empty(),
            password: u.password.into(),
            two_step_enabled: u.two_step,
            must_change_password: u.must_change_password,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

/// A tenant with phone login allowed and the given tweaks; returns (id, slug).
async fn create_tenant(
    server: &TestServer,
    tweak: impl FnOnce(&mut pb::TenantPolicy),
) -> (String, String) {
    let slug = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut policy = pb::TenantPolicy {
        phone_login_allowed: true,
        phone_registration_allowed: true,
        ..Default::default()
    };
    tweak(&mut policy);
    let mut admin = server.admin().await;
    let tenant = admin
        .create_tenant(pb::CreateTenantRequest {
            slug: slug.clone(),
            name: "Acme Shop".into(),
            app_name: String::new(),
            policy: Some(policy),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    (tenant.tenant_id, slug)
}

/// Logs in by phone (the number must be verified) and returns the session.
async fn phone_session(server: &TestServer, tenant: Option<&str>, phone: &str) -> pb::Session {
    let seen = server.sms_count(&last_four(phone));
    let mut auth = server.auth().await;
    let res = auth
        .start_login(req(
            tenant,
            pb::StartLoginRequest {
                client: client(),
                method: Some(pb::start_login_request::Method::Phone(
                    pb::PhoneCredentials {
                        phone_number: phone.into(),
                    },
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::start_login_response::Result::Challenge(challenge)) = res.result else {
        panic!("{res:?}")
    };
    let code = server.next_code_for(&last_four(phone), seen).await;
    match verify_in(server, tenant, &challenge.challenge_id, &code)
        .await
        .unwrap()
        .result
    {
        Some(pb::verify_code_response::Result::Session(s)) => s,
        other => panic!("expected a session, got {other:?}"),
    }
}

async fn verify_in(
    server: &TestServer,
    tenant: Option<&str>,
    challenge_id: &str,
    code: &str,
) -> Result<pb::VerifyCodeResponse, tonic::Status> {
    let mut auth = server.auth().await;
    auth.verify_code(req(
        tenant,
        pb::VerifyCodeRequest {
            client: client(),
            challenge_id: challenge_id.into(),
            code: code.into(),
        },
    ))
    .await
    .map(tonic::Response::into_inner)
}

async fn phone_verified(
    server: &TestServer,
    tenant: Option<&str>,
    challenge_id: &str,
    code: &str,
) -> pb::PhoneVerified {
    match verify_in(server, tenant, challenge_id, code)
        .await
        .unwrap()
        .result
    {
        Some(pb::verify_code_response::Result::PhoneVerified(v)) => v,
        other => panic!("expected PhoneVerified, got {other:?}"),
    }
}

async fn profile(server: &TestServer, tenant: Option<&str>, token: &str) -> pb::GetProfileResponse {
    let mut account = server.account().await;
    account
        .get_profile(req(
            tenant,
            pb::GetProfileRequest {
                access_token: token.into(),
                client: client(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn start_verification(
    server: &TestServer,
    tenant: Option<&str>,
    token: &str,
    phone: &str,
    reauth: Option<pb::reauthentication::Method>,
) -> Result<pb::Challenge, tonic::Status> {
    let mut account = server.account().await;
    account
        .start_phone_verification(req(
            tenant,
            pb::StartPhoneVerificationRequest {
                access_token: token.into(),
                client: client(),
                phone_number: phone.into(),
                reauth: reauth.map(|m| pb::Reauthentication { method: Some(m) }),
                ticket: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner().challenge.unwrap())
}

/// Sends a code to `phone` (typed as `input`; empty means the number on the profile) and
/// answers it: the enrollment every test starts from.
async fn enroll(
    server: &TestServer,
    tenant: Option<&str>,
    token: &str,
    input: &str,
    phone: &str,
) -> pb::PhoneVerified {
    let seen = server.sms_count(&last_four(phone));
    let challenge = start_verification(server, tenant, token, input, None)
        .await
        .unwrap();
    assert_eq!(
        challenge.purpose,
        pb::ChallengePurpose::PhoneVerification as i32
    );
    let code = server.next_code_for(&last_four(phone), seen).await;
    phone_verified(server, tenant, &challenge.challenge_id, &code).await
}

fn password(p: &str) -> Option<pb::reauthentication::Method> {
    Some(pb::reauthentication::Method::CurrentPassword(p.into()))
}

fn backup(code: &str) -> Option<pb::reauthentication::Method> {
    Some(pb::reauthentication::Method::BackupCode(code.into()))
}

fn step_up(challenge: &pb::Challenge, code: &str) -> Option<pb::reauthentication::Method> {
    Some(pb::reauthentication::Method::StepUpCode(pb::StepUpCode {
        challenge_id: challenge.challenge_id.clone(),
        code: code.into(),
    }))
}

fn send_step_up() -> Option<pb::reauthentication::Method> {
    Some(pb::reauthentication::Method::SendStepUpCode(true))
}

async fn disable(
    server: &TestServer,
    tenant: Option<&str>,
    token: &str,
    reauth: Option<pb::reauthentication::Method>,
) -> Result<pb::disable_two_step_response::Result, tonic::Status> {
    let mut account = server.account().await;
    account
        .disable_two_step(req(
            tenant,
            pb::DisableTwoStepRequest {
                access_token: token.into(),
                client: client(),
                reauth: reauth.map(|m| pb::Reauthentication { method: Some(m) }),
            },
        ))
        .await
        .map(|r| r.into_inner().result.unwrap())
}

async fn regenerate(
    server: &TestServer,
    token: &str,
    reauth: Option<pb::reauthentication::Method>,
) -> Result<Vec<String>, tonic::Status> {
    let mut account = server.account().await;
    let res = account
        .regenerate_backup_codes(pb::RegenerateBackupCodesRequest {
            access_token: token.into(),
            client: client(),
            reauth: reauth.map(|m| pb::Reauthentication { method: Some(m) }),
        })
        .await?
        .into_inner();
    match res.result {
        Some(pb::regenerate_backup_codes_response::Result::BackupCodes(b)) => Ok(b.codes),
        other => panic!("expected backup codes, got {other:?}"),
    }
}

async fn change_password(
    server: &TestServer,
    request: pb::ChangePasswordRequest,
) -> Result<pb::ChangePasswordResponse, tonic::Status> {
    let mut account = server.account().await;
    account
        .change_password(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn validate(
    server: &TestServer,
    token: &str,
) -> Result<pb::ValidateSessionResponse, tonic::Status> {
    let mut auth = server.auth().await;
    auth.validate_session(pb::ValidateSessionRequest {
        access_token: token.into(),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn password_login(
    server: &TestServer,
    tenant: Option<&str>,
    login: &str,
    password: &str,
) -> Result<pb::start_login_response::Result, tonic::Status> {
    let mut auth = server.auth().await;
    auth.start_login(req(
        tenant,
        pb::StartLoginRequest {
            client: client(),
            method: Some(pb::start_login_request::Method::Password(
                pb::PasswordCredentials {
                    login: login.into(),
                    password: password.into(),
                },
            )),
        },
    ))
    .await
    .map(|r| r.into_inner().result.unwrap())
}

fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.reason.clone()))
        .unwrap_or_default()
}

fn email() -> String {
    format!(
        "ada.{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

// ---------------------------------------------------------------------------------------
// Enrollment

/// R31: the first enrollment turns two-step on and hands out ten backup codes, once.
#[tokio::test]
async fn r31_enrollment_enables_two_step_and_returns_backup_codes_once() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone] = numbers(1).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &phone).await;
    let before = profile(&server, None, &session.access_token).await;
    let user = before.user.unwrap();
    assert!(!user.two_step_enabled && user.phone_verified);
    assert_eq!(before.remaining_backup_codes, 0);

    // Empty phone_number: the number on the profile. Re-verifying it needs no reauth.
    let first = enroll(&server, None, &session.access_token, "", &phone).await;
    assert!(first.two_step_enabled);
    assert_eq!(first.backup_codes.len(), 10);
    assert!(first.session.is_none());
    assert!(phone.ends_with(&first.masked_phone[first.masked_phone.len() - 4..]));
    let mut distinct = first.backup_codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);

    let after = profile(&server, None, &session.access_token).await;
    assert!(after.user.unwrap().two_step_enabled);
    assert_eq!(after.remaining_backup_codes, 10);

    let second = enroll(&server, None, &session.access_token, &phone, &phone).await;
    assert!(second.two_step_enabled);
    assert!(second.backup_codes.is_empty(), "codes are handed out once");
}

/// A user without a phone sets one through UpdateProfile: nothing is stored until the code
/// is verified; then two-step is on with ten backup codes.
#[tokio::test]
async fn a_first_phone_set_in_the_profile_is_stored_only_once_verified() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone] = numbers(1).try_into().unwrap();
    let address = email();
    create_user(
        &server,
        NewUser {
            email: &address,
            ..Default::default()
        },
    )
    .await;
    let Ok(pb::start_login_response::Result::Session(session)) =
        password_login(&server, None, &address, PASSWORD).await
    else {
        panic!("password login without two-step answers a session")
    };
    let mut account = server.account().await;
    let res = account
        .update_profile(pb::UpdateProfileRequest {
            access_token: session.access_token.clone(),
            client: client(),
            display_name: Some("Ada Lovelace".into()),
            phone_number: Some(phone.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let user = res.user.unwrap();
    assert_eq!(user.display_name, "Ada Lovelace");
    assert_eq!(
        user.masked_phone, "",
        "the number is stored only once verified"
    );
    let challenge = res.challenge.unwrap();
    assert_eq!(
        challenge.purpose,
        pb::ChallengePurpose::PhoneVerification as i32
    );
    let code = server.last_code_for(&last_four(&phone)).await;
    let verified = phone_verified(&server, None, &challenge.challenge_id, &code).await;
    assert!(verified.two_step_enabled);
    assert_eq!(verified.backup_codes.len(), 10);
    let user = profile(&server, None, &session.access_token)
        .await
        .user
        .unwrap();
    assert!(user.phone_verified && user.two_step_enabled);
    assert!(user.masked_phone.ends_with(&last_four(&phone)));
}

/// Two-step required, no phone yet: the login's enrollment ticket starts the verification,
/// and the verified code completes the login (PASSWORD_AND_SMS) with backup codes (R31).
#[tokio::test]
async fn an_enrollment_ticket_finishes_the_login_with_a_session() {
    let server = TestServer::start(Backend::Embedded).await;
    let (tenant_id, slug) = create_tenant(&server, |p| {
        p.two_step_customers = pb::TwoStepMode::Required as i32;
    })
    .await;
    let tenant = Some(slug.as_str());
    let [phone] = numbers(1).try_into().unwrap();
    let address = email();
    create_user(
        &server,
        NewUser {
            tenant_id: &tenant_id,
            email: &address,
            ..Default::default()
        },
    )
    .await;
    let Ok(pb::start_login_response::Result::EnrollmentRequired(ticket)) =
        password_login(&server, tenant, &address, PASSWORD).await
    else {
        panic!("a required two-step without a phone answers an enrollment ticket")
    };
    let start = |ticket: String, phone: String| {
        let server = &server;
        async move {
            let mut account = server.account().await;
            account
                .start_phone_verification(req(
                    tenant,
                    pb::StartPhoneVerificationRequest {
                        client: client(),
                        phone_number: phone,
                        ticket,
                        ..Default::default()
                    },
                ))
                .await
                .map(|r| r.into_inner().challenge.unwrap())
        }
    };
    // A bad number is refused before the ticket is spent.
    let status = assert_code(
        start(ticket.ticket.clone(), "12".into()).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "phone_number");
    let challenge = start(ticket.ticket.clone(), phone.clone()).await.unwrap();
    // The ticket works once.
    assert_code(
        start(ticket.ticket.clone(), phone.clone()).await,
        Code::Unauthenticated,
    );
    let code = server.last_code_for(&last_four(&phone)).await;
    let verified = phone_verified(&server, tenant, &challenge.challenge_id, &code).await;
    assert_eq!(verified.backup_codes.len(), 10);
    let session = verified.session.expect("the login completes");
    assert_eq!(session.auth_method, pb::AuthMethod::PasswordAndSms as i32);
    let mut auth = server.auth().await;
    let valid = auth
        .validate_session(req(
            tenant,
            pb::ValidateSessionRequest {
                access_token: session.access_token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(valid.tenant_id, tenant_id);
}

/// A number another user has verified gets a normal-looking answer and no SMS; no code
/// verifies it.
#[tokio::test]
async fn a_number_verified_by_another_user_gets_a_normal_answer_and_no_code() {
    let server = TestServer::start(Backend::Embedded).await;
    let [mine, theirs] = numbers(2).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &theirs,
            ..Default::default()
        },
    )
    .await;
    create_user(
        &server,
        NewUser {
            phone: &mine,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &mine).await;
    let seen = server.sms_count(&last_four(&theirs));
    let challenge = start_verification(
        &server,
        None,
        &session.access_token,
        &theirs,
        password(PASSWORD),
    )
    .await
    .unwrap();
    assert_eq!(
        challenge.purpose,
        pb::ChallengePurpose::PhoneVerification as i32
    );
    assert!(challenge.masked_destination.ends_with(&last_four(&theirs)));
    assert_eq!(challenge.code_length, 6);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.sms_count(&last_four(&theirs)),
        seen,
        "no code to a taken number"
    );
    assert_code(
        verify_in(&server, None, &challenge.challenge_id, "123456").await,
        Code::Unauthenticated,
    );
}

// ---------------------------------------------------------------------------------------
// Changing a verified number

/// R28, R29: replacing a verified number needs more than the session; with a step-up code to
/// the old number (or the password) and the new number's code it succeeds, the old number is
/// notified, and a code sent to the old number never verifies the new one.
async fn r28_change_walkthrough(backend: Backend) {
    let server = TestServer::start(backend).await;
    let [a, b, c] = numbers(3).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &a,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &a).await;
    let token = session.access_token.as_str();

    // Only a session: PERMISSION_DENIED, through both RPCs, and nothing is sent to B.
    assert_code(
        start_verification(&server, None, token, &b, None).await,
        Code::PermissionDenied,
    );
    let mut account = server.account().await;
    let only_session = account
        .update_profile(pb::UpdateProfileRequest {
            access_token: token.into(),
            client: client(),
            phone_number: Some(b.clone()),
            ..Default::default()
        })
        .await;
    assert_code(only_session, Code::PermissionDenied);
    assert_code(
        start_verification(&server, None, token, &b, password("not my password at all")).await,
        Code::PermissionDenied,
    );
    assert_eq!(server.sms_count(&last_four(&b)), 0);

    // Step-up: a STEP_UP code to the old number A.
    let seen_a = server.sms_count(&last_four(&a));
    let step = start_verification(&server, None, token, &b, send_step_up())
        .await
        .unwrap();
    assert_eq!(step.purpose, pb::ChallengePurpose::StepUp as i32);
    assert!(step.masked_destination.ends_with(&last_four(&a)));
    let code_a = server.next_code_for(&last_four(&a), seen_a).await;
    let challenge_b = start_verification(&server, None, token, &b, step_up(&step, &code_a))
        .await
        .unwrap();
    assert_eq!(
        challenge_b.purpose,
        pb::ChallengePurpose::PhoneVerification as i32
    );
    assert!(challenge_b.masked_destination.ends_with(&last_four(&b)));
    // The step-up code is spent.
    assert_code(
        start_verification(&server, None, token, &b, step_up(&step, &code_a)).await,
        Code::PermissionDenied,
    );
    let code_b = server.last_code_for(&last_four(&b)).await;
    // R29: A's code does not verify B.
    if code_a != code_b {
        assert_code(
            verify_in(&server, None, &challenge_b.challenge_id, &code_a).await,
            Code::Unauthenticated,
        );
    }
    let user = profile(&server, None, token).await.user.unwrap();
    assert!(
        user.masked_phone.ends_with(&last_four(&a)),
        "B is not stored before its code"
    );
    let verified = phone_verified(&server, None, &challenge_b.challenge_id, &code_b).await;
    assert!(verified.masked_phone.ends_with(&last_four(&b)));
    let user = profile(&server, None, token).await.user.unwrap();
    assert!(user.phone_verified && user.masked_phone.ends_with(&last_four(&b)));

    // The old number got a notice, without any code in it (R35).
    let notice = server.wait_for_sms(&last_four(&a), "phone number").await;
    assert!(!notice.chars().any(|ch| ch.is_ascii_digit()), "{notice}");

    // Again, B → C, through UpdateProfile with the password.
    let mut account = server.account().await;
    let res = account
        .update_profile(pb::UpdateProfileRequest {
            access_token: token.into(),
            client: client(),
            phone_number: Some(c.clone()),
            reauth: Some(pb::Reauthentication {
                method: password(PASSWORD),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let challenge_c = res.challenge.unwrap();
    let code_c = server.last_code_for(&last_four(&c)).await;
    // A code for B's old challenge or B's own code does not verify C (R29).
    if code_b != code_c {
        assert_code(
            verify_in(&server, None, &challenge_c.challenge_id, &code_b).await,
            Code::Unauthenticated,
        );
    }
    phone_verified(&server, None, &challenge_c.challenge_id, &code_c).await;
    server.wait_for_sms(&last_four(&b), "phone number").await;
    // The old numbers no longer log in: their logins are decoys, with no SMS.
    let seen_a = server.sms_count(&last_four(&a));
    start_phone_login(&server, &a).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.sms_count(&last_four(&a)), seen_a);
}

#[tokio::test]
async fn r28_changing_a_verified_number_on_the_embedded_default() {
    r28_change_walkthrough(Backend::Embedded).await;
}

#[tokio::test]
async fn r28_changing_a_verified_number_on_postgres_and_redis() {
    r28_change_walkthrough(Backend::PostgresRedis).await;
}

// ---------------------------------------------------------------------------------------
// Two-step off, backup codes

#[tokio::test]
async fn disable_two_step_follows_the_tenant_policy() {
    let server = TestServer::start(Backend::Embedded).await;
    let (allowing_id, allowing) =
        create_tenant(&server, |p| p.users_may_disable_two_step = true).await;
    let (refusing_id, refusing) =
        create_tenant(&server, |p| p.users_may_disable_two_step = false).await;
    let (requiring_id, requiring) = create_tenant(&server, |p| {
        p.users_may_disable_two_step = true;
        p.two_step_customers = pb::TwoStepMode::Required as i32;
    })
    .await;
    let [a, b, c] = numbers(3).try_into().unwrap();
    for (tenant_id, phone) in [(&allowing_id, &a), (&refusing_id, &b), (&requiring_id, &c)] {
        create_user(
            &server,
            NewUser {
                tenant_id,
                phone,
                two_step: true,
                ..Default::default()
            },
        )
        .await;
    }

    let t = Some(allowing.as_str());
    let session = phone_session(&server, t, &a).await;
    let token = session.access_token.as_str();
    assert!(profile(&server, t, token).await.may_disable_two_step);
    let status = assert_code(
        disable(&server, t, token, None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "reauth");
    assert_code(
        disable(&server, t, token, password("wrong wrong wrong")).await,
        Code::PermissionDenied,
    );
    // With a step-up code: the first call only sends it.
    let seen = server.sms_count(&last_four(&a));
    let Ok(pb::disable_two_step_response::Result::StepUpChallenge(step)) =
        disable(&server, t, token, send_step_up()).await
    else {
        panic!("expected a step-up challenge")
    };
    assert!(
        profile(&server, t, token)
            .await
            .user
            .unwrap()
            .two_step_enabled,
        "nothing changed yet"
    );
    let code = server.next_code_for(&last_four(&a), seen).await;
    let Ok(pb::disable_two_step_response::Result::User(user)) =
        disable(&server, t, token, step_up(&step, &code)).await
    else {
        panic!("expected the user")
    };
    assert!(!user.two_step_enabled);
    assert!(user.phone_verified, "the phone stays");
    let p = profile(&server, t, token).await;
    assert!(!p.user.unwrap().two_step_enabled);
    assert_eq!(p.remaining_backup_codes, 0);
    server.wait_for_sms(&last_four(&a), "two-step").await;

    for (slug, phone) in [(&refusing, &b), (&requiring, &c)] {
        let t = Some(slug.as_str());
        let session = phone_session(&server, t, phone).await;
        assert!(
            !profile(&server, t, &session.access_token)
                .await
                .may_disable_two_step
        );
        assert_code(
            disable(&server, t, &session.access_token, password(PASSWORD)).await,
            Code::FailedPrecondition,
        );
        assert!(
            profile(&server, t, &session.access_token)
                .await
                .user
                .unwrap()
                .two_step_enabled
        );
    }
}

/// R26: a new batch invalidates every old code; each code works once.
#[tokio::test]
async fn r26_regenerating_backup_codes_invalidates_the_old_batch() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone, other] = numbers(2).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &phone).await;
    let token = session.access_token.as_str();
    let first = enroll(&server, None, token, "", &phone).await.backup_codes;
    assert_eq!(first.len(), 10);

    let second = regenerate(&server, token, backup(&first[0])).await.unwrap();
    assert_eq!(second.len(), 10);
    assert!(second.iter().all(|c| !first.contains(c)));
    for old in [&first[0], &first[1], &first[9]] {
        assert_code(
            regenerate(&server, token, backup(old)).await,
            Code::PermissionDenied,
        );
    }
    // Codes are typed leniently (case, dashes) but each works once.
    let typed = second[0].to_lowercase().replace('-', "");
    let third = regenerate(&server, token, backup(&typed)).await.unwrap();
    assert_code(
        regenerate(&server, token, backup(&second[1])).await,
        Code::PermissionDenied,
    );
    assert_eq!(
        profile(&server, None, token).await.remaining_backup_codes,
        10
    );
    let fourth = regenerate(&server, token, password(PASSWORD))
        .await
        .unwrap();
    assert_code(
        regenerate(&server, token, backup(&third[0])).await,
        Code::PermissionDenied,
    );
    assert_eq!(fourth.len(), 10);
    server
        .wait_for_sms(&last_four(&phone), "backup codes")
        .await;
    assert_code(
        regenerate(&server, token, None).await,
        Code::InvalidArgument,
    );

    // Without two-step there is nothing to regenerate.
    create_user(
        &server,
        NewUser {
            phone: &other,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &other).await;
    assert_code(
        regenerate(&server, &session.access_token, password(PASSWORD)).await,
        Code::FailedPrecondition,
    );
}

// ---------------------------------------------------------------------------------------
// Passwords

/// R25: a change needs the current password, and `revoke_other_sessions` ends the others
/// at once, refresh tokens included.
#[tokio::test]
async fn r25_a_password_change_needs_the_current_one_and_can_end_other_sessions() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone] = numbers(1).try_into().unwrap();
    let address = email();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            email: &address,
            ..Default::default()
        },
    )
    .await;
    let mine = phone_session(&server, None, &phone).await;
    let other = phone_session(&server, None, &phone).await;
    let change = |current: &str, revoke: bool| pb::ChangePasswordRequest {
        access_token: mine.access_token.clone(),
        client: client(),
        current_password: current.into(),
        new_password: NEW_PASSWORD.into(),
        revoke_other_sessions: revoke,
        ..Default::default()
    };
    assert_code(
        change_password(&server, change("", true)).await,
        Code::PermissionDenied,
    );
    assert_code(
        change_password(&server, change("not the password at all", true)).await,
        Code::PermissionDenied,
    );
    validate(&server, &other.access_token).await.unwrap();

    let res = change_password(&server, change(PASSWORD, true))
        .await
        .unwrap();
    assert_eq!(res.revoked_sessions, 1);
    assert!(res.next.is_none());
    validate(&server, &mine.access_token).await.unwrap();
    assert_code(
        validate(&server, &other.access_token).await,
        Code::Unauthenticated,
    );
    let mut auth = server.auth().await;
    let refresh = auth
        .refresh_session(pb::RefreshSessionRequest {
            client: client(),
            refresh_token: other.refresh_token.clone(),
        })
        .await;
    assert_code(refresh, Code::Unauthenticated);
    server.wait_for_sms(&last_four(&phone), "password").await;

    // The new password is the one that logs in.
    assert_code(
        password_login(&server, None, &address, PASSWORD).await,
        Code::Unauthenticated,
    );
    password_login(&server, None, &address, NEW_PASSWORD)
        .await
        .unwrap();
}

/// R24, R22: refused new passwords name the field and the reason, and change nothing.
#[tokio::test]
async fn r24_new_passwords_are_checked_against_the_blocklist_with_the_reason() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone] = numbers(1).try_into().unwrap();
    let address = email();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            email: &address,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &phone).await;
    // The number itself, as E.164 (12 characters, so the length rule passes).
    let number: String = phone.chars().filter(|c| !c.is_whitespace()).collect();
    for (new, expected) in [
        ("password1234", "BLOCKLISTED"),
        (number.as_str(), "BLOCKLISTED"),
        (address.as_str(), "BLOCKLISTED"),
        ("short", "TOO_SHORT"),
        (&"x".repeat(1025), "TOO_LONG"),
    ] {
        let status = assert_code(
            change_password(
                &server,
                pb::ChangePasswordRequest {
                    access_token: session.access_token.clone(),
                    current_password: PASSWORD.into(),
                    new_password: new.into(),
                    ..Default::default()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_field(&status), "new_password");
        assert_eq!(reason(&status), expected, "{new}");
    }
    // Nothing changed: the old password still is the current one.
    change_password(
        &server,
        pb::ChangePasswordRequest {
            access_token: session.access_token.clone(),
            current_password: PASSWORD.into(),
            new_password: NEW_PASSWORD.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// A forced change: the login's ticket replaces the current password; a refused password does
/// not spend the ticket; after the change the login completes.
#[tokio::test]
async fn a_password_change_ticket_completes_the_login() {
    let server = TestServer::start(Backend::Embedded).await;
    let address = email();
    create_user(
        &server,
        NewUser {
            email: &address,
            must_change_password: true,
            ..Default::default()
        },
    )
    .await;
    let Ok(pb::start_login_response::Result::PasswordChangeRequired(ticket)) =
        password_login(&server, None, &address, PASSWORD).await
    else {
        panic!("expected a password-change ticket")
    };
    let with_ticket = |new: &str| pb::ChangePasswordRequest {
        client: client(),
        ticket: ticket.ticket.clone(),
        new_password: new.into(),
        revoke_other_sessions: true,
        ..Default::default()
    };
    let status = assert_code(
        change_password(&server, with_ticket("password1234")).await,
        Code::InvalidArgument,
    );
    assert_eq!(reason(&status), "BLOCKLISTED");
    let res = change_password(&server, with_ticket(NEW_PASSWORD))
        .await
        .unwrap();
    let Some(pb::change_password_response::Next::Session(session)) = res.next else {
        panic!("{res:?}")
    };
    assert_eq!(session.auth_method, pb::AuthMethod::Password as i32);
    let user = profile(&server, None, &session.access_token)
        .await
        .user
        .unwrap();
    assert!(!user.must_change_password);
    assert_code(
        change_password(&server, with_ticket(NEW_PASSWORD)).await,
        Code::Unauthenticated,
    );
    password_login(&server, None, &address, NEW_PASSWORD)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Sessions, profile, bad input

#[tokio::test]
async fn list_sessions_shows_every_live_session_and_no_token() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone] = numbers(1).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            ..Default::default()
        },
    )
    .await;
    let first = phone_session(&server, None, &phone).await;
    let second = phone_session(&server, None, &phone).await;
    let mut account = server.account().await;
    let list = account
        .list_sessions(pb::ListSessionsRequest {
            access_token: second.access_token.clone(),
            client: client(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.sessions.len(), 2);
    let current: Vec<_> = list.sessions.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].session_id, second.session_id);
    assert!(
        list.sessions
            .iter()
            .any(|s| s.session_id == first.session_id)
    );
    assert!(
        list.sessions
            .iter()
            .all(|s| s.auth_method == pb::AuthMethod::Sms as i32)
    );
    assert!(
        list.sessions
            .iter()
            .all(|s| s.user_agent == "e2e-test" && s.ip_address == "203.0.113.7")
    );
    let dump = format!("{list:?}");
    for secret in [
        &first.access_token,
        &first.refresh_token,
        &second.access_token,
        &second.refresh_token,
    ] {
        assert!(!dump.contains(secret.as_str()));
    }
}

#[tokio::test]
async fn profile_updates_check_the_email_and_change_nothing_on_bad_input() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone, other_phone] = numbers(2).try_into().unwrap();
    let taken = email();
    create_user(
        &server,
        NewUser {
            phone: &other_phone,
            email: &taken,
            ..Default::default()
        },
    )
    .await;
    create_user(
        &server,
        NewUser {
            phone: &phone,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &phone).await;
    let update = |display_name: Option<&str>, email: Option<&str>, phone: Option<&str>| {
        pb::UpdateProfileRequest {
            access_token: session.access_token.clone(),
            client: client(),
            display_name: display_name.map(str::to_owned),
            email: email.map(str::to_owned),
            phone_number: phone.map(str::to_owned),
            reauth: None,
        }
    };
    let mut account = server.account().await;
    let status = assert_code(
        account
            .update_profile(update(Some("Grace"), Some(&taken), None))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "email");
    assert_eq!(reason(&status), "EMAIL_TAKEN");
    for (req, field) in [
        (update(Some("  "), None, None), "display_name"),
        (update(None, Some("not an email"), None), "email"),
        (update(Some("Grace"), None, Some("")), "phone_number"),
        (
            update(Some("Grace"), None, Some("+44 20 7946 0958")),
            "phone_number",
        ),
        (
            update(Some("Grace"), None, Some("not a number")),
            "phone_number",
        ),
    ] {
        let status = assert_code(account.update_profile(req).await, Code::InvalidArgument);
        assert_eq!(violated_field(&status), field);
    }
    let user = profile(&server, None, &session.access_token)
        .await
        .user
        .unwrap();
    assert_eq!(user.display_name, "Ada", "nothing changed");
    assert_eq!(user.email, "");

    let mine = email();
    let res = account
        .update_profile(update(Some("Grace Hopper"), Some(&mine), None))
        .await
        .unwrap()
        .into_inner();
    assert!(res.challenge.is_none());
    let user = res.user.unwrap();
    assert_eq!(
        (user.display_name.as_str(), user.email.as_str()),
        ("Grace Hopper", mine.as_str())
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let server = TestServer::start(Backend::Embedded).await;
    let [phone] = numbers(1).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &phone).await;
    let token = session.access_token.as_str();
    let mut account = server.account().await;

    let status = assert_code(
        account.get_profile(pb::GetProfileRequest::default()).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "access_token");
    assert_code(
        account
            .get_profile(pb::GetProfileRequest {
                access_token: format!("tsa_{}", "A".repeat(43)),
                client: client(),
            })
            .await,
        Code::Unauthenticated,
    );
    assert_code(
        account
            .list_sessions(pb::ListSessionsRequest {
                access_token: "garbage".into(),
                client: client(),
            })
            .await,
        Code::Unauthenticated,
    );

    // Neither or both of token and ticket.
    let status = assert_code(
        account
            .start_phone_verification(pb::StartPhoneVerificationRequest::default())
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "access_token");
    let status = assert_code(
        account
            .start_phone_verification(pb::StartPhoneVerificationRequest {
                access_token: token.into(),
                ticket: "tst_x".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "ticket");
    // An unknown ticket is an authentication failure.
    assert_code(
        account
            .start_phone_verification(pb::StartPhoneVerificationRequest {
                ticket: "tst_unknown".into(),
                phone_number: phone.clone(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
    );
    for (number, code) in [
        ("not a number", "INVALID_PHONE_NUMBER"),
        ("+44 20 7946 0958", "COUNTRY_NOT_ALLOWED"),
    ] {
        let status = assert_code(
            start_verification(&server, None, token, number, None).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_field(&status), "phone_number");
        assert_eq!(reason(&status), code);
    }
    let status = assert_code(
        start_verification(
            &server,
            None,
            token,
            &random_us_number(),
            Some(pb::reauthentication::Method::StepUpCode(pb::StepUpCode {
                challenge_id: "nope".into(),
                code: "123456".into(),
            })),
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "reauth.step_up_code.challenge_id");
    let status = assert_code(
        start_verification(&server, None, token, &random_us_number(), password("")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "reauth.current_password");

    let status = assert_code(
        change_password(
            &server,
            pb::ChangePasswordRequest {
                access_token: token.into(),
                current_password: PASSWORD.into(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "new_password");
    let status = assert_code(
        account
            .get_profile(pb::GetProfileRequest {
                access_token: token.into(),
                client: Some(pb::ClientContext {
                    ip_address: "not an ip".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "client.ip_address");

    // A step-up request without a verified phone is a precondition failure.
    let address = email();
    create_user(
        &server,
        NewUser {
            email: &address,
            ..Default::default()
        },
    )
    .await;
    let Ok(pb::start_login_response::Result::Session(no_phone)) =
        password_login(&server, None, &address, PASSWORD).await
    else {
        panic!("expected a session")
    };
    assert_code(
        start_verification(
            &server,
            None,
            &no_phone.access_token,
            &random_us_number(),
            send_step_up(),
        )
        .await,
        Code::FailedPrecondition,
    );
}

/// An access token of one tenant is unknown in another.
#[tokio::test]
async fn a_token_of_another_tenant_is_unauthenticated() {
    let server = TestServer::start(Backend::Embedded).await;
    let (_, slug) = create_tenant(&server, |_| {}).await;
    let [phone] = numbers(1).try_into().unwrap();
    create_user(
        &server,
        NewUser {
            phone: &phone,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, None, &phone).await;
    let mut account = server.account().await;
    assert_code(
        account
            .get_profile(req(
                Some(&slug),
                pb::GetProfileRequest {
                    access_token: session.access_token.clone(),
                    client: client(),
                },
            ))
            .await,
        Code::Unauthenticated,
    );
}
