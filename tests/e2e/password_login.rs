//! Login with a password: directly to a session, or on to the second factor, enrollment or a
//! forced password change, as the user and the tenant's policy say.

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;
use pb::start_login_response::Result as Step;

async fn password_then_sms(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let email = random_email();
    let phone = random_us_number();
    create_password_user(&server, &tenant, &email, Some(&phone)).await;

    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    let Some(Step::Challenge(challenge)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(challenge.purpose, pb::ChallengePurpose::SecondFactor as i32);
    let code = server.last_code_for(&last_four(&phone)).await;
    let res = verify_in(&server, &tenant, &challenge.challenge_id, &code)
        .await
        .unwrap();
    let Some(pb::verify_code_response::Result::Session(session)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(session.auth_method, pb::AuthMethod::PasswordAndSms as i32);

    // The phone number is a login too.
    let res = password_login(&server, &tenant, &phone, PASSWORD)
        .await
        .unwrap();
    assert!(matches!(res.result, Some(Step::Challenge(_))));
}

#[tokio::test]
async fn password_then_sms_code_on_the_embedded_default() {
    password_then_sms(Backend::Embedded).await;
}

#[tokio::test]
async fn password_then_sms_code_on_postgres_and_redis() {
    password_then_sms(Backend::PostgresRedis).await;
}

#[tokio::test]
async fn without_two_step_a_password_gives_a_session_and_the_reminder() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let email = random_email();
    create_password_user(&server, &tenant, &email, None).await;
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    let Some(Step::Session(session)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(session.auth_method, pb::AuthMethod::Password as i32);
    assert!(
        res.remind_two_step,
        "the tenant's reminder is on and the user has no two-step"
    );
}

/// R11, R18: a wrong password, an unknown login and a locked account look the same.
#[tokio::test]
async fn r11_failures_are_indistinguishable() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let email = random_email();
    create_password_user(&server, &tenant, &email, None).await;
    let wrong = assert_code(
        password_login(&server, &tenant, &email, "not the password at all").await,
        Code::Unauthenticated,
    );
    let unknown = assert_code(
        password_login(&server, &tenant, &random_email(), PASSWORD).await,
        Code::Unauthenticated,
    );
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(wrong.details(), unknown.details());
}

#[tokio::test]
async fn required_two_step_without_a_phone_asks_for_enrollment() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Required)).await;
    let email = random_email();
    create_password_user(&server, &tenant, &email, None).await;
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    let Some(Step::EnrollmentRequired(ticket)) = res.result else {
        panic!("{res:?}")
    };
    assert!(ticket.ticket.starts_with("tst_"));
    // R12: the ticket is no session.
    let mut auth = server.auth().await;
    let res = auth
        .validate_session(for_tenant(
            &tenant,
            pb::ValidateSessionRequest {
                access_token: ticket.ticket,
            },
        ))
        .await;
    assert_code(res, Code::Unauthenticated);
}

#[tokio::test]
async fn bad_password_login_input_names_the_field() {
    let server = TestServer::start(Backend::Embedded).await;
    let status = assert_code(
        password_login(&server, "default", "", PASSWORD).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "password.login");
    let status = assert_code(
        password_login(&server, "default", "someone@example.com", "").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "password.password");
    let status = assert_code(
        password_login(&server, "default", "not a login", PASSWORD).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "password.login");
    let huge = "x".repeat(2000);
    let status = assert_code(
        password_login(&server, "default", "a@example.com", &huge).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "password.password");
}
