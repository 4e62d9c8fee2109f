//! Clickatell One API (Platform), following fact sheet §3a.
//!
//! Clickatell reports errors twice over: a top-level `error` rejects the whole request and a
//! `messages[].error` rejects one message inside a 202/207. Its rate limit is code 43 in an
//! HTTP **400**, so the error code decides, never the status alone.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::transport::{self, Reply};

const NAME: &str = "clickatell";

#[derive(Debug, Clone)]
pub struct ClickatellConfig {
    /// `https://platform.clickatell.com` unless a test points it at a fake.
    pub base_url: String,
    /// Sent raw in `Authorization`, without a scheme.
    pub api_key: SecretString,
    /// Sent as `from` when set (two-way integrations only).
    pub from: Option<String>,
    /// The `token` query parameter status callbacks must carry (they are not signed).
    pub receipt_token: Option<SecretString>,
    pub timeout: Duration,
}

impl ClickatellConfig {
    pub const DEFAULT_BASE_URL: &str = "https://platform.clickatell.com";

    pub fn new(api_key: SecretString) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key,
            from: None,
            receipt_token: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST /v1/message` with `{"messages":[{"channel":"sms","to","content"}]}`, the
/// number as international digits without `+` (fact sheet §3a).
#[derive(Debug, Clone)]
pub struct ClickatellSms {
    http: reqwest::Client,
    config: ClickatellConfig,
}

impl ClickatellSms {
    pub fn new(http: reqwest::Client, config: ClickatellConfig) -> Self {
        Self { http, config }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Answer {
    #[serde(default)]
    messages: Vec<Message>,
    error: Option<ApiError>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "apiMessageId")]
    api_message_id: Option<String>,
    #[serde(default)]
    accepted: bool,
    error: Option<ApiError>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: i64,
    #[serde(default)]
    description: String,
}

#[async_trait]
impl SmsSender for ClickatellSms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let mut message = json!({
            "channel": "sms",
            "to": sms.to.digits(),
            "content": sms.text.expose(),
        });
        if let (Some(from), Some(obj)) = (&c.from, message.as_object_mut()) {
            obj.insert("from".to_owned(), json!(from));
        }
        let req = self
            .http
            .post(transport::join(&c.base_url, "/v1/message"))
            .header(reqwest::header::AUTHORIZATION, c.api_key.expose_secret())
            .json(&json!({ "messages": [message] }));
        let reply = transport::execute(req, c.timeout, NAME).await?;
        let answer: Answer = serde_json::from_str(&reply.body).unwrap_or_default();
        if let Some(err) = &answer.error {
            return Err(classify(&reply, err, sms));
        }
        if !reply.status.is_success() {
            return Err(transport::by_status(
                NAME,
                reply.status,
                reply.retry_after,
                "",
            ));
        }
        match answer.messages.first() {
            Some(Message {
                accepted: false,
                error: Some(err),
                ..
            }) => Err(classify(&reply, err, sms)),
            Some(Message {
                accepted: false, ..
            }) => Err(transport::permanent(
                PermanentKind::Other,
                format!("{NAME}: message not accepted"),
            )),
            Some(m) => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: m.api_message_id.clone().unwrap_or_default(),
            }),
            // A 2xx without a readable body: accepted, but its id is unknown.
            None => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: String::new(),
            }),
        }
    }
}

/// The One API error table (fact sheet §3a), code first.
fn classify(reply: &Reply, err: &ApiError, sms: &OutgoingSms) -> SendError {
    let reason = transport::with_detail(
        format!("{NAME}: HTTP {}, code {}", reply.status.as_u16(), err.code),
        &transport::scrub(&err.description, sms),
    );
    let kind = match err.code {
        // 19 "please retry" (503), 43 rate limit (400!), 18 internal error (500).
        18 | 19 | 43 => return transport::retryable(reply.retry_after, reason),
        // 1 bad or missing key, 7 IP not approved.
        1 | 7 => PermanentKind::Authentication,
        20 => PermanentKind::InsufficientBalance,
        25 => PermanentKind::InvalidNumber,
        26 => PermanentKind::Rejected,
        // 2/3 account or integration inactive, 21 malformed, 23 invalid parameter.
        2 | 3 | 21 | 23 => PermanentKind::Other,
        _ => return transport::status_class(reply.status, reply.retry_after, reason),
    };
    transport::permanent(kind, reason)
}
