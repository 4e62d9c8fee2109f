//! The generic template provider (fact sheet §9) in the shapes of seed 003's WSO2
//! configurations: a Clickatell-shaped JSON POST and a Nexmo-shaped URL-only POST.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::generic_http::{
    ConfigError, GenericHttpConfig, GenericHttpSms, HttpMethod, JsonMatch, NumberFormat,
};

use crate::fakes::{Fake, Reply};
use crate::support::*;

/// A text with the characters that break naive templates: quotes, `&`, `+`, a newline.
const TRICKY: &str = "Your \"Acme\" code: 482913 & more+\n@acme.example #482913";
const CLICKATELL_OK: &str = r#"{"data":{"message":[{"accepted":true,"to":"31612345678","apiMessageId":"a55b8f8d56f33440e993aa614c68bf8b"}]}}"#;
const VONAGE_OK: &str = r#"{"message-count":"1","messages":[{"to":"31612345678","message-id":"0C000000217B7F02","status":"0","remaining-balance":"15.53590000","message-price":"0.03330000","network":"20404"}]}"#;

/// Seed 003's Clickatell entry, with the seed's stray spaces around placeholders removed.
fn clickatell_shaped(base: &str) -> GenericHttpConfig {
    let mut c = GenericHttpConfig::new(
        "clickatell-template",
        SecretString::from(format!("{base}/rest/message")),
        HttpMethod::Post,
    );
    c.headers = GenericHttpConfig::parse_headers(
        "X-Version: 1,Authorization: bearer TOKEN123,Accept: application/json,Content-Type: application/json",
    )
    .unwrap();
    c.payload = Some(r#"{"text":"$ctx.msg","to":["$ctx.num"]}"#.to_owned());
    c.number_format = NumberFormat::Digits;
    c.expected_status = Some(202);
    c.message_id_pointer = Some("/data/message/0/apiMessageId".to_owned());
    c
}

/// Seed 003's Nexmo entry: everything in the URL, POST without a body.
fn nexmo_shaped(base: &str) -> GenericHttpConfig {
    let mut c = GenericHttpConfig::new(
        "nexmo-template",
        SecretString::from(format!(
            "{base}/sms/json?api_key=KEY&api_secret=SECRET&from=NEXMO&to=$ctx.num&text=$ctx.msg"
        )),
        HttpMethod::Post,
    );
    c.number_format = NumberFormat::Digits;
    c.expected_status = Some(200);
    c.success_when = Some(JsonMatch {
        pointer: "/messages/0/status".to_owned(),
        equals: "0".to_owned(),
    });
    c.message_id_pointer = Some("/messages/0/message-id".to_owned());
    c
}

fn build(config: GenericHttpConfig) -> Arc<dyn SmsSender> {
    Arc::new(GenericHttpSms::new(http(), config).unwrap())
}

fn generic_adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = clickatell_shaped(base);
    c.expected_status = None;
    c.timeout = timeout;
    build(c)
}

