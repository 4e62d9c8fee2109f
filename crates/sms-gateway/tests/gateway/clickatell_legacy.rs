//! Clickatell's legacy REST API against a fake built from fact sheet §3b.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{ClickatellLegacyConfig, ClickatellLegacySms};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const TOKEN: &str = "legacy-rest-token";
const ACCEPTED: &str = r#"{"data":{"message":[{"accepted":true,"to":"31612345678","apiMessageId":"a55b8f8d56f33440e993aa614c68bf8b"}]}}"#;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = ClickatellLegacyConfig::new(SecretString::from(TOKEN));
    c.base_url = base.to_owned();
    c.timeout = timeout;
    Arc::new(ClickatellLegacySms::new(http(), c))
}

fn error(status: u16, code: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "description": description,
                          "documentation": "http://www.clickatell.com/help/apidocs/error/001.htm"}})
        .to_string(),
    )
}

#[tokio::test]
async fn clickatell_legacy_posts_text_and_to_list_with_bearer_and_x_version() {
    let fake = Fake::start(vec![Reply::json(202, ACCEPTED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "clickatell-legacy");
    assert_eq!(sent.provider_message_id, "a55b8f8d56f33440e993aa614c68bf8b");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/rest/message");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(req.header("x-version"), Some("1"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.json(), json!({"text": TEXT, "to": [DIGITS]}));
}

#[tokio::test]
async fn clickatell_legacy_classifies_each_documented_status_and_code() {
    check_errors(
        adapter,
        vec![
            (error(401, "001", "Authentication failed"), Permanent(Authentication)),
            (error(401, "007", "IP lockdown violation"), Permanent(Authentication)),
            (error(400, "007", "IP lockdown violation"), Permanent(Authentication)),
            (error(402, "", "No credits"), Permanent(InsufficientBalance)),
            (error(400, "105", "Invalid destination address 31612345678"), Permanent(InvalidNumber)),
            (error(410, "", "Number blocked"), Permanent(Rejected)),
            (
                Reply::json(429, "").header("Retry-After", "4"),
                Retryable(Some(Duration::from_secs(4))),
            ),
            (Reply::json(503, ""), Retryable(None)),
            (error(400, "101", "Invalid or missing parameters"), Permanent(Other)),
            (error(400, "106", "Invalid source address"), Permanent(Other)),
            (Reply::json(404, ""), Permanent(Other)),
            (
                Reply::json(
                    207,
                    r#"{"data":{"message":[{"accepted":false,"to":"31612345678","apiMessageId":"","error":{"code":"105","description":"Invalid Destination Address"}}]}}"#,
                ),
                Permanent(InvalidNumber),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn clickatell_legacy_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(202, ACCEPTED)).await;
}
