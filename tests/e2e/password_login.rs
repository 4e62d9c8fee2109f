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

/// R13: a right password followed by a wrong code records `suspicious_login` and texts the
/// user, once per challenge however many wrong codes follow; a right code alerts nobody.
#[tokio::test]
async fn r13_right_password_then_wrong_code_emits_suspicious_login() {
    let server = TestServer::start(Backend::PostgresRedis).await;
    let (tenant, tenant_id) =
        create_tenant_with_id(&server, policy(pb::TwoStepMode::Optional)).await;
    let (email, phone) = (random_email(), random_us_number());
    create_password_user(&server, &tenant, &email, Some(&phone)).await;
    let suspicious = || suspicious_logins(&server, &tenant_id);

    // A right code: no alert.
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    let Some(Step::Challenge(c)) = res.result else {
        panic!("{res:?}")
    };
    let code = server.last_code_for(&last_four(&phone)).await;
    verify_in(&server, &tenant, &c.challenge_id, &code)
        .await
        .unwrap();
    assert_eq!(suspicious().await, 0);

    // Wrong codes: one alert and one notice for the challenge.
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    let Some(Step::Challenge(c)) = res.result else {
        panic!("{res:?}")
    };
    let code = server.next_code_for(&last_four(&phone), 1).await;
    let wrong = if code.starts_with('0') { "1" } else { "0" }.repeat(code.len());
    for _ in 0..3 {
        assert_code(
            verify_in(&server, &tenant, &c.challenge_id, &wrong).await,
            Code::Unauthenticated,
        );
    }
    let notice = server
        .wait_for_sms(&last_four(&phone), "password but not the code")
        .await;
    assert!(!notice.contains(&code), "{notice}");
    assert_eq!(suspicious().await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let notices = server
        .sms_texts(&last_four(&phone))
        .iter()
        .filter(|t| t.contains("password but not the code"))
        .count();
    assert_eq!(notices, 1);
}

/// R13: a right password whose code is never entered records `suspicious_login` and texts
/// the user once the challenge has expired (30 s, the shortest lifetime a policy allows).
#[tokio::test]
async fn r13_right_password_then_abandoned_code_emits_suspicious_login() {
    let server = TestServer::start(Backend::PostgresRedis).await;
    let mut p = policy(pb::TwoStepMode::Optional);
    p.code = Some(pb::CodePolicy {
        lifetime: Some(prost_types::Duration {
            seconds: 30,
            nanos: 0,
        }),
        ..Default::default()
    });
    let (tenant, tenant_id) = create_tenant_with_id(&server, p).await;
    let (email, phone) = (random_email(), random_us_number());
    create_password_user(&server, &tenant, &email, Some(&phone)).await;
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    assert!(matches!(res.result, Some(Step::Challenge(_))), "{res:?}");
    server.last_code_for(&last_four(&phone)).await;
    // Nothing yet while the code is valid.
    tokio::time::sleep(std::time::Duration::from_secs(20)).await;
    assert!(
        !server
            .sms_texts(&last_four(&phone))
            .iter()
            .any(|t| t.contains("password but not the code"))
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server
        .sms_texts(&last_four(&phone))
        .iter()
        .any(|t| t.contains("password but not the code"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no suspicious-login notice; stderr:\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(suspicious_logins(&server, &tenant_id).await, 1);
}

/// How many `suspicious_login` audit events the tenant has.
async fn suspicious_logins(server: &TestServer, tenant_id: &str) -> usize {
    server
        .admin()
        .await
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: tenant_id.into(),
            types: vec![pb::AuditEventType::SuspiciousLogin as i32],
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .len()
}
