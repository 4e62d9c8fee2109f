//! Clickatell's legacy REST API (Developers' Central, archived), following fact sheet §3b.
//!
//! Kept for accounts that still hold a REST token. The HTTP status carries most of the
//! meaning here (401, 402, 410, 429, 503); the error codes refine a 400.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::transport::{self, Reply};

const NAME: &str = "clickatell-legacy";

#[derive(Debug, Clone)]
pub struct ClickatellLegacyConfig {
    /// `https://api.clickatell.com` unless a test points it at a fake.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: SecretString,
    /// Sent as `from` when set. Not in the fact sheet's request sample; leave it unset unless
    /// the account has a registered sender id.
    pub from: Option<String>,
    pub timeout: Duration,
}

impl ClickatellLegacyConfig {
    pub const DEFAULT_BASE_URL: &str = "https://api.clickatell.com";

    pub fn new(token: SecretString) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            token,
            from: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST /rest/message` with `X-Version: 1`, a Bearer token and `{"text","to":[…]}`,
/// the number as digits without `+` or `00` (fact sheet §3b).
#[derive(Debug, Clone)]
pub struct ClickatellLegacySms {
    http: reqwest::Client,
    config: ClickatellLegacyConfig,
}

impl ClickatellLegacySms {
    pub fn new(http: reqwest::Client, config: ClickatellLegacyConfig) -> Self {
        Self { http, config }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Answer {
    data: Option<Data>,
    error: Option<ApiError>,
}

#[derive(Debug, Default, Deserialize)]
struct Data {
    #[serde(default)]
    message: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    accepted: bool,
    #[serde(rename = "apiMessageId")]
    api_message_id: Option<String>,
    error: Option<ApiError>,
}

/// `{"code":"001","description":"…"}`; the shape is unconfirmed, so the code may be a
/// string or a number and the whole object may be a bare string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ApiError {
    Object {
        code: Option<Value>,
        #[serde(default)]
        description: String,
    },
    Text(String),
}

impl ApiError {
    fn code(&self) -> Option<u32> {
        match self {
            Self::Object {
                code: Some(Value::String(s)),
                ..
            } => s.trim().parse().ok(),
            Self::Object {
                code: Some(Value::Number(n)),
                ..
            } => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
    }

    fn description(&self) -> &str {
        match self {
            Self::Object { description, .. } => description,
            Self::Text(text) => text,
        }
    }
}

#[async_trait]
impl SmsSender for ClickatellLegacySms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let mut body = json!({ "text": sms.text.expose(), "to": [sms.to.digits()] });
        if let (Some(from), Some(obj)) = (&c.from, body.as_object_mut()) {
            obj.insert("from".to_owned(), json!(from));
        }
        let req = self
            .http
            .post(transport::join(&c.base_url, "/rest/message"))
            .header("X-Version", "1")
            .header(reqwest::header::ACCEPT, "application/json")
            .bearer_auth(c.token.expose_secret())
            .json(&body);
        let reply = transport::execute(req, c.timeout, NAME).await?;
        let answer: Answer = serde_json::from_str(&reply.body).unwrap_or_default();
        if !reply.status.is_success() {
            return Err(classify(&reply, answer.error.as_ref(), sms));
        }
        let first = answer.data.unwrap_or_default().message.into_iter().next();
        match first {
            Some(Message {
                accepted: false,
                error,
                ..
            }) => Err(classify(&reply, error.as_ref(), sms)),
            Some(m) => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: m.api_message_id.unwrap_or_default(),
            }),
            None => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: String::new(),
            }),
        }
    }
}

/// Status codes and error codes of fact sheet §3b.
fn classify(reply: &Reply, err: Option<&ApiError>, sms: &OutgoingSms) -> SendError {
    let code = err.and_then(ApiError::code);
    let detail = transport::scrub(err.map(ApiError::description).unwrap_or_default(), sms);
    let head = match code {
        Some(code) => format!("{NAME}: HTTP {}, code {code:03}", reply.status.as_u16()),
        None => format!("{NAME}: HTTP {}", reply.status.as_u16()),
    };
    let reason = transport::with_detail(head, &detail);
    let kind = match (reply.status.as_u16(), code) {
        // 001 authentication failed, 007 IP lockdown.
        (_, Some(1 | 7)) | (401, _) => PermanentKind::Authentication,
        (_, Some(105)) => PermanentKind::InvalidNumber,
        (402, _) => PermanentKind::InsufficientBalance,
        // 410: the number is blocked or cannot be routed.
        (410, _) => PermanentKind::Rejected,
        (429 | 503, _) => return transport::retryable(reply.retry_after, reason),
        _ => return transport::status_class(reply.status, reply.retry_after, reason),
    };
    transport::permanent(kind, reason)
}
