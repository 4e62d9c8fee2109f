//! BulkSMS's deprecated EAPI `send_sms`, following fact sheet §6b.
//!
//! The answer is a text line `status_code|status_description|batch_id` in an HTTP 200; only
//! the status code counts. BulkSMS says any other HTTP status is transient, so it is
//! retryable here regardless of its value.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::transport;

const NAME: &str = "bulksms-eapi";

#[derive(Debug, Clone)]
pub struct BulkSmsEapiConfig {
    /// The regional EAPI base, e.g. `https://bulksms.vsms.net/eapi` (the default).
    pub base_url: String,
    pub username: String,
    pub password: SecretString,
    /// Sent as `sender` when set.
    pub sender: Option<String>,
    pub timeout: Duration,
}

impl BulkSmsEapiConfig {
    pub const DEFAULT_BASE_URL: &str = "https://bulksms.vsms.net/eapi";

    pub fn new(username: impl Into<String>, password: SecretString) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            username: username.into(),
            password,
            sender: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends `POST <base>/submission/send_sms/2/2.0` with ISO-8859-1 form parameters `username`,
/// `password`, `message`, `msisdn` (digits without `+`) (fact sheet §6b).
#[derive(Debug, Clone)]
pub struct BulkSmsEapi {
    http: reqwest::Client,
    config: BulkSmsEapiConfig,
}

impl BulkSmsEapi {
    pub fn new(http: reqwest::Client, config: BulkSmsEapiConfig) -> Self {
        Self { http, config }
    }
}

#[async_trait]
impl SmsSender for BulkSmsEapi {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let mut params = vec![
            ("username", c.username.as_str()),
            ("password", c.password.expose_secret()),
            ("message", sms.text.expose()),
            ("msisdn", sms.to.digits()),
        ];
        if let Some(sender) = &c.sender {
            params.push(("sender", sender));
        }
        let req = self
            .http
            .post(transport::join(&c.base_url, "/submission/send_sms/2/2.0"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(latin1_form(&params));
        let reply = transport::execute(req, c.timeout, NAME).await?;
        if reply.status != reqwest::StatusCode::OK {
            let reason = format!("{NAME}: HTTP {}", reply.status.as_u16());
            return Err(transport::retryable(reply.retry_after, reason));
        }
        let mut fields = reply.body.trim().splitn(3, '|');
        let code = fields.next().and_then(|s| s.trim().parse::<u32>().ok());
        let description = transport::scrub(fields.next().unwrap_or_default(), sms);
        let batch_id = fields.next().unwrap_or_default().trim();
        let Some(code) = code else {
            return Err(transport::permanent(
                PermanentKind::Other,
                format!("{NAME}: unreadable answer to HTTP 200"),
            ));
        };
        let reason = transport::with_detail(format!("{NAME}: status {code}"), &description);
        let kind = match code {
            // 0 in progress; 1 scheduled (unconfirmed, but not a failure either way).
            0 | 1 => {
                return Ok(SentSms {
                    provider: NAME.to_owned(),
                    provider_message_id: batch_id.to_owned(),
                });
            }
            // 40 temporarily unavailable; 26/28 upstream credits or quota, "may resend".
            40 | 26 | 28 => return Err(transport::retryable(None, reason)),
            23 => PermanentKind::Authentication,
            25 => PermanentKind::InsufficientBalance,
            // 22 internal fatal, 24 validation failed, 27 daily quota, and the rest: fatal.
            _ => PermanentKind::Other,
        };
        Err(transport::permanent(kind, reason))
    }
}

/// `application/x-www-form-urlencoded` over ISO-8859-1 bytes, as EAPI expects. A character
/// outside Latin-1 becomes `?`, as Java's encoders do.
fn latin1_form(params: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(form_urlencoded::byte_serialize(name.as_bytes()));
        out.push('=');
        let bytes: Vec<u8> = value
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        out.extend(form_urlencoded::byte_serialize(&bytes));
    }
    out.into_bytes()
}
