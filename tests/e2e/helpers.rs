//! Request builders shared by the tests.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::TestServer;

pub fn client() -> Option<pb::ClientContext> {
    Some(pb::ClientContext {
        ip_address: "203.0.113.7".into(),
        user_agent: "e2e-test".into(),
        locale: "en-US".into(),
        device_id: "device-1".into(),
    })
}

/// A random valid US number, never one this test process handed out before: tests find a
/// number's SMS by its last four digits, so two numbers alike in one test read each other's
/// codes (a registration of a number that was already a user's got the user's old code, and
/// once in CI that failed R37's walk-through). Never 555-01xx either, which tests spell out as
/// fixed numbers.
pub fn random_us_number() -> String {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap();
    loop {
        let n = u16::try_from(uuid::Uuid::new_v4().as_u128() % 10_000).unwrap();
        if !(100..200).contains(&n) && handed_out.insert(n) {
            return format!("+1 415 555 {n:04}");
        }
    }
}

pub fn last_four(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len() - 4..].to_owned()
}

/// Creates a customer with a verified phone through AdminService and returns its id.
pub async fn create_phone_user(server: &TestServer, phone: &str) -> String {
    let mut admin = server.admin().await;
    let user = admin
        .create_user(pb::CreateUserRequest {
            display_name: "Ada".into(),
            phone_number: phone.into(),
            phone_verified: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    user.user_id
}

/// Creates a customer of `tenant` with `phone` verified, so a phone login to it sends a code.
pub async fn create_phone_user_in(server: &TestServer, tenant: &str, phone: &str) {
    let req = pb::CreateUserRequest {
        display_name: "Ada".into(),
        phone_number: phone.into(),
        phone_verified: true,
        ..Default::default()
    };
    server
        .admin()
        .await
        .create_user(for_tenant(tenant, req))
        .await
        .unwrap();
}

/// StartLogin by phone in `tenant` from `client`, the whole response (metadata included).
pub async fn start_phone_login_in(
    server: &TestServer,
    tenant: &str,
    phone: &str,
    client: Option<pb::ClientContext>,
) -> Result<tonic::Response<pb::StartLoginResponse>, tonic::Status> {
    let req = pb::StartLoginRequest {
        client,
        method: Some(pb::start_login_request::Method::Phone(
            pb::PhoneCredentials {
                phone_number: phone.into(),
            },
        )),
    };
    server
        .auth()
        .await
        .start_login(for_tenant(tenant, req))
        .await
}

/// RESOURCE_EXHAUSTED with a RetryInfo delay, and the same seconds in the message; the delay.
#[track_caller]
pub fn assert_retry_after(status: &tonic::Status) -> std::time::Duration {
    use tonic_types::StatusExt as _;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let delay = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(delay.as_secs() > 0, "{delay:?}");
    assert!(
        status
            .message()
            .contains(&format!("retry after {} s", delay.as_secs())),
        "{status:?}"
    );
    delay
}

pub async fn start_phone_login(
    server: &TestServer,
    phone: &str,
) -> Result<pb::Challenge, tonic::Status> {
    let mut auth = server.auth().await;
    let res = auth
        .start_login(pb::StartLoginRequest {
            client: client(),
            method: Some(pb::start_login_request::Method::Phone(
                pb::PhoneCredentials {
                    phone_number: phone.into(),
                },
            )),
        })
        .await?
        .into_inner();
    match res.result {
        Some(pb::start_login_response::Result::Challenge(c)) => Ok(c),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

pub async fn verify(
    server: &TestServer,
    challenge_id: &str,
    code: &str,
) -> Result<pb::VerifyCodeResponse, tonic::Status> {
    let mut auth = server.auth().await;
    auth.verify_code(pb::VerifyCodeRequest {
        client: client(),
        challenge_id: challenge_id.into(),
        code: code.into(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// A phone login whose code gives a session; StartLogin must succeed at once.
pub async fn phone_login_gives_a_session(server: &TestServer, phone: &str) {
    phone_login_within(server, phone, std::time::Duration::ZERO).await;
}

/// After an outage of a store: StartLogin until it is no longer UNAVAILABLE (at most 10 s),
/// then the code it sent gives a session.
pub async fn phone_login_once_serving_again(server: &TestServer, phone: &str) {
    phone_login_within(server, phone, std::time::Duration::from_secs(10)).await;
}

/// StartLogin, answered UNAVAILABLE for at most `retry_for`, then the code gives a session.
async fn phone_login_within(server: &TestServer, phone: &str, retry_for: std::time::Duration) {
    let seen = server.sms_count(&last_four(phone));
    let deadline = std::time::Instant::now() + retry_for;
    let challenge = loop {
        match start_phone_login(server, phone).await {
            Ok(c) => break c,
            Err(s) if s.code() == Code::Unavailable && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(s) => panic!("StartLogin: {s:?}"),
        }
    };
    let code = server.next_code_for(&last_four(phone), seen).await;
    let res = verify(server, &challenge.challenge_id, &code)
        .await
        .unwrap();
    assert!(
        matches!(
            res.result,
            Some(pb::verify_code_response::Result::Session(_))
        ),
        "{res:?}"
    );
}

#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(res: Result<T, tonic::Status>, code: Code) -> tonic::Status {
    match res {
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            status
        }
        Ok(v) => panic!("expected {code:?}, got {v:?}"),
    }
}

/// The field named by the first BadRequest violation of an INVALID_ARGUMENT status.
pub fn violated_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

/// A request that acts for the tenant with this slug or id.
pub fn for_tenant<T>(tenant: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("x-twostep-tenant", tenant.parse().unwrap());
    req
}

/// Creates a tenant with the given policy; returns its slug.
pub async fn create_tenant(server: &TestServer, policy: pb::TenantPolicy) -> String {
    create_tenant_with_id(server, policy).await.0
}

/// Creates a tenant with the given policy; returns (slug, id): calls name a tenant by slug,
/// admin listings by id.
pub async fn create_tenant_with_id(
    server: &TestServer,
    policy: pb::TenantPolicy,
) -> (String, String) {
    let slug = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tenant = server
        .admin()
        .await
        .create_tenant(pb::CreateTenantRequest {
            slug: slug.clone(),
            name: "Test Shop".into(),
            app_name: "TestShop".into(),
            policy: Some(policy),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    (slug, tenant.tenant_id)
}

/// The policy a tenant gets when every boolean is on and every mode is given.
pub fn policy(customers: pb::TwoStepMode) -> pb::TenantPolicy {
    pb::TenantPolicy {
        two_step_customers: customers as i32,
        two_step_admins: pb::TwoStepMode::Required as i32,
        phone_registration_allowed: true,
        phone_login_allowed: true,
        users_may_disable_two_step: true,
        remind_to_enable_two_step: true,
        ..Default::default()
    }
}

pub const PASSWORD: &str = "a long enough passphrase";

/// A user with an email and a password (and optionally a verified phone with two-step on).
pub async fn create_password_user(
    server: &TestServer,
    tenant: &str,
    email: &str,
    phone: Option<&str>,
) -> pb::User {
    let req = pb::CreateUserRequest {
        display_name: "Grace".into(),
        email: email.into(),
        password: PASSWORD.into(),
        phone_number: phone.unwrap_or_default().into(),
        phone_verified: phone.is_some(),
        two_step_enabled: phone.is_some(),
        ..Default::default()
    };
    server
        .admin()
        .await
        .create_user(for_tenant(tenant, req))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

pub async fn password_login(
    server: &TestServer,
    tenant: &str,
    login: &str,
    password: &str,
) -> Result<pb::StartLoginResponse, tonic::Status> {
    let req = pb::StartLoginRequest {
        client: client(),
        method: Some(pb::start_login_request::Method::Password(
            pb::PasswordCredentials {
                login: login.into(),
                password: password.into(),
            },
        )),
    };
    server
        .auth()
        .await
        .start_login(for_tenant(tenant, req))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn verify_in(
    server: &TestServer,
    tenant: &str,
    challenge_id: &str,
    code: &str,
) -> Result<pb::VerifyCodeResponse, tonic::Status> {
    let req = pb::VerifyCodeRequest {
        client: client(),
        challenge_id: challenge_id.into(),
        code: code.into(),
    };
    server
        .auth()
        .await
        .verify_code(for_tenant(tenant, req))
        .await
        .map(tonic::Response::into_inner)
}

pub fn random_email() -> String {
    format!(
        "user{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}
