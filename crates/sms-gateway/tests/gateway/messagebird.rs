//! MessageBird against a fake built from fact sheet §7.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{MessageBirdConfig, MessageBirdSms};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const CREATED: &str = r#"{"id":"e8077d803532c0b5937c639b60216938","href":"https://rest.messagebird.com/messages/e8077d803532c0b5937c639b60216938","direction":"mt","type":"sms","originator":"Acme","body":"…","recipients":{"totalCount":1,"totalSentCount":1,"items":[{"recipient":31612345678,"status":"sent"}]}}"#;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = MessageBirdConfig::new(SecretString::from("live_key"), "Acme");
    c.base_url = base.to_owned();
    c.timeout = timeout;
    Arc::new(MessageBirdSms::new(http(), c))
}

fn error(status: u16, code: u32, description: &str, parameter: Option<&str>) -> Reply {
    Reply::json(
        status,
        &json!({"errors": [{"code": code, "description": description, "parameter": parameter}]})
            .to_string(),
    )
}

#[tokio::test]
async fn messagebird_posts_json_with_access_key_and_digit_recipients() {
    let fake = Fake::start(vec![Reply::json(201, CREATED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "messagebird");
    assert_eq!(sent.provider_message_id, "e8077d803532c0b5937c639b60216938");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/messages");
    assert_eq!(req.header("authorization"), Some("AccessKey live_key"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"originator": "Acme", "recipients": [DIGITS], "body": TEXT})
    );
}

#[tokio::test]
async fn messagebird_classifies_each_documented_error() {
    check_errors(
        adapter,
        vec![
            (
                error(
                    401,
                    2,
                    "Request not allowed (incorrect access_key)",
                    Some("access_key"),
                ),
                Permanent(Authentication),
            ),
            (
                error(422, 9, "no (correct) recipients found", Some("recipient")),
                Permanent(InvalidNumber),
            ),
            (
                error(
                    422,
                    10,
                    "recipient 31612345678 is invalid",
                    Some("recipients"),
                ),
                Permanent(InvalidNumber),
            ),
            (
                error(422, 10, "originator is invalid", Some("originator")),
                Permanent(Other),
            ),
            (
                error(422, 25, "Not enough balance", None),
                Permanent(InsufficientBalance),
            ),
            (error(500, 99, "Internal error", None), Retryable(None)),
            (error(404, 20, "message not found", None), Permanent(Other)),
            (
                Reply::json(429, "").header("Retry-After", "1"),
                Retryable(Some(Duration::from_secs(1))),
            ),
            (Reply::json(503, ""), Retryable(None)),
        ],
    )
    .await;
}

#[tokio::test]
async fn messagebird_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(201, CREATED)).await;
}
