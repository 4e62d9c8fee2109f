//! Twilio Verify as a tenant's code backend, through the real `twostepd` on PostgreSQL and
//! Redis and a loopback fake of Twilio Verify: the provider makes, sends and checks the code,
//! while twostep keeps its own attempt budget, lockout, uniform answers and single use.

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::fake_provider::e164;
use crate::fake_twilio_verify::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilioVerify, SERVICE_SID};
use crate::helpers::*;
use crate::requirements::{challenge_of, session_of};

const OUTBOX_KEY: &str = "70726f766964657220636f646573206b657920666f7220653265207465737473";

async fn start() -> TestServer {
    TestServer::start_with(
        Backend::PostgresRedis,
        &[("TWOSTEP_SECURITY__OUTBOX_KEY", OUTBOX_KEY)],
    )
    .await
}

fn verify_entry(base_url: &str) -> pb::SmsProviderConfig {
    pb::SmsProviderConfig {
        provider_id: "verify".into(),
        kind: pb::SmsProviderKind::TwilioVerify.into(),
        settings: [
            ("service_sid", SERVICE_SID),
            ("account_sid", ACCOUNT_SID),
            ("base_url", base_url),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        secrets: [("auth_token".to_owned(), AUTH_TOKEN.to_owned())].into(),
        ..Default::default()
    }
}

/// A tenant whose codes Twilio Verify makes, with one phone user; its id and the number.
async fn tenant_on(server: &TestServer, fake: &FakeTwilioVerify) -> (String, String) {
    // No resend cooldown, so a test can resend at once.
    let no_cooldown = pb::TenantPolicy {
        code: Some(pb::CodePolicy {
            resend_cooldown: Some(prost_types::Duration::default()),
            ..Default::default()
        }),
        ..policy(pb::TwoStepMode::Optional)
    };
    let tenant = create_tenant(server, no_cooldown).await;
    let phone = random_us_number();
    create_phone_user_in(server, &tenant, &phone).await;
    let res = server
        .admin()
        .await
        .set_sms_providers(for_tenant(
            &tenant,
            pb::SetSmsProvidersRequest {
                providers: vec![verify_entry(&fake.base_url())],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.providers[0].secret_keys, ["auth_token"]);
    assert!(!format!("{res:?}").contains(AUTH_TOKEN));
    (tenant, phone)
}

async fn login(server: &TestServer, tenant: &str, phone: &str) -> pb::Challenge {
    let res = start_phone_login_in(server, tenant, phone, client()).await;
    challenge_of(res.unwrap().into_inner())
}

/// A six-digit code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn twilio_verify_makes_sends_and_checks_the_codes_of_a_tenant_that_chooses_it() {
    let server = start().await;
    let fake = FakeTwilioVerify::start().await;
    let (tenant, phone) = tenant_on(&server, &fake).await;

    let challenge = login(&server, &tenant, &phone).await;
    let code = fake.wait_for_code(&e164(&phone), 1).await;
    assert_eq!(challenge.code_length, 6);

    // A wrong code is checked by Twilio and answered like any wrong code.
    let err = verify_in(&server, &tenant, &challenge.challenge_id, &wrong(&code))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // A resend asks Twilio again (it sends the pending code again).
    server
        .auth()
        .await
        .resend_code(for_tenant(
            &tenant,
            pb::ResendCodeRequest {
                client: client(),
                challenge_id: challenge.challenge_id.clone(),
            },
        ))
        .await
        .unwrap();
    fake.wait_for_code(&e164(&phone), 2).await;

    let res = verify_in(&server, &tenant, &challenge.challenge_id, &code).await;
    session_of(res.unwrap());
    assert_eq!(fake.checks(), 2);
    // Used once: the same code again is refused by twostep, without asking Twilio.
    let again = verify_in(&server, &tenant, &challenge.challenge_id, &code)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::Unauthenticated);
    assert_eq!(fake.checks(), 2);

    // No text of twostep's own went anywhere, and the token never shows.
    assert_eq!(server.sms_count(&last_four(&phone)), 0);
    let log = server.settled_stderr_text().await;
    assert!(!log.contains(AUTH_TOKEN));
    assert!(!log.contains(&code));

    // An unknown number gets the same answer and no verification is started for it.
    let unknown = random_us_number();
    let decoy = login(&server, &tenant, &unknown).await;
    assert_eq!(decoy.code_length, challenge.code_length);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(fake.codes_to(&e164(&unknown)).is_empty());
    assert_eq!(fake.starts(), 2);
}

#[tokio::test]
async fn twostep_spends_its_attempt_budget_before_asking_twilio() {
    let server = start().await;
    let fake = FakeTwilioVerify::start().await;
    let (tenant, phone) = tenant_on(&server, &fake).await;
    let challenge = login(&server, &tenant, &phone).await;
    let code = fake.wait_for_code(&e164(&phone), 1).await;

    // The default budget is 5 attempts per challenge.
    for _ in 0..5 {
        let err = verify_in(&server, &tenant, &challenge.challenge_id, &wrong(&code))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    assert_eq!(fake.checks(), 5);
    // The budget is spent: the right code no longer works and Twilio is not asked.
    let err = verify_in(&server, &tenant, &challenge.challenge_id, &code)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(fake.checks(), 5);
}

#[tokio::test]
async fn a_twilio_verify_outage_is_unavailable_and_the_challenge_recovers() {
    let server = start().await;
    let fake = FakeTwilioVerify::start().await;
    let (tenant, phone) = tenant_on(&server, &fake).await;
    let challenge = login(&server, &tenant, &phone).await;
    let code = fake.wait_for_code(&e164(&phone), 1).await;

    fake.set_down(true);
    let err = verify_in(&server, &tenant, &challenge.challenge_id, &code)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(!err.message().contains(&code), "{err:?}");

    fake.set_down(false);
    let res = verify_in(&server, &tenant, &challenge.challenge_id, &code).await;
    session_of(res.unwrap());
}

#[tokio::test]
async fn set_sms_providers_checks_a_twilio_verify_entry() {
    let server = start().await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let mut admin = server.admin().await;
    let base = "http://127.0.0.1:9";
    let mut bad_sid = verify_entry(base);
    bad_sid
        .settings
        .insert("service_sid".into(), "VA-not-a-sid".into());
    let mut in_settings = verify_entry(base);
    in_settings
        .settings
        .insert("auth_token".into(), AUTH_TOKEN.into());
    let mut with_countries = verify_entry(base);
    with_countries.countries = vec!["US".into()];
    let mut second = verify_entry(base);
    second.provider_id = "verify-2".into();
    let cases = [
        (vec![bad_sid], "providers[0].settings.service_sid"),
        (vec![in_settings], "providers[0].settings.auth_token"),
        (vec![with_countries], "providers[0].countries"),
        (vec![verify_entry(base), second], "providers[1].kind"),
    ];
    for (providers, field) in cases {
        let err = admin
            .set_sms_providers(for_tenant(
                &tenant,
                pb::SetSmsProvidersRequest {
                    providers,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(field), "{field}: {err:?}");
        assert!(!err.message().contains(AUTH_TOKEN), "{err:?}");
    }
}
