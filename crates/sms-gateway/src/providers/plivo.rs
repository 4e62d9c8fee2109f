//! Plivo Message API v1, following fact sheet §5.
//!
//! Plivo's error texts and its insufficient-credit status are not documented (fact sheet:
//! UNCONFIRMED), so beyond the HTTP status this adapter reads the `error` text for the
//! parameter it names: `dst` means the number, `credit`/`balance` means the account.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::transport::{self, Reply};

const NAME: &str = "plivo";

#[derive(Debug, Clone)]
pub struct PlivoConfig {
    /// `https://api.plivo.com` unless a test points it at a fake.
    pub base_url: String,
    pub auth_id: String,
    pub auth_token: SecretString,
    /// Sent as `src`: a Plivo number or sender id.
    pub src: String,
    /// Sent as `url` (the status callback) when set.
    pub status_callback: Option<String>,
    pub timeout: Duration,
}

impl PlivoConfig {
    pub const DEFAULT_BASE_URL: &str = "https://api.plivo.com";

    pub fn new(
        auth_id: impl Into<String>,
        auth_token: SecretString,
        src: impl Into<String>,
    ) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            auth_id: auth_id.into(),
            auth_token,
            src: src.into(),
            status_callback: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST /v1/Account/{auth_id}/Message/` (trailing slash) with JSON `src`, `dst`,
/// `text` and HTTP Basic auth, `dst` as country code and digits without `+` (fact sheet §5).
#[derive(Debug, Clone)]
pub struct PlivoSms {
    http: reqwest::Client,
    config: PlivoConfig,
}

impl PlivoSms {
    pub fn new(http: reqwest::Client, config: PlivoConfig) -> Self {
        Self { http, config }
    }
}

#[derive(Debug, Deserialize)]
struct Queued {
    #[serde(default)]
    message_uuid: Vec<String>,
}

#[async_trait]
impl SmsSender for PlivoSms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let mut body = json!({
            "src": c.src,
            "dst": sms.to.digits(),
            "text": sms.text.expose(),
        });
        if let (Some(url), Some(obj)) = (&c.status_callback, body.as_object_mut()) {
            obj.insert("url".to_owned(), json!(url));
        }
        let url = transport::join(&c.base_url, &format!("/v1/Account/{}/Message/", c.auth_id));
        let req = transport::basic(self.http.post(url), &c.auth_id, &c.auth_token).json(&body);
        let reply = transport::execute(req, c.timeout, NAME).await?;
        if reply.status.is_success() {
            let id = serde_json::from_str::<Queued>(&reply.body)
                .ok()
                .and_then(|q| q.message_uuid.into_iter().next())
                .unwrap_or_default();
            return Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: id,
            });
        }
        Err(classify(&reply, sms))
    }
}

fn classify(reply: &Reply, sms: &OutgoingSms) -> SendError {
    // `{"api_id":"…","error":…}`; `error` is usually a string, sometimes an object.
    let error = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("error").cloned())
        .map(|e| match e {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default();
    let detail = transport::scrub(&error, sms);
    let reason = transport::with_detail(format!("{NAME}: HTTP {}", reply.status.as_u16()), &detail);
    let lower = error.to_ascii_lowercase();
    let status = reply.status.as_u16();
    if status == 401 {
        return transport::permanent(PermanentKind::Authentication, reason);
    }
    if status == 429 || reply.status.is_server_error() {
        return transport::retryable(reply.retry_after, reason);
    }
    if lower.contains("credit") || lower.contains("balance") {
        return transport::permanent(PermanentKind::InsufficientBalance, reason);
    }
    if status == 400 && (lower.contains("dst") || lower.contains("destination")) {
        return transport::permanent(PermanentKind::InvalidNumber, reason);
    }
    transport::status_class(reply.status, reply.retry_after, reason)
}
