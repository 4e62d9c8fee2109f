//! BulkSMS EAPI against a fake built from fact sheet §6b: a text status line in an HTTP 200.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use twostep_core::ports::SmsSender;
use twostep_sms_gateway::providers::{BulkSmsEapi, BulkSmsEapiConfig};

use crate::fakes::{Fake, Reply};
use crate::support::*;

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    let mut c = BulkSmsEapiConfig::new("eapi-user", SecretString::from("eapi-pass"));
    c.base_url = format!("{base}/eapi");
    c.timeout = timeout;
    Arc::new(BulkSmsEapi::new(http(), c))
}

#[tokio::test]
async fn eapi_posts_latin1_form_with_credentials_and_digits_and_returns_batch_id() {
    let fake = Fake::start(vec![Reply::text(200, "0|IN_PROGRESS|12345678")]).await;
    let text = "Votre code : 482913. Valable 5 minutes, à usage unique.";
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms_to(NUMBER, text))
        .await
        .unwrap();
    assert_eq!(sent.provider, "bulksms-eapi");
    assert_eq!(sent.provider_message_id, "12345678");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/eapi/submission/send_sms/2/2.0");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // ISO-8859-1: `à` is the single byte E0, not UTF-8's C3 A0.
    assert_eq!(
        req.body_text(),
        "username=eapi-user&password=eapi-pass\
         &message=Votre+code+%3A+482913.+Valable+5+minutes%2C+%E0+usage+unique.\
         &msisdn=31612345678"
    );
}

#[tokio::test]
async fn eapi_classifies_each_documented_status_code() {
    check_errors(
        adapter,
        vec![
            (
                Reply::text(200, "23|invalid credentials (username was: eapi-user)|"),
                Permanent(Authentication),
            ),
            (
                Reply::text(200, "25|insufficient credits|"),
                Permanent(InsufficientBalance),
            ),
            (
                Reply::text(200, "40|temporarily unavailable|"),
                Retryable(None),
            ),
            (
                Reply::text(200, "26|upstream credits not available|"),
                Retryable(None),
            ),
            (
                Reply::text(200, "28|upstream quota exceeded|"),
                Retryable(None),
            ),
            (
                Reply::text(200, "24|invalid msisdn 31612345678|"),
                Permanent(Other),
            ),
            (
                Reply::text(200, "22|internal fatal error|"),
                Permanent(Other),
            ),
            (
                Reply::text(200, "27|daily quota exceeded|"),
                Permanent(Other),
            ),
            (Reply::text(200, "garbage"), Permanent(Other)),
            (Reply::text(500, "oops"), Retryable(None)),
            (Reply::text(404, "not here"), Retryable(None)),
        ],
    )
    .await;
}

#[tokio::test]
async fn eapi_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::text(200, "0|IN_PROGRESS|1")).await;
}
