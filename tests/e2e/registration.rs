//! Registration with an email and a password, and with a phone number (code, ticket, details).

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;
use pb::start_registration_response::Result as Started;

async fn start_registration(
    server: &TestServer,
    tenant: &str,
    method: pb::start_registration_request::Method,
) -> Result<pb::StartRegistrationResponse, tonic::Status> {
    let req = pb::StartRegistrationRequest {
        client: client(),
        method: Some(method),
    };
    server
        .auth()
        .await
        .start_registration(for_tenant(tenant, req))
        .await
        .map(tonic::Response::into_inner)
}

fn by_phone(phone: &str) -> pb::start_registration_request::Method {
    pb::start_registration_request::Method::Phone(pb::PhoneRegistration {
        phone_number: phone.into(),
    })
}

fn by_email(email: &str, password: &str, phone: &str) -> pb::start_registration_request::Method {
    pb::start_registration_request::Method::Email(pb::EmailRegistration {
        email: email.into(),
        password: password.into(),
        display_name: "Ada".into(),
        phone_number: phone.into(),
    })
}

#[tokio::test]
async fn register_with_email_and_password_gives_a_session() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let email = random_email();
    let res = start_registration(&server, &tenant, by_email(&email, PASSWORD, ""))
        .await
        .unwrap();
    let Some(Started::Session(session)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(session.auth_method, pb::AuthMethod::Registration as i32);
    // The same email again is refused with the reason; the account can log in.
    let status = assert_code(
        start_registration(&server, &tenant, by_email(&email, PASSWORD, "")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "email.email");
    assert!(status.message().contains("EMAIL_TAKEN"));
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    assert!(matches!(
        res.result,
        Some(pb::start_login_response::Result::Session(_))
    ));
}

/// R24: the reason comes back with the refusal.
#[tokio::test]
async fn r24_blocklisted_passwords_are_refused_with_the_reason() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    for (password, reason) in [
        ("password1234", "BLOCKLISTED"),
        ("short", "TOO_SHORT"),
        ("+14155550100", "BLOCKLISTED"),
    ] {
        let res = start_registration(
            &server,
            &tenant,
            by_email(&random_email(), password, "+1 415 555 0100"),
        )
        .await;
        let status = assert_code(res, Code::InvalidArgument);
        assert_eq!(violated_field(&status), "email.password");
        assert!(status.message().contains(reason), "{password}: {status:?}");
    }
}

#[tokio::test]
async fn required_two_step_registration_verifies_the_phone_first() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Required)).await;
    let email = random_email();
    let status = assert_code(
        start_registration(&server, &tenant, by_email(&email, PASSWORD, "")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "email.phone_number");
    let phone = random_us_number();
    let res = start_registration(&server, &tenant, by_email(&email, PASSWORD, &phone))
        .await
        .unwrap();
    let Some(Started::Challenge(challenge)) = res.result else {
        panic!("{res:?}")
    };
    let code = server.last_code_for(&last_four(&phone)).await;
    let res = verify_in(&server, &tenant, &challenge.challenge_id, &code)
        .await
        .unwrap();
    assert!(
        matches!(
            res.result,
            Some(pb::verify_code_response::Result::Session(_))
        ),
        "{res:?}"
    );
    // Two-step is on: the next login asks for a code.
    let res = password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
    assert!(
        matches!(
            res.result,
            Some(pb::start_login_response::Result::Challenge(_))
        ),
        "{res:?}"
    );
}

