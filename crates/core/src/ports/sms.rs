//! Sending SMS. Flows never call a provider: they hand a message to the outbox and return,
//! so provider latency never shows in an RPC's latency (R19).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::challenge::Purpose;
use crate::ids::TenantId;
use crate::phone::PhoneNumber;
use crate::ports::BoxError;

/// A message text. It usually contains a code, so it is redacted in `Debug`.
#[derive(Clone)]
pub struct SmsText(SecretString);

impl SmsText {
    pub fn new(text: String) -> Self {
        Self(SecretString::from(text))
    }

    /// The text, for the provider adapter that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SmsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmsText(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct OutgoingSms {
    pub tenant: TenantId,
    pub to: PhoneNumber,
    pub text: SmsText,
    /// Start a provider-managed code (the tenant's Twilio Verify) to `to` instead of sending
    /// `text`, which is empty then. Only the tenant's code provider may take such a message:
    /// a text provider would send an empty SMS.
    pub provider_code: bool,
    /// `None` for notices that are not about a code.
    pub purpose: Option<Purpose>,
    /// Providers that support it get this to suppress duplicates; the outbox also uses it.
    pub idempotency_key: String,
    /// The message is worthless after this (its code has expired): do not send it later.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox unavailable")]
    Unavailable(#[source] BoxError),
    #[error("sending is switched off")]
    Disabled,
}

/// Accepts messages for sending. When `enqueue` returns `Ok`, the message will be delivered
/// to a provider at most once per idempotency key, unless it expires first.
#[async_trait]
pub trait SmsOutbox: Send + Sync + 'static {
    async fn enqueue(&self, message: OutgoingSms) -> Result<(), OutboxError>;
}

/// A provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The adapter's name, as configured (`twilio`, `console`, ...).
    pub provider: String,
    /// The provider's own id for the message, for delivery receipts.
    pub provider_message_id: String,
}

/// Why a permanent failure is permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentKind {
    /// The number is not reachable by SMS; failing over would not help.
    InvalidNumber,
    /// The provider refused this message or recipient (blocked, opted out, content).
    Rejected,
    /// Our credentials were refused; another provider may still work.
    Authentication,
    InsufficientBalance,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again, after `retry_after` when the provider said.
    #[error("retryable: {reason}")]
    Retryable {
        retry_after: Option<std::time::Duration>,
        reason: String,
    },
    #[error("permanent ({kind:?}): {reason}")]
    Permanent { kind: PermanentKind, reason: String },
}

/// One SMS provider. Contract: `send` makes at most one delivery attempt and classifies every
/// failure; `reason` strings never contain the text or the full number. Implementations pass
/// `idempotency_key` to providers that support it.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    fn name(&self) -> &str;
    async fn send(&self, message: &OutgoingSms) -> Result<SentSms, SendError>;
}
