//! Twilio Verify v2 as a provider-managed code backend, following fact sheet §2.
//!
//! For a tenant that chooses it, Twilio creates, sends and checks the code; twostep still
//! enforces its own limits, attempt budget and uniform answers around these two calls. That
//! is why this is not an `SmsSender`: there is no text to send, only a verification to start
//! and a code to check.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use twostep_core::otp::OtpCode;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{PermanentKind, SendError};

use crate::providers::twilio::TwilioError;
use crate::transport::{self, Reply};

const NAME: &str = "twilio-verify";

#[derive(Debug, Clone)]
pub struct TwilioVerifyConfig {
    /// `https://verify.twilio.com` unless a test points it at a fake.
    pub base_url: String,
    /// The Verify Service (`VA` and 32 hex digits).
    pub service_sid: String,
    pub account_sid: String,
    /// The Basic-auth user when it is an API key (`SK…`) rather than the Account SID.
    pub api_key_sid: Option<String>,
    pub auth_token: SecretString,
    /// Sent as `Locale` when set, so Twilio words the SMS in the user's language.
    pub locale: Option<String>,
    pub timeout: Duration,
}

impl TwilioVerifyConfig {
    pub const DEFAULT_BASE_URL: &str = "https://verify.twilio.com";

    pub fn new(
        service_sid: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: SecretString,
    ) -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            service_sid: service_sid.into(),
            account_sid: account_sid.into(),
            api_key_sid: None,
            auth_token,
            locale: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }
}

/// Why Twilio Verify did not start or check a verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// 60200: the number cannot receive a verification.
    #[error("invalid number: {0}")]
    InvalidNumber(String),
    /// 60203 (more than 5 sends) or 60202 (more than 5 wrong checks). Clears only when the
    /// verification expires, 10 minutes after it started.
    #[error("too many attempts: {0}")]
    TooManyAttempts(String),
    /// 20404: nothing is pending for this number (expired, already approved, never started).
    #[error("no pending verification: {0}")]
    NoPendingVerification(String),
    /// Credentials refused (401, 20003).
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// 20429, 5xx, timeouts and connection failures: worth trying again.
    #[error("retryable: {reason}")]
    Retryable {
        retry_after: Option<Duration>,
        reason: String,
    },
    #[error("failed: {0}")]
    Other(String),
}

/// Starts (`POST /v2/Services/{sid}/Verifications`, `To` + `Channel=sms`) and checks
/// (`POST /v2/Services/{sid}/VerificationCheck`, `To` + `Code`) verifications, with HTTP Basic
/// auth and form bodies, the number in E.164 with `+` (fact sheet §2).
#[derive(Debug, Clone)]
pub struct TwilioVerify {
    http: reqwest::Client,
    config: TwilioVerifyConfig,
}

#[derive(Deserialize)]
struct Verification {
    #[serde(default)]
    sid: String,
    #[serde(default)]
    status: String,
}

impl TwilioVerify {
    pub fn new(http: reqwest::Client, config: TwilioVerifyConfig) -> Self {
        Self { http, config }
    }

    /// Asks Twilio to send a code to `to`; returns the verification's sid (`VE…`).
    pub async fn start_verification(&self, to: &PhoneNumber) -> Result<String, VerifyError> {
        let mut form = vec![("To", to.e164()), ("Channel", "sms")];
        if let Some(locale) = &self.config.locale {
            form.push(("Locale", locale));
        }
        let reply = self.post("Verifications", &form).await?;
        // Creates are 201 in Twilio's convention, but a field report saw 200: accept any 2xx.
        if reply.status.is_success() {
            return Ok(parse(&reply).map(|v| v.sid).unwrap_or_default());
        }
        Err(classify(&reply, "", to))
    }

    /// Whether `code` is the one Twilio sent to `to`. A wrong code is `Ok(false)` (Twilio
    /// answers 200 with `status: pending`), not an error.
    pub async fn check(&self, to: &PhoneNumber, code: &OtpCode) -> Result<bool, VerifyError> {
        let form = [("To", to.e164()), ("Code", code.expose_for_sms())];
        let reply = self.post("VerificationCheck", &form).await?;
        if reply.status.is_success() {
            return Ok(parse(&reply).is_some_and(|v| v.status == "approved"));
        }
        Err(classify(&reply, code.expose_for_sms(), to))
    }

    async fn post(&self, resource: &str, form: &[(&str, &str)]) -> Result<Reply, VerifyError> {
        let c = &self.config;
        let url = transport::join(
            &c.base_url,
            &format!("/v2/Services/{}/{resource}", c.service_sid),
        );
        let user = c.api_key_sid.as_deref().unwrap_or(&c.account_sid);
        let req = transport::basic(self.http.post(url), user, &c.auth_token).form(form);
        transport::execute(req, c.timeout, NAME)
            .await
            .map_err(from_send_error)
    }
}

fn parse(reply: &Reply) -> Option<Verification> {
    serde_json::from_str(&reply.body).ok()
}

fn classify(reply: &Reply, code: &str, to: &PhoneNumber) -> VerifyError {
    let err = TwilioError::parse(&reply.body);
    let detail = transport::scrub_parts(err.message.as_deref().unwrap_or_default(), code, to);
    let head = match err.code {
        Some(code) => format!("{NAME}: HTTP {}, code {code}", reply.status.as_u16()),
        None => format!("{NAME}: HTTP {}", reply.status.as_u16()),
    };
    let reason = transport::with_detail(head, &detail);
    match err.code {
        Some(60200) => VerifyError::InvalidNumber(reason),
        Some(60202 | 60203) => VerifyError::TooManyAttempts(reason),
        Some(20404) => VerifyError::NoPendingVerification(reason),
        Some(20003) => VerifyError::Authentication(reason),
        Some(20429) => VerifyError::Retryable {
            retry_after: reply.retry_after,
            reason,
        },
        _ => from_send_error(transport::status_class(
            reply.status,
            reply.retry_after,
            reason,
        )),
    }
}

fn from_send_error(e: SendError) -> VerifyError {
    match e {
        SendError::Retryable {
            retry_after,
            reason,
        } => VerifyError::Retryable {
            retry_after,
            reason,
        },
        SendError::Permanent {
            kind: PermanentKind::Authentication,
            reason,
        } => VerifyError::Authentication(reason),
        SendError::Permanent {
            kind: PermanentKind::InvalidNumber,
            reason,
        } => VerifyError::InvalidNumber(reason),
        SendError::Permanent { reason, .. } => VerifyError::Other(reason),
    }
}
