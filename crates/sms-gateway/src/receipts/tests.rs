//! Helpers for the providers' receipt tests, and tests of the shared pieces.

use secrecy::SecretString;
use twostep_core::ports::ReceiptStatus;

use super::*;
use crate::providers::{TwilioConfig, TwilioSender};

pub(crate) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn headers(extra: &[(&str, &str)], content_type: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    if let Some(ct) = content_type {
        out.push(("content-type".to_owned(), ct.to_owned()));
    }
    out
}

/// A form POST of `params` to `url`.
pub(crate) fn form_post(
    url: &str,
    params: &[(String, String)],
    extra: &[(&str, &str)],
) -> WebhookRequest {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    WebhookRequest {
        method: Method::Post,
        url: url.to_owned(),
        headers: headers(
            extra,
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        ),
        body: body.into_bytes(),
    }
}

/// A JSON POST of `body` to `url`.
pub(crate) fn json_post(
    url: &str,
    body: &serde_json::Value,
    extra: &[(&str, &str)],
) -> WebhookRequest {
    WebhookRequest {
        method: Method::Post,
        url: url.to_owned(),
        headers: headers(extra, Some("application/json")),
        body: body.to_string().into_bytes(),
    }
}

/// A GET of `url` (parameters in its query).
pub(crate) fn get(url: &str, extra: &[(&str, &str)]) -> WebhookRequest {
    WebhookRequest {
        method: Method::Get,
        url: url.to_owned(),
        headers: headers(extra, None),
        body: Vec::new(),
    }
}

#[test]
fn secrets_compare_equal_only_when_equal() {
    assert!(same_secret(b"abc", b"abc"));
    assert!(!same_secret(b"abc", b"abd"));
    assert!(!same_secret(b"abc", b"abcd"));
    assert!(!same_secret(b"", b"abc"));
}

#[test]
fn message_ids_are_checked() {
    assert_eq!(message_id(Some(" SM1 ")), Ok("SM1".to_owned()));
    assert!(message_id(None).is_err());
    assert!(message_id(Some("")).is_err());
    assert!(message_id(Some(&"x".repeat(MAX_MESSAGE_ID + 1))).is_err());
    assert!(message_id(Some("a\nb")).is_err());
}

#[test]
fn failure_reasons_keep_only_short_words() {
    assert_eq!(
        failure("twilio", "undelivered", Some("30003")),
        ReceiptStatus::Failed {
            reason: "twilio receipt: undelivered (error 30003)".to_owned()
        }
    );
    // A zero or empty code is no code; anything odd is dropped, not stored.
    assert_eq!(
        failure("vonage", "failed", Some("0")),
        ReceiptStatus::Failed {
            reason: "vonage receipt: failed".to_owned()
        }
    );
    assert_eq!(
        failure("x", "bad <script> +14155550100", None),
        ReceiptStatus::Failed {
            reason: "x receipt: badscript14155550100".to_owned()
        }
    );
}

#[test]
fn the_webhook_debug_hides_the_body() {
    let request = form_post(
        "https://h.example/cb",
        &pairs(&[("To", "+14155550100")]),
        &[],
    );
    let shown = format!("{request:?}");
    assert!(!shown.contains("4155550100"), "{shown}");
}

#[test]
fn kinds_with_receipts_have_a_verifier() {
    let mut twilio = TwilioConfig::new(
        "AC1",
        SecretString::from("auth"),
        TwilioSender::From("+1".to_owned()),
    );
    assert!(matches!(
        ReceiptVerifier::for_kind(&ProviderKind::Twilio(twilio.clone())),
        Some(ReceiptVerifier::Twilio { .. })
    ));
    // With an API key, Twilio still signs with the account's Auth Token, configured apart.
    twilio.signature_secret = Some(SecretString::from("account auth token"));
    let Some(ReceiptVerifier::Twilio { auth_token }) =
        ReceiptVerifier::for_kind(&ProviderKind::Twilio(twilio))
    else {
        panic!("twilio takes receipts");
    };
    use secrecy::ExposeSecret as _;
    assert_eq!(auth_token.expose_secret(), "account auth token");
    assert!(ReceiptVerifier::for_kind(&ProviderKind::Console).is_none());
}
