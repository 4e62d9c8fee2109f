//! Clickatell One API against a fake built from fact sheet §3a.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{ClickatellConfig, ClickatellSms};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const KEY: &str = "clickatell-api-key==";
const ACCEPTED: &str = r#"{"messages":[{"apiMessageId":"77fb29998253415fa5d0c6fa40f7b3ff","accepted":true,"to":"31612345678","error":null}],"error":null}"#;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = ClickatellConfig::new(SecretString::from(KEY));
    c.base_url = base.to_owned();
    c.timeout = timeout;
    Arc::new(ClickatellSms::new(http(), c))
}

/// A whole-request error: `{"messages":[],"error":{"code","description"}}`.
fn error(status: u16, code: u32, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({"messages": [], "error": {"code": code, "description": description}}).to_string(),
    )
}

/// A per-message rejection inside a 202/207.
fn rejected(status: u16, code: u32, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({
            "messages": [{"apiMessageId": null, "accepted": false, "to": DIGITS,
                          "error": {"code": code, "description": description}}],
            "error": null,
        })
        .to_string(),
    )
}

#[tokio::test]
async fn clickatell_posts_json_with_raw_key_and_digits_and_returns_api_message_id() {
    let fake = Fake::start(vec![Reply::json(202, ACCEPTED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "clickatell");
    assert_eq!(sent.provider_message_id, "77fb29998253415fa5d0c6fa40f7b3ff");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/message");
    assert_eq!(req.header("authorization"), Some(KEY));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"messages": [{"channel": "sms", "to": DIGITS, "content": TEXT}]})
    );
}

#[tokio::test]
async fn clickatell_classifies_each_documented_error() {
    check_errors(
        adapter,
        vec![
            (
                error(401, 1, "Invalid or missing Integration API Key"),
                Permanent(Authentication),
            ),
            (
                error(401, 7, "IP lockdown violation"),
                Permanent(Authentication),
            ),
            (error(400, 2, "Account is inactive"), Permanent(Other)),
            (
                error(402, 20, "Insufficient account balance"),
                Permanent(InsufficientBalance),
            ),
            (
                error(400, 25, "Invalid recipient 31612345678"),
                Permanent(InvalidNumber),
            ),
            (error(400, 26, "Recipient opted out"), Permanent(Rejected)),
            (error(400, 43, "Rate limit"), Retryable(None)),
            (
                error(400, 43, "Rate limit").header("Retry-After", "1"),
                Retryable(Some(Duration::from_secs(1))),
            ),
            (
                error(503, 19, "Temporary system error, please retry"),
                Retryable(None),
            ),
            (error(500, 18, "Internal error"), Retryable(None)),
            (error(400, 21, "Malformed request"), Permanent(Other)),
            (error(400, 23, "Invalid parameter"), Permanent(Other)),
            (
                rejected(207, 25, "Invalid recipient"),
                Permanent(InvalidNumber),
            ),
            (
                rejected(202, 26, "Recipient opted out"),
                Permanent(Rejected),
            ),
            (Reply::json(502, "bad gateway"), Retryable(None)),
        ],
    )
    .await;
}

#[tokio::test]
async fn clickatell_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(202, ACCEPTED)).await;
}
