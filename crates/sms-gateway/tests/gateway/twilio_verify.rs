//! Twilio Verify against a fake built from fact sheet §2.

use std::time::Duration;

use secrecy::SecretString;
use twostep_core::otp::OtpCode;
use twostep_core::phone::PhoneNumber;
use twostep_sms_gateway::providers::{TwilioVerify, TwilioVerifyConfig, VerifyError};

use crate::fakes::{Fake, Reply, closed_port_url};
use crate::support::{CODE, NUMBER, http};

const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";
const PENDING: &str = r#"{"sid":"VE0123456789abcdef0123456789abcdef","service_sid":"VA0123456789abcdef0123456789abcdef","account_sid":"AC0123456789abcdef0123456789abcdef","to":"+31612345678","channel":"sms","status":"pending","valid":false,"lookup":{},"amount":null,"payee":null,"send_code_attempts":[{"time":"2024-01-01T00:00:00.000Z","channel":"SMS","attempt_sid":"VL0123"}],"date_created":"2024-01-01T00:00:00Z","date_updated":"2024-01-01T00:00:00Z","sna":null,"url":"https://verify.twilio.com/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications/VE0123456789abcdef0123456789abcdef"}"#;

fn verify(base: &str, timeout: Duration) -> TwilioVerify {
    let mut c = TwilioVerifyConfig::new(SERVICE, ACCOUNT, SecretString::from(TOKEN));
    c.base_url = base.to_owned();
    c.timeout = timeout;
    TwilioVerify::new(http(), c)
}

fn to() -> PhoneNumber {
    PhoneNumber::from_e164(NUMBER).unwrap()
}

fn code() -> OtpCode {
    OtpCode::parse(CODE).unwrap()
}

fn error(status: u16, code: u32) -> Reply {
    Reply::json(
        status,
        &format!(
            r#"{{"code":{code},"message":"error for +31612345678","more_info":"https://www.twilio.com/docs/errors/{code}","status":{status}}}"#
        ),
    )
}

#[tokio::test]
async fn verify_start_posts_to_and_channel_sms_with_basic_auth_and_returns_the_sid() {
    let fake = Fake::start(vec![Reply::json(201, PENDING)]).await;
    let sid = verify(&fake.url(), Duration::from_secs(5))
        .start_verification(&to())
        .await
        .unwrap();
    assert_eq!(sid, "VE0123456789abcdef0123456789abcdef");
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/v2/Services/{SERVICE}/Verifications"));
    assert_eq!(req.basic_auth(), (ACCOUNT.to_owned(), TOKEN.to_owned()));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.form(),
        [
            ("To".to_owned(), NUMBER.to_owned()),
            ("Channel".to_owned(), "sms".to_owned())
        ]
    );
}

#[tokio::test]
async fn verify_start_accepts_200_as_well_as_201() {
    let fake = Fake::start(vec![Reply::json(200, PENDING)]).await;
    let sid = verify(&fake.url(), Duration::from_secs(5))
        .start_verification(&to())
        .await
        .unwrap();
    assert_eq!(sid, "VE0123456789abcdef0123456789abcdef");
}

#[tokio::test]
async fn verify_check_is_true_only_for_approved_and_a_wrong_code_is_not_an_error() {
    let approved = PENDING.replace(
        r#""status":"pending","valid":false"#,
        r#""status":"approved","valid":true"#,
    );
    let fake = Fake::start(vec![Reply::json(200, &approved), Reply::json(200, PENDING)]).await;
    let v = verify(&fake.url(), Duration::from_secs(5));
    assert!(v.check(&to(), &code()).await.unwrap());
    assert!(!v.check(&to(), &code()).await.unwrap());
    let req = &fake.requests()[0];
    assert_eq!(
        req.path,
        format!("/v2/Services/{SERVICE}/VerificationCheck")
    );
    assert_eq!(req.basic_auth(), (ACCOUNT.to_owned(), TOKEN.to_owned()));
    assert_eq!(
        req.form(),
        [
            ("To".to_owned(), NUMBER.to_owned()),
            ("Code".to_owned(), CODE.to_owned())
        ]
    );
}

#[tokio::test]
async fn verify_classifies_each_documented_error() {
    let cases = [
        (error(400, 60200), "start"),
        (error(429, 60203), "start"),
        (error(429, 60202), "check"),
        (error(404, 20404), "check"),
        (error(401, 20003), "start"),
        (error(429, 20429).header("Retry-After", "2"), "check"),
        (Reply::json(503, ""), "start"),
        (error(400, 60999), "check"),
    ];
    let mut got = Vec::new();
    for (reply, call) in cases {
        let fake = Fake::start(vec![reply]).await;
        let v = verify(&fake.url(), Duration::from_secs(5));
        let err = if call == "start" {
            v.start_verification(&to()).await.unwrap_err()
        } else {
            v.check(&to(), &code()).await.unwrap_err()
        };
        let text = err.to_string();
        assert!(
            !text.contains(CODE) && !text.contains("31612345678"),
            "{text}"
        );
        got.push(err);
    }
    assert!(
        matches!(got[0], VerifyError::InvalidNumber(_)),
        "{:?}",
        got[0]
    );
    assert!(
        matches!(got[1], VerifyError::TooManyAttempts(_)),
        "{:?}",
        got[1]
    );
    assert!(
        matches!(got[2], VerifyError::TooManyAttempts(_)),
        "{:?}",
        got[2]
    );
    assert!(
        matches!(got[3], VerifyError::NoPendingVerification(_)),
        "{:?}",
        got[3]
    );
    assert!(
        matches!(got[4], VerifyError::Authentication(_)),
        "{:?}",
        got[4]
    );
    assert!(
        matches!(got[5], VerifyError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(2)),
        "{:?}",
        got[5]
    );
    assert!(
        matches!(
            got[6],
            VerifyError::Retryable {
                retry_after: None,
                ..
            }
        ),
        "{:?}",
        got[6]
    );
    assert!(matches!(got[7], VerifyError::Other(_)), "{:?}", got[7]);
}

#[tokio::test]
async fn verify_timeout_and_refused_connection_are_retryable() {
    let fake = Fake::start(vec![
        Reply::json(201, PENDING).delayed(Duration::from_secs(3)),
    ])
    .await;
    let err = verify(&fake.url(), Duration::from_millis(200))
        .start_verification(&to())
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Retryable { .. }), "{err:?}");
    let err = verify(&closed_port_url().await, Duration::from_secs(2))
        .check(&to(), &code())
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Retryable { .. }), "{err:?}");
}
