//! BulkSMS JSON v1 against a fake built from fact sheet §6a.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{BulkSms, BulkSmsConfig};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const CREATED: &str = r#"[{"id":"1601290545","type":"SENT","from":"","to":"+31612345678","body":"…","encoding":"TEXT","protocolId":0,"messageClass":2,"submission":{"id":"1-00000000000523309176","date":"2024-01-01T00:00:00Z"},"status":{"id":"ACCEPTED.null","type":"ACCEPTED","subtype":null},"relatedSentMessageId":null,"userSuppliedId":null}]"#;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = BulkSmsConfig::new("bulk-user", SecretString::from("bulk-pass"));
    c.base_url = base.to_owned();
    c.timeout = timeout;
    Arc::new(BulkSms::new(http(), c))
}

fn problem(status: u16, name: &str, detail: &str) -> Reply {
    Reply::json(
        status,
        &json!({"type": format!("https://developer.bulksms.com/json/v1/errors#{name}"),
                "title": name, "status": status, "detail": detail})
        .to_string(),
    )
}

#[tokio::test]
async fn bulksms_posts_json_to_and_body_with_basic_auth_and_e164_plus() {
    let fake = Fake::start(vec![Reply::json(201, CREATED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "bulksms");
    assert_eq!(sent.provider_message_id, "1601290545");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.query, None);
    assert_eq!(
        req.basic_auth(),
        ("bulk-user".to_owned(), "bulk-pass".to_owned())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.json(), json!({"to": NUMBER, "body": TEXT}));
}

#[tokio::test]
async fn bulksms_asks_for_unicode_when_the_text_is_not_gsm7() {
    let fake = Fake::start(vec![Reply::json(201, CREATED)]).await;
    adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms_to(NUMBER, "Código 482913"))
        .await
        .unwrap();
    assert_eq!(
        fake.only_request().json(),
        json!({"to": NUMBER, "body": "Código 482913", "encoding": "UNICODE"})
    );
}

#[tokio::test]
async fn bulksms_classifies_each_documented_problem_type() {
    let blocked = CREATED.replace(
        r#""status":{"id":"ACCEPTED.null","type":"ACCEPTED","subtype":null}"#,
        r#""status":{"id":"FAILED.BLOCKED","type":"FAILED","subtype":"BLOCKED"}"#,
    );
    check_errors(
        adapter,
        vec![
            (
                problem(401, "authentication-failed", "Bad credentials"),
                Permanent(Authentication),
            ),
            (
                problem(401, "authentication-required", ""),
                Permanent(Authentication),
            ),
            (
                problem(403, "authorisation-failed", "Not allowed"),
                Permanent(Authentication),
            ),
            (
                problem(403, "insufficient-credits", "You have 0.2 credits"),
                Permanent(InsufficientBalance),
            ),
            (
                problem(403, "insufficient-quota", "Quota exhausted"),
                Permanent(InsufficientBalance),
            ),
            (
                problem(
                    400,
                    "bad-request",
                    "The phone number +31612345678 is not valid",
                ),
                Permanent(InvalidNumber),
            ),
            (
                problem(400, "bad-request", "body is too long"),
                Permanent(Other),
            ),
            (
                problem(400, "max-batch-size-exceeded", "Too many"),
                Permanent(Other),
            ),
            (
                problem(429, "unavailable", "Try again").header("Retry-After", "10"),
                Retryable(Some(Duration::from_secs(10))),
            ),
            (problem(503, "unavailable", "Try again"), Retryable(None)),
            (
                problem(500, "internal-server-error", "Oops"),
                Retryable(None),
            ),
            (Reply::json(201, &blocked), Permanent(Rejected)),
        ],
    )
    .await;
}

#[tokio::test]
async fn bulksms_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(201, CREATED)).await;
}
