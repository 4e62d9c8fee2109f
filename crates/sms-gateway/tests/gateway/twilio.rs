//! Twilio Messaging against a fake built from fact sheet §1.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use twostep_core::ports::{SentSms, SmsSender};
use twostep_sms_gateway::providers::{TwilioConfig, TwilioSender, TwilioSms};

use crate::fakes::{Fake, Reply};
use crate::support::*;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";
const CREATED: &str = r#"{"sid":"SM1f0e8ae6ade43cb3c0ce4525424e404f","status":"queued","to":"+31612345678","from":"+15005550006","body":"…","error_code":null,"error_message":null,"date_created":"Thu, 24 Aug 2023 05:01:45 +0000"}"#;

fn config(base: &str, timeout: Duration) -> TwilioConfig {
    let mut c = TwilioConfig::new(
        ACCOUNT,
        SecretString::from(TOKEN),
        TwilioSender::From("+15005550006".to_owned()),
    );
    c.base_url = base.to_owned();
    c.timeout = timeout;
    c
}

fn adapter(base: &str, timeout: Duration) -> Arc<dyn SmsSender> {
    Arc::new(TwilioSms::new(http(), config(base, timeout)))
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        &format!(
            r#"{{"code":{code},"message":"{message}","more_info":"https://www.twilio.com/docs/errors/{code}","status":{status}}}"#
        ),
    )
}

#[tokio::test]
async fn twilio_posts_form_with_basic_auth_and_e164_plus_and_returns_the_sid() {
    let fake = Fake::start(vec![Reply::json(201, CREATED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(
        sent,
        SentSms {
            provider: "twilio".to_owned(),
            provider_message_id: "SM1f0e8ae6ade43cb3c0ce4525424e404f".to_owned(),
        }
    );
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(req.basic_auth(), (ACCOUNT.to_owned(), TOKEN.to_owned()));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = req.form();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        form,
        [("To", NUMBER), ("Body", TEXT), ("From", "+15005550006")]
    );
}

#[tokio::test]
async fn twilio_uses_messaging_service_api_key_and_status_callback_when_configured() {
    let fake = Fake::start(vec![Reply::json(201, CREATED)]).await;
    let mut c = config(&fake.url(), Duration::from_secs(5));
    c.sender = TwilioSender::MessagingService("MG0123".to_owned());
    c.api_key_sid = Some("SK0123".to_owned());
    c.status_callback = Some("https://twostep.example/receipts/twilio".to_owned());
    TwilioSms::new(http(), c).send(&sms()).await.unwrap();
    let req = fake.only_request();
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(req.basic_auth(), ("SK0123".to_owned(), TOKEN.to_owned()));
    let form = req.form();
    assert!(form.contains(&("MessagingServiceSid".to_owned(), "MG0123".to_owned())));
    assert!(form.contains(&(
        "StatusCallback".to_owned(),
        "https://twostep.example/receipts/twilio".to_owned()
    )));
    assert!(!form.iter().any(|(k, _)| k == "From"));
}

#[tokio::test]
async fn twilio_accepts_any_2xx() {
    let fake = Fake::start(vec![Reply::json(200, CREATED)]).await;
    let sent = adapter(&fake.url(), Duration::from_secs(5))
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(
        sent.provider_message_id,
        "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    );
}

#[tokio::test]
async fn twilio_classifies_each_documented_error() {
    check_errors(
        adapter,
        vec![
            (error(401, 20003, "Authenticate"), Permanent(Authentication)),
            (
                error(
                    400,
                    21211,
                    "The 'To' number +31612345678 is not a valid phone number.",
                ),
                Permanent(InvalidNumber),
            ),
            (
                error(400, 21614, "'To' number is not a valid mobile number"),
                Permanent(InvalidNumber),
            ),
            (
                error(400, 21610, "Attempt to send to unsubscribed recipient"),
                Permanent(Rejected),
            ),
            (
                error(403, 30002, "Account suspended"),
                Permanent(InsufficientBalance),
            ),
            (
                error(429, 20429, "Too Many Requests").header("Retry-After", "3"),
                Retryable(Some(Duration::from_secs(3))),
            ),
            (error(429, 20429, "Too Many Requests"), Retryable(None)),
            (Reply::json(503, ""), Retryable(None)),
            (error(500, 20500, "Internal Server Error"), Retryable(None)),
            (
                error(400, 21602, "Message body is required."),
                Permanent(Other),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn twilio_timeout_and_refused_connection_are_retryable() {
    check_transport_failures(adapter, Reply::json(201, CREATED)).await;
}
