//! A tenant's own SMS settings through the real `twostepd`: SetSmsProviders pointing one
//! tenant at a loopback fake provider (its codes go there, other tenants' to the console,
//! secrets never come back), SendTestSms, test numbers (fixed code, no SMS, expiry),
//! templates per language with the WebOTP line, and the refusals.

use std::time::Duration;

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::fake_provider::FakeProvider;
use crate::helpers::*;

const OUTBOX_KEY: &str = "736d732061646d696e206b657920666f722074776f7374657020653265207473";
const SECRET: &str = "k3y-never-returned-9f2c";

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, &[("TWOSTEP_SECURITY__OUTBOX_KEY", OUTBOX_KEY)]).await
}

/// A generic HTTP provider entry for the fake, its credential header a secret.
fn fake_entry(id: &str, url: &str) -> pb::SmsProviderConfig {
    pb::SmsProviderConfig {
        provider_id: id.into(),
        kind: pb::SmsProviderKind::GenericHttp.into(),
        settings: [
            ("url", url),
            ("method", "POST"),
            ("payload", r#"{"to":"$ctx.num","text":"$ctx.msg"}"#),
            ("header.Content-Type", "application/json"),
            ("message_id_pointer", "/id"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        secrets: [("header.X-Api-Key".to_owned(), SECRET.to_owned())].into(),
        ..Default::default()
    }
}

fn set(
    tenant: &str,
    req: pb::SetSmsProvidersRequest,
) -> tonic::Request<pb::SetSmsProvidersRequest> {
    for_tenant(tenant, req)
}

async fn login_in(
    server: &TestServer,
    tenant: &str,
    phone: &str,
    locale: &str,
) -> Result<pb::Challenge, tonic::Status> {
    let mut ctx = client().unwrap();
    ctx.locale = locale.into();
    let res = server
        .auth()
        .await
        .start_login(for_tenant(
            tenant,
            pb::StartLoginRequest {
                client: Some(ctx),
                method: Some(pb::start_login_request::Method::Phone(
                    pb::PhoneCredentials {
                        phone_number: phone.into(),
                    },
                )),
            },
        ))
        .await?
        .into_inner();
    match res.result {
        Some(pb::start_login_response::Result::Challenge(c)) => Ok(c),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tenants_providers_carry_its_codes_and_secrets_never_come_back() {
    let server = start(Backend::Embedded).await;
    let fake = FakeProvider::start(Duration::ZERO).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let phone = random_us_number();
    create_phone_user_in(&server, &tenant, &phone).await;
    let mut admin = server.admin().await;

    let res = admin
        .set_sms_providers(set(
            &tenant,
            pb::SetSmsProvidersRequest {
                providers: vec![fake_entry("fake", &fake.url())],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let p = &res.providers[0];
    assert_eq!(p.provider_id, "fake");
    assert_eq!(p.secret_keys, ["header.X-Api-Key"]);
    assert_eq!(p.settings["url"], fake.url());
    assert!(!format!("{res:?}").contains(SECRET));
    let got = admin
        .get_sms_providers(for_tenant(&tenant, pb::GetSmsProvidersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.providers.len(), 1);
    assert!(!format!("{got:?}").contains(SECRET));
    let t = admin
        .get_tenant(for_tenant(&tenant, pb::GetTenantRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(!format!("{t:?}").contains(SECRET));
    let events = admin
        .list_audit_events(for_tenant(
            &tenant,
            pb::ListAuditEventsRequest {
                types: vec![pb::AuditEventType::SmsProvidersUpdated.into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["providers"], "fake");
    assert!(!format!("{events:?}").contains(SECRET));

    // The tenant's code goes through the fake, with the secret header; none to the console.
    let challenge = login_in(&server, &tenant, &phone, "").await.unwrap();
    let sms = fake.wait_for(&phone).await;
    assert!(
        sms.head.contains(&format!("x-api-key: {SECRET}")),
        "{}",
        sms.head
    );
    verify_in(&server, &tenant, &challenge.challenge_id, &sms.code())
        .await
        .unwrap();
    assert_eq!(server.sms_count(&last_four(&phone)), 0);
    assert!(!server.settled_stderr_text().await.contains(SECRET));

    // SendTestSms through the routing, and through the one provider.
    let sent = admin
        .send_test_sms(for_tenant(
            &tenant,
            pb::SendTestSmsRequest {
                phone_number: phone.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.provider_id, "fake");
    assert_eq!(sent.provider_kind(), pb::SmsProviderKind::GenericHttp);
    assert!(sent.provider_message_id.starts_with("fake-"), "{sent:?}");
    assert!(!sent.message_id.is_empty());
    assert!(
        fake.to(&phone)
            .iter()
            .any(|m| m.text.contains("test message"))
    );
    let one = admin
        .send_test_sms(for_tenant(
            &tenant,
            pb::SendTestSmsRequest {
                phone_number: phone.clone(),
                provider_id: "fake".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.provider_id, "fake");
    let unknown = admin
        .send_test_sms(for_tenant(
            &tenant,
            pb::SendTestSmsRequest {
                phone_number: phone.clone(),
                provider_id: "nope".into(),
                ..Default::default()
            },
        ))
        .await;
    assert_code(unknown, Code::FailedPrecondition);

    // An empty secret keeps the stored one.
    let mut keep = fake_entry("fake", &fake.url());
    keep.secrets
        .insert("header.X-Api-Key".into(), String::new());
    admin
        .set_sms_providers(set(
            &tenant,
            pb::SetSmsProvidersRequest {
                providers: vec![keep],
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let before = fake.messages().len();
    let other = random_us_number();
    create_phone_user_in(&server, &tenant, &other).await;
    login_in(&server, &tenant, &other, "").await.unwrap();
    let sms = fake.wait_for(&other).await;
    assert!(sms.head.contains(&format!("x-api-key: {SECRET}")));
    assert!(fake.messages().len() > before);

    // Other tenants still use the global providers (the console).
    let default_phone = random_us_number();
    create_phone_user(&server, &default_phone).await;
    start_phone_login(&server, &default_phone).await.unwrap();
    server.last_code_for(&last_four(&default_phone)).await;
    assert!(fake.to(&default_phone).is_empty());

    // An empty list goes back to the global providers.
    admin
        .set_sms_providers(set(&tenant, pb::SetSmsProvidersRequest::default()))
        .await
        .unwrap();
    login_in(&server, &tenant, &other, "").await.unwrap();
    server.last_code_for(&last_four(&other)).await;
}

#[tokio::test]
async fn bad_provider_settings_are_refused_naming_the_field() {
    let server = start(Backend::Embedded).await;
    let mut admin = server.admin().await;
    let call = |providers: Vec<pb::SmsProviderConfig>| pb::SetSmsProvidersRequest {
        providers,
        ..Default::default()
    };
    let mut bad_url = fake_entry("gw", "ftp://example.com/send");
    bad_url.provider_id = "gw".into();
    let ok = fake_entry("ok", "http://127.0.0.1:9/send");
    let status = assert_code(
        admin
            .set_sms_providers(call(vec![ok.clone(), bad_url]))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "providers[1].settings.url");

    let vonage = pb::SmsProviderConfig {
        provider_id: "vg".into(),
        kind: pb::SmsProviderKind::Vonage.into(),
        settings: [
            ("api_key".to_owned(), "k".to_owned()),
            ("api_secret".to_owned(), SECRET.to_owned()),
            ("from".to_owned(), "Acme".to_owned()),
        ]
        .into(),
        ..Default::default()
    };
    let status = assert_code(
        admin.set_sms_providers(call(vec![vonage.clone()])).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "providers[0].settings.api_secret");
    assert!(!status.message().contains(SECRET));

    let mut missing = vonage;
    missing.settings.remove("api_secret");
    let status = assert_code(
        admin.set_sms_providers(call(vec![missing])).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "providers[0].secrets.api_secret");

    let status = assert_code(
        admin
            .set_sms_providers(call(vec![ok.clone(), ok.clone()]))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "providers[1].provider_id");

    let mut kindless = ok.clone();
    kindless.kind = 0;
    let status = assert_code(
        admin.set_sms_providers(call(vec![kindless])).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "providers[0].kind");

    // A provider for NL only: a US number has no provider.
    let mut nl_only = ok.clone();
    nl_only.countries = vec!["nl".into()];
    admin.set_sms_providers(call(vec![nl_only])).await.unwrap();
    let status = assert_code(
        admin
            .send_test_sms(pb::SendTestSmsRequest {
                phone_number: random_us_number(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("country"), "{status:?}");

    // An empty secret for a provider id with nothing stored.
    let mut keep_nothing = ok;
    keep_nothing.provider_id = "fresh".into();
    keep_nothing
        .secrets
        .insert("header.X-Api-Key".into(), String::new());
    let status = assert_code(
        admin.set_sms_providers(call(vec![keep_nothing])).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_field(&status),
        "providers[0].secrets.header.X-Api-Key"
    );
}

#[tokio::test]
async fn without_an_outbox_key_sms_settings_are_not_stored() {
    let server = TestServer::start(Backend::Embedded).await;
    let status = assert_code(
        server
            .admin()
            .await
            .set_sms_providers(pb::SetSmsProvidersRequest {
                webotp_domain: "login.acme.example".into(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("outbox_key"), "{status:?}");
}

async fn test_number_flow(backend: Backend) {
    let server = start(backend).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let phone = random_us_number();
    let four = last_four(&phone);
    create_phone_user_in(&server, &tenant, &phone).await;
    let mut admin = server.admin().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = |secs: u64| prost_types::Timestamp {
        seconds: i64::try_from(secs).unwrap(),
        nanos: 0,
    };
    let test_number = |code: &str, expires: u64| pb::TestNumber {
        phone_number: phone.clone(),
        code: code.into(),
        expires_at: Some(at(expires)),
    };

    // Refused: a code of the wrong length, an expiry in the past.
    let status = assert_code(
        admin
            .set_sms_providers(set(
                &tenant,
                pb::SetSmsProvidersRequest {
                    test_numbers: vec![test_number("1234", now + 3600)],
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "test_numbers[0].code");
    let status = assert_code(
        admin
            .set_sms_providers(set(
                &tenant,
                pb::SetSmsProvidersRequest {
                    test_numbers: vec![test_number("135790", now - 10)],
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "test_numbers[0].expires_at");

    let res = admin
        .set_sms_providers(set(
            &tenant,
            pb::SetSmsProvidersRequest {
                test_numbers: vec![test_number("135790", now + 3600)],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.test_numbers.len(), 1);
    assert!(res.test_numbers[0].masked_phone.contains('*'));
    assert!(!format!("{res:?}").contains("135790"));

    // The fixed code logs in; no SMS is sent.
    let c = login_in(&server, &tenant, &phone, "").await.unwrap();
    assert_code(
        verify_in(&server, &tenant, &c.challenge_id, "000000").await,
        Code::Unauthenticated,
    );
    verify_in(&server, &tenant, &c.challenge_id, "135790")
        .await
        .unwrap();
    // Single use: the consumed challenge does not take it again.
    assert_code(
        verify_in(&server, &tenant, &c.challenge_id, "135790").await,
        Code::Unauthenticated,
    );

    // Expiry: once the test number expired, it is an ordinary number again.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let test_number = |code: &str, expires: u64| pb::TestNumber {
        phone_number: phone.clone(),
        code: code.into(),
        expires_at: Some(at(expires)),
    };
    admin
        .set_sms_providers(set(
            &tenant,
            pb::SetSmsProvidersRequest {
                test_numbers: vec![test_number("135790", now + 4)],
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let c = login_in(&server, &tenant, &phone, "").await.unwrap();
    verify_in(&server, &tenant, &c.challenge_id, "135790")
        .await
        .unwrap();
    assert_eq!(server.sms_count(&four), 0, "{}", server.stderr_text());
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= now + 4
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let c = login_in(&server, &tenant, &phone, "").await.unwrap();
    let code = server.last_code_for(&four).await;
    assert_code(
        verify_in(&server, &tenant, &c.challenge_id, "135790").await,
        Code::Unauthenticated,
    );
    verify_in(&server, &tenant, &c.challenge_id, &code)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_test_number_gets_its_fixed_code_and_no_sms_embedded() {
    test_number_flow(Backend::Embedded).await;
}

#[tokio::test]
async fn a_test_number_gets_its_fixed_code_and_no_sms_postgres_redis() {
    test_number_flow(Backend::PostgresRedis).await;
}

#[tokio::test]
async fn templates_render_in_the_requests_language_with_the_webotp_line() {
    let server = start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let phone = random_us_number();
    let four = last_four(&phone);
    create_phone_user_in(&server, &tenant, &phone).await;
    let mut admin = server.admin().await;
    let template = |kind: pb::SmsTemplateKind, locale: &str, text: &str| pb::SmsTemplate {
        kind: kind.into(),
        locale: locale.into(),
        text: text.into(),
    };
    let res = admin
        .set_sms_providers(set(
            &tenant,
            pb::SetSmsProvidersRequest {
                templates: vec![
                    template(
                        pb::SmsTemplateKind::Code,
                        "nl-NL",
                        "Code voor {app}: {code} ({minutes} min). Deel hem met niemand.",
                    ),
                    template(
                        pb::SmsTemplateKind::Code,
                        "pt",
                        "Seu código {app}: {code}. Válido por {minutes} minutos. Não o \
                         compartilhe com ninguém, nem mesmo com a nossa equipe de suporte.",
                    ),
                ],
                webotp_domain: "Login.Acme.Example".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.webotp_domain, "login.acme.example");
    assert_eq!(res.templates[0].locale, "nl");
    assert_eq!(res.warnings.len(), 1, "{:?}", res.warnings);
    assert!(
        res.warnings[0].starts_with("templates[1]"),
        "{:?}",
        res.warnings
    );
    assert!(res.warnings[0].contains("UCS-2"), "{:?}", res.warnings);

    // Dutch from the request's locale, with the WebOTP line last (the console shows line
    // breaks as \n).
    let c = login_in(&server, &tenant, &phone, "nl-NL").await.unwrap();
    let text = wait_text(&server, &four, 0).await;
    assert!(text.starts_with("Code voor TestShop: "), "{text}");
    let code: String = text
        .rsplit('#')
        .next()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        text.ends_with(&format!("\\n\\n@login.acme.example #{code}")),
        "{text}"
    );
    verify_in(&server, &tenant, &c.challenge_id, &code)
        .await
        .unwrap();

    // No locale: the number's country (US), the built-in English text, same WebOTP line.
    let c = login_in(&server, &tenant, &phone, "").await.unwrap();
    let text = wait_text(&server, &four, 1).await;
    let code = server.next_code_for(&four, 1).await;
    assert!(
        text.starts_with(&format!("{code} is your TestShop code.")),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("@login.acme.example #{code}")),
        "{text}"
    );
    verify_in(&server, &tenant, &c.challenge_id, &code)
        .await
        .unwrap();

    let status = assert_code(
        admin
            .set_sms_providers(set(
                &tenant,
                pb::SetSmsProvidersRequest {
                    templates: vec![template(pb::SmsTemplateKind::Code, "en", "no code here")],
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "templates[0].text");
    let status = assert_code(
        admin
            .set_sms_providers(set(
                &tenant,
                pb::SetSmsProvidersRequest {
                    webotp_domain: "https://acme.example/login".into(),
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "webotp_domain");
}

/// The text of the SMS to `last_four` after the first `seen`, waiting for it.
async fn wait_text(server: &TestServer, last_four: &str, seen: usize) -> String {
    for _ in 0..500 {
        if let Some(text) = server.sms_texts(last_four).into_iter().nth(seen) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no SMS to …{last_four}; stderr:\n{}", server.stderr_text());
}
