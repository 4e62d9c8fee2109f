//! Twilio Programmable Messaging (`Messages.json`), following fact sheet §1.
//!
//! Twilio accepts with any 2xx (201 in practice) and answers errors with a JSON body whose
//! numeric `code` is more precise than the HTTP status, so the code decides first.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

use crate::transport::{self, Reply};

const NAME: &str = "twilio";

/// Who the message is from: a Twilio number or alphanumeric sender id, or a Messaging Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioSender {
    /// Sent as `From`.
    From(String),
    /// Sent as `MessagingServiceSid` (`MG…`).
    MessagingService(String),
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `https://api.twilio.com` unless a test points it at a fake.
    pub base_url: String,
    pub account_sid: String,
    /// The Basic-auth user when it is an API key (`SK…`) rather than the Account SID; then
    /// `auth_token` holds that key's secret.
    pub api_key_sid: Option<String>,
    pub auth_token: SecretString,
    pub sender: TwilioSender,
    /// Sent as `StatusCallback` for delivery receipts.
    pub status_callback: Option<String>,
    /// The Auth Token Twilio signs status callbacks with, when `auth_token` is an API key's
    /// secret (callbacks are always signed with the account's Auth Token); else `auth_token`.
    pub signature_secret: Option<SecretString>,
    pub timeout: Duration,
}

impl TwilioConfig {
    pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

    pub fn new(
        account_sid: impl Into<String>,
        auth_token: SecretString,
        sender: TwilioSender,
    ) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            account_sid: account_sid.into(),
            api_key_sid: None,
            auth_token,
            sender,
            status_callback: None,
            signature_secret: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends through Twilio's Messages resource: form-encoded `To` (E.164 with `+`), `From` or
/// `MessagingServiceSid`, `Body`, with HTTP Basic auth (fact sheet §1).
#[derive(Debug, Clone)]
pub struct TwilioSms {
    http: reqwest::Client,
    config: TwilioConfig,
}

impl TwilioSms {
    pub fn new(http: reqwest::Client, config: TwilioConfig) -> Self {
        Self { http, config }
    }
}

#[async_trait]
impl SmsSender for TwilioSms {
    fn name(&self) -> &str {
        NAME
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let url = transport::join(
            &c.base_url,
            &format!("/2010-04-01/Accounts/{}/Messages.json", c.account_sid),
        );
        let mut form = vec![("To", sms.to.e164()), ("Body", sms.text.expose())];
        match &c.sender {
            TwilioSender::From(from) => form.push(("From", from)),
            TwilioSender::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        if let Some(callback) = &c.status_callback {
            form.push(("StatusCallback", callback));
        }
        let user = c.api_key_sid.as_deref().unwrap_or(&c.account_sid);
        let req = transport::basic(self.http.post(url), user, &c.auth_token).form(&form);
        let reply = transport::execute(req, c.timeout, NAME).await?;
        if reply.status.is_success() {
            let sid = serde_json::from_str::<Created>(&reply.body)
                .map(|m| m.sid)
                .unwrap_or_default();
            return Ok(SentSms {
                provider: NAME.to_owned(),
                provider_message_id: sid,
            });
        }
        Err(classify(&reply, sms))
    }
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's error body, shared with Verify: `{"code","message","more_info","status"}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TwilioError {
    pub code: Option<i64>,
    pub message: Option<String>,
}

impl TwilioError {
    pub(crate) fn parse(body: &str) -> Self {
        serde_json::from_str(body).unwrap_or_default()
    }
}

fn classify(reply: &Reply, sms: &OutgoingSms) -> SendError {
    let err = TwilioError::parse(&reply.body);
    let detail = transport::scrub(err.message.as_deref().unwrap_or_default(), sms);
    let Some(code) = err.code else {
        return transport::by_status(NAME, reply.status, reply.retry_after, &detail);
    };
    let reason = transport::with_detail(
        format!("{NAME}: HTTP {}, code {code}", reply.status.as_u16()),
        &detail,
    );
    match code {
        // 20429: "never processed and is always safe to retry".
        20429 => transport::retryable(reply.retry_after, reason),
        20003 => transport::permanent(PermanentKind::Authentication, reason),
        // 21211 invalid `To` (fact sheet); 21614 "not a mobile number" (Twilio's error list).
        21211 | 21614 => transport::permanent(PermanentKind::InvalidNumber, reason),
        // 21610: the recipient replied STOP (Twilio's error list; not in the fact sheet).
        21610 => transport::permanent(PermanentKind::Rejected, reason),
        // 30002: account suspended, Twilio's sign of a negative balance.
        30002 => transport::permanent(PermanentKind::InsufficientBalance, reason),
        _ => transport::status_class(reply.status, reply.retry_after, reason),
    }
}