async fn register_by_phone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let phone = random_us_number();
    let res = start_registration(&server, &tenant, by_phone(&phone))
        .await
        .unwrap();
    let Some(Started::Challenge(challenge)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(challenge.purpose, pb::ChallengePurpose::Registration as i32);
    let code = server.last_code_for(&last_four(&phone)).await;
    let res = verify_in(&server, &tenant, &challenge.challenge_id, &code)
        .await
        .unwrap();
    let Some(pb::verify_code_response::Result::RegistrationTicket(ticket)) = res.result else {
        panic!("{res:?}")
    };

    let complete = |ticket: String, email: String| pb::CompleteRegistrationRequest {
        client: client(),
        ticket,
        display_name: "Ada".into(),
        email,
        password: None,
    };
    // A bad field is refused before the ticket is spent.
    let mut auth = server.auth().await;
    let res = auth
        .complete_registration(for_tenant(
            &tenant,
            complete(ticket.ticket.clone(), "nope".into()),
        ))
        .await;
    let status = assert_code(res, Code::InvalidArgument);
    assert_eq!(violated_field(&status), "email");
    // So is a password refused only because it holds the number the ticket proved, which
    // is known only from the ticket: the ticket is peeked, not spent.
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let mut with_phone = complete(ticket.ticket.clone(), random_email());
    with_phone.password = Some(format!("call me on {} anytime", &digits[1..]));
    let res = auth
        .complete_registration(for_tenant(&tenant, with_phone))
        .await;
    let status = assert_code(res, Code::InvalidArgument);
    assert_eq!(violated_field(&status), "password");
    assert!(status.message().contains("BLOCKLISTED"), "{status:?}");
    let res = auth
        .complete_registration(for_tenant(
            &tenant,
            complete(ticket.ticket.clone(), random_email()),
        ))
        .await
        .unwrap();
    let session = res.into_inner().session.unwrap();
    assert_eq!(session.auth_method, pb::AuthMethod::Registration as i32);
    // The ticket works once.
    let res = auth
        .complete_registration(for_tenant(&tenant, complete(ticket.ticket, random_email())))
        .await;
    assert_code(res, Code::Unauthenticated);

    // The new account logs in by phone.
    let seen = server.sms_count(&last_four(&phone));
    let mut auth = server.auth().await;
    let req = pb::StartLoginRequest {
        client: client(),
        method: Some(pb::start_login_request::Method::Phone(
            pb::PhoneCredentials {
                phone_number: phone.clone(),
            },
        )),
    };
    let res = auth
        .start_login(for_tenant(&tenant, req))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::start_login_response::Result::Challenge(c)) = res.result else {
        panic!("{res:?}")
    };
    let code = server.next_code_for(&last_four(&phone), seen).await;
    assert!(
        verify_in(&server, &tenant, &c.challenge_id, &code)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn register_by_phone_then_name_and_email_on_the_embedded_default() {
    register_by_phone(Backend::Embedded).await;
}

#[tokio::test]
async fn register_by_phone_then_name_and_email_on_postgres_and_redis() {
    register_by_phone(Backend::PostgresRedis).await;
}

/// R20: registering a number that already has an account answers exactly like a new number,
/// creates nothing, and the owner gets a notice without a code.
#[tokio::test]
async fn r20_registering_an_existing_number_looks_like_success() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let owned = random_us_number();
    create_password_user(&server, &tenant, &random_email(), Some(&owned)).await;
    let fresh = random_us_number();
    let a = start_registration(&server, &tenant, by_phone(&owned))
        .await
        .unwrap();
    let b = start_registration(&server, &tenant, by_phone(&fresh))
        .await
        .unwrap();
    let (Some(Started::Challenge(a)), Some(Started::Challenge(b))) = (a.result, b.result) else {
        panic!()
    };
    assert_eq!(
        (a.purpose, a.code_length, a.expires_in, a.resend_after),
        (b.purpose, b.code_length, b.expires_in, b.resend_after)
    );
    server.last_code_for(&last_four(&fresh)).await;
    let line = server
        .wait_for_sms(&last_four(&owned), "tried to create")
        .await;
    assert!(line.contains("tried to create"), "{line}");
    assert!(
        !line
            .chars()
            .any(|c| c.is_ascii_digit() && line.contains(" is your "))
    );
    // No code can complete the decoy.
    assert_code(
        verify_in(&server, &tenant, &a.challenge_id, "123456").await,
        Code::Unauthenticated,
    );
}
