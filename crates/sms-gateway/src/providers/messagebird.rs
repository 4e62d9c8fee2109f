//! MessageBird's legacy REST API (now "Bird"), following fact sheet §7.
//!
//! Most of MessageBird's contract is UNCONFIRMED in the fact sheet (codes, HTTP mapping, the
//! 201 body), so any 2xx is accepted and errors are read from `errors[].code`, falling back
//! to the HTTP status.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::transport::{self, Reply};

const NAME: &str = "messagebird";

#[derive(Debug, Clone)]
pub struct MessageBirdConfig {
    /// `https://rest.messagebird.com` unless a test points it at a fake.
    pub base_url: String,
    /// Sent as `Authorization: AccessKey <key>`.
    pub access_key: SecretString,
    /// Sent as `originator`: a number or an alphanumeric sender id.
    pub originator: String,
    pub timeout: Duration,
}

impl MessageBirdConfig {
    pub const DEFAULT_BASE_URL: &str = "https://rest.messagebird.com";

    pub fn new(access_key: SecretString, originator: impl Into<String>) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            access_key,
            originator: originator.into(),
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST /messages` with JSON `originator`, `recipients`, `body` and
/// `Authorization: AccessKey <key>`, the number as digits without `+` (fact sheet §7).
#[derive(Debug, Clone)]
pub struct MessageBirdSms {
    http: reqwest::Client,
    config: MessageBirdConfig,
}

impl MessageBirdSms {
    pub fn new(http: reqwest::Client, config: MessageBirdConfig) -> Self {
        Self { http, config }
    }
}

#[derive(Debug, Deserialize)]
struct Created {
    #[serde(default)]
    id: String,
}

#[derive(Debug, Default, Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: i64,
    #[serde(default)]
    description: String,
    parameter: Option<String>,
}

#[async_trait]
impl SmsSender for MessageBirdSms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let body = json!({
            "originator": c.originator,
            "recipients": [sms.to.digits()],
            "body": sms.text.expose(),
        });
        let req = self
            .http
            .post(transport::join(&c.base_url, "/messages"))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("AccessKey {}", c.access_key.expose_secret()),
            )
            .json(&body);
        let reply = transport::execute(req, c.timeout, NAME).await?;
        if reply.status.is_success() {
            let id = serde_json::from_str::<Created>(&reply.body)
                .map(|m| m.id)
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
    let errors: Errors = serde_json::from_str(&reply.body).unwrap_or_default();
    let Some(err) = errors.errors.first() else {
        return transport::by_status(NAME, reply.status, reply.retry_after, "");
    };
    let reason = transport::with_detail(
        format!("{NAME}: HTTP {}, code {}", reply.status.as_u16(), err.code),
        &transport::scrub(&err.description, sms),
    );
    let about_recipient = err
        .parameter
        .as_deref()
        .is_some_and(|p| p.starts_with("recipient"));
    let kind = match err.code {
        // 2: request not allowed (a bad or missing access key).
        2 => PermanentKind::Authentication,
        25 => PermanentKind::InsufficientBalance,
        // 9 missing, 10 invalid parameter: about the number when the parameter says so.
        9 | 10 if about_recipient => PermanentKind::InvalidNumber,
        99 => return transport::retryable(reply.retry_after, reason),
        _ => return transport::status_class(reply.status, reply.retry_after, reason),
    };
    transport::permanent(kind, reason)
}
