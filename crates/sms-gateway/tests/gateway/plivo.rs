//! Plivo against a fake built from fact sheet §5.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{PlivoConfig, PlivoSms};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const AUTH_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
const TOKEN: &str = "plivo-auth-token";
const QUEUED: &str = r#"{"api_id":"c4b2a3b4-0000-11e1-8ea7-1231380bc196","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]}"#;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = PlivoConfig::new(AUTH_ID, SecretString::from(TOKEN), "+14155550100");
    c.base_url = base.to_owned();
    c.timeout = timeout;
    Arc::new(PlivoSms::new(http(), c))
}

fn error(status: u16, error: &str) -> Reply {
    Reply::json(
        status,
        &json!({"api_id": "c4b2a3b4", "error": error}).to_string(),
    )
}

#[tokio::test]
async fn plivo_posts_json_src_dst_text_with_basic_auth_to_the_slashed_path() {
    let fake = Fake::start(vec![Reply::json(202, QUEUED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "plivo");
    assert_eq!(
        sent.provider_message_id,
        "db3ce55a-7f1d-11e1-8ea7-1231380bc196"
    );
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/v1/Account/{AUTH_ID}/Message/"));
    assert_eq!(req.basic_auth(), (AUTH_ID.to_owned(), TOKEN.to_owned()));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"src": "+14155550100", "dst": DIGITS, "text": TEXT})
    );
}

#[tokio::test]
async fn plivo_classifies_each_documented_error() {
    check_errors(
        adapter,
        vec![
            (
                error(401, "Authentication failed"),
                Permanent(Authentication),
            ),
            (
                error(400, "invalid dst number 31612345678"),
                Permanent(InvalidNumber),
            ),
            (error(400, "src parameter is invalid"), Permanent(Other)),
            (
                error(403, "Insufficient credit in account"),
                Permanent(InsufficientBalance),
            ),
            (
                error(402, "payment required"),
                Permanent(InsufficientBalance),
            ),
            (
                error(429, "too many requests").header("Retry-After", "5"),
                Retryable(Some(Duration::from_secs(5))),
            ),
            (error(500, "server error"), Retryable(None)),
            (Reply::json(503, ""), Retryable(None)),
            (error(404, "not found"), Permanent(Other)),
            (error(403, "forbidden"), Permanent(Authentication)),
        ],
    )
    .await;
}

#[tokio::test]
async fn plivo_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(202, QUEUED)).await;
}
