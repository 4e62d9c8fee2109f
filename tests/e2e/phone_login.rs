//! The vertical slice: passwordless phone login for an existing user, on the embedded default
//! and on PostgreSQL with Redis.

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;

async fn phone_login_walkthrough(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = random_us_number();
    let user_id = create_phone_user(&server, &phone).await;

    let challenge = start_phone_login(&server, &phone).await.unwrap();
    assert_eq!(challenge.purpose, pb::ChallengePurpose::PhoneLogin as i32);
    assert_eq!(challenge.code_length, 6);
    assert!(challenge.masked_destination.ends_with(&last_four(&phone)));
    assert!(
        !challenge.masked_destination.contains("415555"),
        "destination must be masked"
    );
    let code = server.last_code_for(&last_four(&phone)).await;
    assert_eq!(code.len(), 6);

    // A wrong code is UNAUTHENTICATED and does not burn the challenge (5 attempts).
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_code(
        verify(&server, &challenge.challenge_id, wrong).await,
        Code::Unauthenticated,
    );

    let res = verify(&server, &challenge.challenge_id, &code)
        .await
        .unwrap();
    let Some(pb::verify_code_response::Result::Session(session)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(session.user_id, user_id);
    assert_eq!(session.auth_method, pb::AuthMethod::Sms as i32);
    assert!(session.access_token.starts_with("tsa_") && session.refresh_token.starts_with("tsr_"));

    // The code is single use.
    assert_code(
        verify(&server, &challenge.challenge_id, &code).await,
        Code::Unauthenticated,
    );

    let mut auth = server.auth().await;
    let valid = auth
        .validate_session(pb::ValidateSessionRequest {
            access_token: session.access_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(valid.user_id, user_id);
    assert_eq!(valid.session_id, session.session_id);
    let bogus = auth
        .validate_session(pb::ValidateSessionRequest {
            access_token: format!("tsa_{}", "A".repeat(43)),
        })
        .await;
    assert_code(bogus, Code::Unauthenticated);
}

#[tokio::test]
async fn phone_login_on_the_embedded_default() {
    phone_login_walkthrough(Backend::Embedded).await;
}

#[tokio::test]
async fn phone_login_on_postgres_and_redis() {
    phone_login_walkthrough(Backend::PostgresRedis).await;
}

/// R18: a number without an account gets an answer of the same shape, and no SMS.
#[tokio::test]
async fn r18_unknown_number_gets_the_same_answer_and_no_sms() {
    let server = TestServer::start(Backend::Embedded).await;
    let known = random_us_number();
    create_phone_user(&server, &known).await;
    let unknown = random_us_number();

    let a = start_phone_login(&server, &known).await.unwrap();
    let b = start_phone_login(&server, &unknown).await.unwrap();
    let shape = |c: &pb::Challenge| {
        (
            c.purpose,
            c.code_length,
            c.expires_in,
            c.resend_after,
            c.masked_destination.len(),
        )
    };
    assert_eq!(shape(&a), shape(&b));
    server.last_code_for(&last_four(&known)).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(server.sms_count(&last_four(&unknown)), 0);
    // Guessing on the decoy fails like any wrong code.
    assert_code(
        verify(&server, &b.challenge_id, "123456").await,
        Code::Unauthenticated,
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let server = TestServer::start(Backend::Embedded).await;
    let mut auth = server.auth().await;
    let status = assert_code(
        auth.start_login(pb::StartLoginRequest::default()).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "method");
    assert!(status.message().contains("method"));

    let status = assert_code(
        start_phone_login(&server, "not a number").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "phone.phone_number");

    let status = assert_code(
        verify(&server, "nope", "123456").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "challenge_id");
    let status = assert_code(
        verify(&server, &uuid::Uuid::new_v4().to_string(), "12ab56").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "code");
    // A well-formed id that matches nothing is an authentication failure, like a wrong code.
    assert_code(
        verify(&server, &uuid::Uuid::new_v4().to_string(), "123456").await,
        Code::Unauthenticated,
    );
}

#[tokio::test]
async fn resend_replaces_the_code_after_the_cooldown() {
    let server = TestServer::start(Backend::Embedded).await;
    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    let challenge = start_phone_login(&server, &phone).await.unwrap();
    let mut auth = server.auth().await;
    let early = auth
        .resend_code(pb::ResendCodeRequest {
            client: client(),
            challenge_id: challenge.challenge_id.clone(),
        })
        .await;
    let status = assert_code(early, Code::ResourceExhausted);
    assert!(status.metadata().get("retry-after").is_some());
}