#[tokio::test]
async fn clickatell_shaped_template_posts_json_escaped_text_and_digits_with_headers() {
    let fake = Fake::start(vec![Reply::json(202, CLICKATELL_OK)]).await;
    let sent = build(clickatell_shaped(&fake.url()))
        .send(&sms_to(NUMBER, TRICKY))
        .await
        .unwrap();
    assert_eq!(sent.provider, "clickatell-template");
    assert_eq!(sent.provider_message_id, "a55b8f8d56f33440e993aa614c68bf8b");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/rest/message");
    assert_eq!(req.header("x-version"), Some("1"));
    assert_eq!(req.header("authorization"), Some("bearer TOKEN123"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.json(), json!({"text": TRICKY, "to": [DIGITS]}));
}

#[tokio::test]
async fn nexmo_shaped_template_url_encodes_number_and_text_in_the_query() {
    let fake = Fake::start(vec![Reply::json(200, VONAGE_OK)]).await;
    let sent = build(nexmo_shaped(&fake.url()))
        .send(&sms_to(NUMBER, TRICKY))
        .await
        .unwrap();
    assert_eq!(sent.provider, "nexmo-template");
    assert_eq!(sent.provider_message_id, "0C000000217B7F02");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/sms/json");
    assert!(req.body.is_empty());
    let query: Vec<(String, String)> = req.query_pairs();
    let expected: Vec<(String, String)> = [
        ("api_key", "KEY"),
        ("api_secret", "SECRET"),
        ("from", "NEXMO"),
        ("to", DIGITS),
        ("text", TRICKY),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(query, expected);
    let raw = req.query.unwrap();
    assert!(
        raw.contains("text=Your+%22Acme%22+code%3A+482913+%26+more%2B%0A%40acme.example+%23482913"),
        "{raw}"
    );
}

#[tokio::test]
async fn e164_number_is_url_encoded_with_percent_2b_like_wso2() {
    let fake = Fake::start(vec![Reply::json(200, VONAGE_OK)]).await;
    let mut c = nexmo_shaped(&fake.url());
    c.number_format = NumberFormat::E164;
    build(c).send(&sms()).await.unwrap();
    let raw = fake.only_request().query.unwrap();
    assert!(raw.contains("to=%2B31612345678&"), "{raw}");
}

#[tokio::test]
async fn form_payload_is_url_encoded_and_get_sends_no_body() {
    let fake = Fake::start(vec![Reply::json(201, "{}")]).await;
    let mut c = GenericHttpConfig::new(
        "twilio-template",
        SecretString::from(format!("{}/send", fake.url())),
        HttpMethod::Post,
    );
    c.headers = GenericHttpConfig::parse_headers("Content-Type: application/x-www-form-urlencoded")
        .unwrap();
    c.payload = Some("Body=$ctx.msg&To=$ctx.num&From=%2B15005550006".to_owned());
    let sent = build(c).send(&sms_to(NUMBER, TRICKY)).await.unwrap();
    assert_eq!(sent.provider_message_id, "");
    let form = fake.only_request().form();
    assert_eq!(form[0], ("Body".to_owned(), TRICKY.to_owned()));
    assert_eq!(form[1], ("To".to_owned(), NUMBER.to_owned()));
    assert_eq!(form[2], ("From".to_owned(), "+15005550006".to_owned()));

    let fake = Fake::start(vec![Reply::text(200, "OK")]).await;
    let c = GenericHttpConfig::new(
        "get-template",
        SecretString::from(format!("{}/send?to=$ctx.num&msg=$ctx.msg", fake.url())),
        HttpMethod::Get,
    );
    build(c).send(&sms()).await.unwrap();
    let req = fake.only_request();
    assert_eq!(req.method, "GET");
    assert!(req.body.is_empty());
    assert!(
        req.query_pairs()
            .contains(&("msg".to_owned(), TEXT.to_owned()))
    );
}

#[tokio::test]
async fn without_expected_status_only_200_201_202_succeed() {
    for status in [200, 201, 202] {
        let fake = Fake::start(vec![Reply::json(status, CLICKATELL_OK)]).await;
        generic_adapter(&fake.url(), Duration::from_secs(5))
            .send(&sms())
            .await
            .unwrap();
    }
    check_errors(
        generic_adapter,
        vec![
            (Reply::json(204, ""), Permanent(Other)),
            (Reply::json(400, "bad"), Permanent(Other)),
            (Reply::json(401, ""), Permanent(Authentication)),
            (Reply::json(403, ""), Permanent(Authentication)),
            (Reply::json(402, ""), Permanent(InsufficientBalance)),
            (
                Reply::json(429, "").header("Retry-After", "2"),
                Retryable(Some(Duration::from_secs(2))),
            ),
            (Reply::json(503, ""), Retryable(None)),
        ],
    )
    .await;
}

#[tokio::test]
async fn expected_status_is_the_only_success() {
    let fake = Fake::start(vec![Reply::json(200, CLICKATELL_OK)]).await;
    let err = build(clickatell_shaped(&fake.url()))
        .send(&sms())
        .await
        .unwrap_err();
    assert_class(&err, Permanent(Other), "200 where 202 is expected");
}

#[tokio::test]
async fn nexmo_shaped_template_refuses_throttling_inside_a_200() {
    let throttled = r#"{"message-count":"1","messages":[{"status":"1","error-text":"Throttled"}]}"#;
    let fake = Fake::start(vec![Reply::json(200, throttled)]).await;
    let err = build(nexmo_shaped(&fake.url()))
        .send(&sms())
        .await
        .unwrap_err();
    assert_class(&err, Permanent(Other), "status 1 in a 200");
    assert!(err.to_string().contains("/messages/0/status is 1"), "{err}");
}

#[tokio::test]
async fn generic_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(generic_adapter, Reply::json(202, CLICKATELL_OK)).await;
}

#[test]
fn broken_configurations_are_refused_at_construction() {
    let url = || SecretString::from("https://sms.example/send".to_owned());
    let mut c = GenericHttpConfig::new("x", url(), HttpMethod::Get);
    c.payload = Some("a=$ctx.msg".to_owned());
    assert_eq!(
        GenericHttpSms::new(http(), c).unwrap_err(),
        ConfigError::PayloadWithGet
    );

    let c = GenericHttpConfig::new(
        "x",
        SecretString::from("ftp://x".to_owned()),
        HttpMethod::Post,
    );
    assert_eq!(
        GenericHttpSms::new(http(), c).unwrap_err(),
        ConfigError::Url
    );

    let c = GenericHttpConfig::new(" ", url(), HttpMethod::Post);
    assert_eq!(
        GenericHttpSms::new(http(), c).unwrap_err(),
        ConfigError::MissingName
    );

    let mut c = GenericHttpConfig::new("x", url(), HttpMethod::Post);
    c.message_id_pointer = Some("messages.0.id".to_owned());
    assert!(matches!(
        GenericHttpSms::new(http(), c),
        Err(ConfigError::Pointer(_))
    ));

    assert!(matches!(
        GenericHttpConfig::parse_headers("X-Version 1"),
        Err(ConfigError::Header(_))
    ));
    let mut c = GenericHttpConfig::new("x", url(), HttpMethod::Post);
    c.headers = vec![("Bad Name".to_owned(), SecretString::from("v".to_owned()))];
    assert!(matches!(
        GenericHttpSms::new(http(), c),
        Err(ConfigError::Header(_))
    ));
}

#[test]
fn wso2_header_field_splits_on_commas_and_the_first_colon() {
    let headers = GenericHttpConfig::parse_headers(
        "X-Version: 1, Authorization: Basic abc:def ,,Accept:application/json",
    )
    .unwrap();
    let shown: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                secrecy::ExposeSecret::expose_secret(v).to_owned(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("X-Version".to_owned(), "1".to_owned()),
            ("Authorization".to_owned(), "Basic abc:def".to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]
    );
}
