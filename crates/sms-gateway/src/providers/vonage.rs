//! Vonage (Nexmo) SMS API, following fact sheet §4.
//!
//! Vonage answers message-level errors, throttling included, with **HTTP 200**: only
//! `messages[].status == "0"` in every entry means the message was accepted.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::receipts::VonageSignature;
use crate::templates::{Encoding, segments};
use crate::transport::{self, Reply};

const NAME: &str = "vonage";

#[derive(Debug, Clone)]
pub struct VonageConfig {
    /// `https://rest.nexmo.com` unless a test points it at a fake.
    pub base_url: String,
    pub api_key: String,
    pub api_secret: SecretString,
    /// Sent as `from`: a number or an alphanumeric sender id.
    pub from: String,
    /// Checks delivery receipts when Vonage signs webhooks for the account.
    pub signature: Option<VonageSignature>,
    /// Otherwise, the `token` query parameter delivery receipts must carry.
    pub receipt_token: Option<SecretString>,
    pub timeout: Duration,
}

impl VonageConfig {
    pub const DEFAULT_BASE_URL: &str = "https://rest.nexmo.com";

    pub fn new(
        api_key: impl Into<String>,
        api_secret: SecretString,
        from: impl Into<String>,
    ) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: api_key.into(),
            api_secret,
            from: from.into(),
            signature: None,
            receipt_token: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST /sms/json`, form-encoded `api_key`, `api_secret`, `from`, `to`, `text` (and
/// `type=unicode` when the text is not GSM-7), the number as digits without `+` (fact
/// sheet §4).
#[derive(Debug, Clone)]
pub struct VonageSms {
    http: reqwest::Client,
    config: VonageConfig,
}

impl VonageSms {
    pub fn new(http: reqwest::Client, config: VonageConfig) -> Self {
        Self { http, config }
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    status: String,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "error-text", default)]
    error_text: String,
}

#[async_trait]
impl SmsSender for VonageSms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let text = sms.text.expose();
        let mut form = vec![
            ("api_key", c.api_key.as_str()),
            ("api_secret", c.api_secret.expose_secret()),
            ("from", c.from.as_str()),
            ("to", sms.to.digits()),
            ("text", text),
        ];
        // Without `type=unicode` Vonage sends the text as GSM-7 and mangles other characters.
        if segments(text).0 == Encoding::Ucs2 {
            form.push(("type", "unicode"));
        }
        let req = self
            .http
            .post(transport::join(&c.base_url, "/sms/json"))
            .form(&form);
        let reply = transport::execute(req, c.timeout, NAME).await?;
        if reply.status != reqwest::StatusCode::OK {
            return Err(transport::by_status(
                NAME,
                reply.status,
                reply.retry_after,
                "",
            ));
        }
        let Ok(answer) = serde_json::from_str::<Answer>(&reply.body) else {
            return Err(transport::permanent(
                PermanentKind::Other,
                format!("{NAME}: unreadable answer to HTTP 200"),
            ));
        };
        if let Some(failed) = answer.messages.iter().find(|m| m.status != "0") {
            return Err(classify(&reply, failed, sms));
        }
        match answer.messages.first() {
            Some(m) => Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: m.message_id.clone().unwrap_or_default(),
            }),
            None => Err(transport::permanent(
                PermanentKind::Other,
                format!("{NAME}: HTTP 200 without messages"),
            )),
        }
    }
}

/// Vonage's status table (fact sheet §4).
fn classify(reply: &Reply, m: &Message, sms: &OutgoingSms) -> SendError {
    let reason = transport::with_detail(
        format!("{NAME}: status {}", m.status),
        &transport::scrub(&m.error_text, sms),
    );
    let kind = match m.status.as_str() {
        // 1 throttled, 5 internal error, 10 too many binds: back off and retry.
        "1" | "5" | "10" => return transport::retryable(reply.retry_after, reason),
        // 4 invalid credentials, 14 invalid signature, 32 signature and secret both sent.
        "4" | "14" | "32" => PermanentKind::Authentication,
        "9" => PermanentKind::InsufficientBalance,
        // 6 unrecognised number prefix, 33 number de-activated.
        "6" | "33" => PermanentKind::InvalidNumber,
        // 7 number barred.
        "7" => PermanentKind::Rejected,
        // 2/3 parameters, 8 account barred, 11 no HTTP, 12 too long, 15 sender, 22 network,
        // 23 callback, 29 non-whitelisted destination (a trial account: another provider works).
        _ => PermanentKind::Other,
    };
    transport::permanent(kind, reason)
}
