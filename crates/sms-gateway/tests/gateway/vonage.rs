//! Vonage SMS against a fake built from fact sheet §4: message-level errors in an HTTP 200.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{VonageConfig, VonageSms};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const SUCCESS: &str = r#"{"message-count":"1","messages":[{"to":"31612345678","message-id":"0C000000217B7F02","status":"0","remaining-balance":"15.53590000","message-price":"0.03330000","network":"20404"}]}"#;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = VonageConfig::new("vonage-key", SecretString::from("vonage-secret"), "Acme");
    c.base_url = base.to_owned();
    c.timeout = timeout;
    Arc::new(VonageSms::new(http(), c))
}

/// A refusal as Vonage sends it: HTTP 200, `status` != "0" and an `error-text`.
fn status(code: &str, text: &str) -> Reply {
    Reply::json(
        200,
        &json!({"message-count": "1", "messages": [{"status": code, "error-text": text}]})
            .to_string(),
    )
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn vonage_posts_form_with_key_secret_and_digits_and_returns_message_id() {
    let fake = Fake::start(vec![Reply::json(200, SUCCESS)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "vonage");
    assert_eq!(sent.provider_message_id, "0C000000217B7F02");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/sms/json");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.form(),
        pairs(&[
            ("api_key", "vonage-key"),
            ("api_secret", "vonage-secret"),
            ("from", "Acme"),
            ("to", DIGITS),
            ("text", TEXT),
        ])
    );
}

#[tokio::test]
async fn vonage_marks_non_gsm_text_as_unicode() {
    let fake = Fake::start(vec![Reply::json(200, SUCCESS)]).await;
    let text = "Tu código: 482913";
    adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms_to(NUMBER, text))
        .await
        .unwrap();
    let form = fake.only_request().form();
    assert!(
        form.contains(&("type".to_owned(), "unicode".to_owned())),
        "{form:?}"
    );
    assert!(form.contains(&("text".to_owned(), text.to_owned())));
}

#[tokio::test]
async fn vonage_classifies_each_status_inside_http_200() {
    check_errors(
        adapter,
        vec![
            (status("1", "Throttled"), Retryable(None)),
            (status("5", "Internal Error"), Retryable(None)),
            (status("10", "Too many existing binds"), Retryable(None)),
            (status("4", "Bad Credentials"), Permanent(Authentication)),
            (status("14", "Invalid Signature"), Permanent(Authentication)),
            (
                status("9", "Quota Exceeded - rejected"),
                Permanent(InsufficientBalance),
            ),
            (
                status("6", "Unroutable message - rejected"),
                Permanent(InvalidNumber),
            ),
            (
                status("33", "Number de-activated"),
                Permanent(InvalidNumber),
            ),
            (
                status("7", "Number barred 31612345678"),
                Permanent(Rejected),
            ),
            (
                status("29", "Non-Whitelisted Destination"),
                Permanent(Other),
            ),
            (status("2", "Missing to param"), Permanent(Other)),
            (status("8", "Account barred"), Permanent(Other)),
        ],
    )
    .await;
}

#[tokio::test]
async fn vonage_fails_when_any_part_of_a_long_text_failed() {
    let parts = r#"{"message-count":"2","messages":[{"to":"31612345678","message-id":"0C01","status":"0"},{"status":"1","error-text":"Throttled"}]}"#;
    check_errors(adapter, vec![(Reply::json(200, parts), Retryable(None))]).await;
}

#[tokio::test]
async fn vonage_classifies_http_errors_by_status() {
    check_errors(
        adapter,
        vec![
            (Reply::json(401, ""), Permanent(Authentication)),
            (
                Reply::json(429, "").header("Retry-After", "2"),
                Retryable(Some(Duration::from_secs(2))),
            ),
            (Reply::json(500, ""), Retryable(None)),
            (Reply::json(200, "not json"), Permanent(Other)),
        ],
    )
    .await;
}

#[tokio::test]
async fn vonage_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(200, SUCCESS)).await;
}
