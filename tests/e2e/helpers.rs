//! Request builders shared by the tests.

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

/// A random valid US number (555-01xx is reserved for fiction, so use a real-looking exchange).
pub fn random_us_number() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 10_000;
    format!("+1 415 555 {n:04}")
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
