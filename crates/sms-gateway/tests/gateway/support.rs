//! What every adapter test shares: the message, and table-driven checks of error classes
//! and transport failures.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use twostep_core::ids::TenantId;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SmsSender, SmsText};

use crate::fakes::{Fake, Reply, closed_port_url};

pub const NUMBER: &str = "+31612345678";
pub const DIGITS: &str = "31612345678";
pub const CODE: &str = "482913";
pub const TEXT: &str =
    "Your Acme code: 482913. Valid for 5 minutes. Do not share this code with anyone.";

/// Builds an adapter pointed at `base_url` with a per-request `timeout`.
pub type Make = fn(&str, Duration) -> Arc<dyn SmsSender>;

pub fn sms() -> OutgoingSms {
    sms_to(NUMBER, TEXT)
}

pub fn sms_to(number: &str, text: &str) -> OutgoingSms {
    OutgoingSms {
        tenant: TenantId::random(),
        to: PhoneNumber::from_e164(number).unwrap(),
        text: SmsText::new(text.to_owned()),
        provider_code: false,
        purpose: None,
        idempotency_key: "idem-1".to_owned(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
    }
}

pub fn http() -> reqwest::Client {
    twostep_sms_gateway::transport::shared_client().unwrap()
}

/// The class a reply must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Permanent(PermanentKind),
    Retryable(Option<Duration>),
}

pub use Expect::{Permanent, Retryable};
pub use PermanentKind::{Authentication, InsufficientBalance, InvalidNumber, Other, Rejected};

/// Sends [`sms`] once per case against a fake answering `reply`; checks the class and that
/// the reason holds neither the text, the code nor the number.
pub async fn check_errors(make: Make, cases: Vec<(Reply, Expect)>) {
    for (reply, expect) in cases {
        let context = format!("HTTP {} {}", reply.status, reply.body);
        let fake = Fake::start(vec![reply]).await;
        let err = make(&fake.url(), Duration::from_secs(5))
            .send(&sms())
            .await
            .expect_err(&context);
        assert_class(&err, expect, &context);
    }
}

#[track_caller]
pub fn assert_class(err: &SendError, expect: Expect, context: &str) {
    match (err, expect) {
        (SendError::Permanent { kind, .. }, Permanent(want)) => {
            assert_eq!(*kind, want, "{context}: {err}");
        }
        (SendError::Retryable { retry_after, .. }, Retryable(want)) => {
            assert_eq!(*retry_after, want, "{context}: {err}");
        }
        _ => panic!("{context}: expected {expect:?}, got {err:?}"),
    }
    let reason = err.to_string();
    for secret in [TEXT, CODE, NUMBER, DIGITS] {
        assert!(
            !reason.contains(secret),
            "{context}: reason leaks {secret:?}: {reason}"
        );
    }
}

/// A slow provider (past the adapter's timeout) and a refused connection are retryable.
pub async fn check_transport_failures(make: Make, success: Reply) {
    let fake = Fake::start(vec![success.delayed(Duration::from_secs(3))]).await;
    let err = make(&fake.url(), Duration::from_millis(200))
        .send(&sms())
        .await
        .unwrap_err();
    assert_class(&err, Retryable(None), "timeout");
    assert!(err.to_string().contains("timed out"), "{err}");

    let err = make(&closed_port_url().await, Duration::from_secs(2))
        .send(&sms())
        .await
        .unwrap_err();
    assert_class(&err, Retryable(None), "connection refused");
    assert!(err.to_string().contains("connection failed"), "{err}");
}
