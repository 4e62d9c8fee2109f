//! BulkSMS JSON REST API v1, following fact sheet §6a.
//!
//! Errors are RFC 7807-style problems whose `type` URL ends in a stable name
//! (`…/errors#insufficient-credits`); that name decides the class. The problem name for an
//! invalid number is undocumented (fact sheet: probably `bad-request`), so a `bad-request`
//! whose detail names the number or recipient is read as an invalid number.
//!
//! `deduplication-id` is deliberately not sent: it is an int32, and hashing idempotency keys
//! into 2^31 values would make two different codes collide within its 12-hour window at
//! modest volume, and BulkSMS would silently drop the second one.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::templates::{Encoding, segments};
use crate::transport::{self, Reply};

const NAME: &str = "bulksms";

#[derive(Debug, Clone)]
pub struct BulkSmsConfig {
    /// `https://api.bulksms.com` unless a test points it at a fake.
    pub base_url: String,
    /// The Basic-auth user: a username or an API token id.
    pub username: String,
    pub password: SecretString,
    /// Sent as `from` when set.
    pub from: Option<String>,
    /// The `token` query parameter webhooks must carry (they are not signed).
    pub receipt_token: Option<SecretString>,
    pub timeout: Duration,
}

impl BulkSmsConfig {
    pub const DEFAULT_BASE_URL: &str = "https://api.bulksms.com";

    pub fn new(username: impl Into<String>, password: SecretString) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            username: username.into(),
            password,
            from: None,
            receipt_token: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST /v1/messages` with JSON `{"to","body"}` (plus `from`, and
/// `encoding: UNICODE` when the text is not GSM-7), HTTP Basic auth, the number in E.164 with
/// `+` (fact sheet §6a).
#[derive(Debug, Clone)]
pub struct BulkSms {
    http: reqwest::Client,
    config: BulkSmsConfig,
}

impl BulkSms {
    pub fn new(http: reqwest::Client, config: BulkSmsConfig) -> Self {
        Self { http, config }
    }
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    id: String,
    status: Option<Status>,
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(rename = "type", default)]
    kind: String,
    subtype: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    detail: String,
}

#[async_trait]
impl SmsSender for BulkSms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let text = sms.text.expose();
        let mut body = json!({ "to": sms.to.e164(), "body": text });
        if let Some(obj) = body.as_object_mut() {
            if let Some(from) = &c.from {
                obj.insert("from".to_owned(), json!(from));
            }
            if segments(text).0 == Encoding::Ucs2 {
                obj.insert("encoding".to_owned(), json!("UNICODE"));
            }
        }
        let url = transport::join(&c.base_url, "/v1/messages");
        let req = transport::basic(self.http.post(url), &c.username, &c.password).json(&body);
        let reply = transport::execute(req, c.timeout, NAME).await?;
        if !reply.status.is_success() {
            return Err(classify(&reply, sms));
        }
        let first = serde_json::from_str::<Vec<Message>>(&reply.body)
            .ok()
            .and_then(|v| v.into_iter().next());
        match first {
            Some(Message {
                status: Some(status),
                ..
            }) if status.kind == "FAILED" => Err(failed(&status)),
            Some(m) => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: m.id,
            }),
            None => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: String::new(),
            }),
        }
    }
}

/// A message that came back already `FAILED` in the 201 answer.
fn failed(status: &Status) -> SendError {
    let subtype = status.subtype.as_deref().unwrap_or("unknown");
    let reason = format!("{NAME}: message failed ({subtype})");
    let kind = match subtype {
        "BLOCKED" => PermanentKind::Rejected,
        _ => PermanentKind::Other,
    };
    transport::permanent(kind, reason)
}

/// The problem types of fact sheet §6a.
fn classify(reply: &Reply, sms: &OutgoingSms) -> SendError {
    let problem: Problem = serde_json::from_str(&reply.body).unwrap_or_default();
    let name = problem.kind.rsplit('#').next().unwrap_or_default();
    let head = if name.is_empty() {
        format!("{NAME}: HTTP {}", reply.status.as_u16())
    } else {
        format!("{NAME}: HTTP {}, {name}", reply.status.as_u16())
    };
    let reason = transport::with_detail(head, &transport::scrub(&problem.detail, sms));
    let kind = match name {
        "unavailable" | "internal-server-error" => {
            return transport::retryable(reply.retry_after, reason);
        }
        "authentication-required" | "authentication-failed" | "authorisation-failed" => {
            PermanentKind::Authentication
        }
        "insufficient-credits" | "insufficient-quota" => PermanentKind::InsufficientBalance,
        "bad-request" if names_the_number(&problem.detail) => PermanentKind::InvalidNumber,
        "bad-request" | "max-batch-size-exceeded" | "not-found" => PermanentKind::Other,
        _ => return transport::status_class(reply.status, reply.retry_after, reason),
    };
    transport::permanent(kind, reason)
}

fn names_the_number(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    [
        "phone number",
        "recipient",
        "msisdn",
        "destination",
        "\"to\"",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}
