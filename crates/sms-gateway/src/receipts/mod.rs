//! Delivery receipts: the callbacks providers send once a message they accepted arrives or
//! fails (issue 5, item 8). One module per provider turns a callback, as the HTTP listener
//! received it, into [`Receipt`]s, after checking that the provider sent it:
//!
//! | provider | proof of origin | fact sheet |
//! |---|---|---|
//! | Twilio | `X-Twilio-Signature`: HMAC-SHA1 of the URL and sorted form params, Auth Token | §1 |
//! | Plivo | `X-Plivo-Signature-V3` (+ nonce): HMAC-SHA256 of URL, params and nonce, Auth Token | §5 |
//! | Vonage | `sig` param (signed webhooks, signature secret), or else a shared `token` in the URL | §4 |
//! | Clickatell One API | a shared `token` in the URL (its callbacks are not signed) | §3a |
//! | BulkSMS JSON | a shared `token` in the URL ("no signing: put a secret in the URL") | §6a |
//!
//! Everything here is a pure function of the request and the credentials: no I/O, no clock.
//! Secrets and signatures are compared in constant time. Errors name what was wrong (a header,
//! a field), never a value from the body, which holds phone numbers.
//!
//! The other kinds take no receipts: Clickatell's legacy API and BulkSMS EAPI report status
//! by polling, MessageBird's callbacks are not in the fact sheet, and the generic provider has
//! no callback format.

mod bulksms;
mod clickatell;
mod plivo;
mod request;
mod twilio;
mod vonage;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use twostep_core::ports::ReceiptStatus;

use crate::factory::ProviderKind;

pub use plivo::signature as plivo_signature;
pub use request::{Method, WebhookRequest};
pub use twilio::signature as twilio_signature;
pub use vonage::{SignatureMethod as VonageSignatureMethod, VonageSignature};

/// The longest provider message id accepted (Twilio's are 34 characters, Plivo's UUIDs 36).
const MAX_MESSAGE_ID: usize = 128;

/// One message's news, as a provider reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for the message, as its send answer gave it.
    pub provider_message_id: String,
    pub status: ReceiptStatus,
}

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The request does not prove it comes from the provider (HTTP 403).
    #[error("bad signature: {0}")]
    BadSignature(&'static str),
    /// Signed, but not a receipt this parser understands (HTTP 400).
    #[error("malformed receipt: {0}")]
    Malformed(&'static str),
    /// A status word the provider's documentation does not list (answered 200 and ignored,
    /// so the provider does not retry it forever). Holds the word, sanitized and shortened.
    #[error("unknown status {0:?}")]
    UnknownStatus(String),
    /// The provider's configuration lacks what proves a receipt (HTTP 403).
    #[error("receipts are not configured: {0}")]
    NotConfigured(&'static str),
}

/// What checks and reads one configured provider's receipts: its kind and credentials.
#[derive(Debug, Clone)]
pub enum ReceiptVerifier {
    Twilio {
        /// The Auth Token Twilio signs callbacks with.
        auth_token: SecretString,
    },
    Plivo {
        auth_token: SecretString,
    },
    Vonage {
        signature: Option<VonageSignature>,
        token: Option<SecretString>,
    },
    Clickatell {
        token: Option<SecretString>,
    },
    BulkSms {
        token: Option<SecretString>,
    },
}

impl ReceiptVerifier {
    /// The verifier for a provider kind; `None` for kinds that take no receipts.
    pub fn for_kind(kind: &ProviderKind) -> Option<Self> {
        match kind {
            ProviderKind::Twilio(c) => Some(Self::Twilio {
                auth_token: c
                    .signature_secret
                    .clone()
                    .unwrap_or_else(|| c.auth_token.clone()),
            }),
            ProviderKind::Plivo(c) => Some(Self::Plivo {
                auth_token: c.auth_token.clone(),
            }),
            ProviderKind::Vonage(c) => Some(Self::Vonage {
                signature: c.signature.clone(),
                token: c.receipt_token.clone(),
            }),
            ProviderKind::Clickatell(c) => Some(Self::Clickatell {
                token: c.receipt_token.clone(),
            }),
            ProviderKind::BulkSms(c) => Some(Self::BulkSms {
                token: c.receipt_token.clone(),
            }),
            ProviderKind::Console
            | ProviderKind::ClickatellLegacy(_)
            | ProviderKind::BulkSmsEapi(_)
            | ProviderKind::MessageBird(_)
            | ProviderKind::GenericHttp(_) => None,
        }
    }

    /// Checks that the provider sent `request`, then reads its receipts (BulkSMS sends
    /// several at once; the others one).
    pub fn parse(&self, request: &WebhookRequest) -> Result<Vec<Receipt>, ReceiptError> {
        match self {
            Self::Twilio { auth_token } => twilio::parse(request, auth_token),
            Self::Plivo { auth_token } => plivo::parse(request, auth_token),
            Self::Vonage { signature, token } => {
                vonage::parse(request, signature.as_ref(), token.as_ref())
            }
            Self::Clickatell { token } => clickatell::parse(request, token.as_ref()),
            Self::BulkSms { token } => bulksms::parse(request, token.as_ref()),
        }
    }
}

/// Whether two secrets or signatures are equal, in time independent of where they differ
/// and of their lengths (both are hashed to 32 bytes first).
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let given = Sha256::digest(given);
    let expected = Sha256::digest(expected);
    given.ct_eq(&expected).into()
}

/// Checks the shared `token` query parameter of providers that do not sign their callbacks.
pub(crate) fn check_token(
    request: &WebhookRequest,
    token: Option<&SecretString>,
) -> Result<(), ReceiptError> {
    use secrecy::ExposeSecret as _;
    let Some(expected) = token else {
        return Err(ReceiptError::NotConfigured(
            "no receipt_token is configured for this provider",
        ));
    };
    let query = request.query_params();
    let Some(given) = request::param(&query, "token") else {
        return Err(ReceiptError::BadSignature("missing token query parameter"));
    };
    if same_secret(given.as_bytes(), expected.expose_secret().as_bytes()) {
        Ok(())
    } else {
        Err(ReceiptError::BadSignature("token mismatch"))
    }
}

/// A provider message id, checked for size.
pub(crate) fn message_id(id: Option<&str>) -> Result<String, ReceiptError> {
    match id.map(str::trim) {
        None | Some("") => Err(ReceiptError::Malformed("no message id")),
        Some(id) if id.len() > MAX_MESSAGE_ID || id.chars().any(char::is_control) => Err(
            ReceiptError::Malformed("message id too long or not printable"),
        ),
        Some(id) => Ok(id.to_owned()),
    }
}

/// An unknown status word, safe to log: at most 32 of its letters, digits, `_`, `-`, `.`.
pub(crate) fn unknown_status(word: &str) -> ReceiptError {
    ReceiptError::UnknownStatus(
        word.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .take(32)
            .collect(),
    )
}

/// A failure reason for `last_error`: the provider's status and code, made safe to store and
/// log (no value from the body beyond these short words).
pub(crate) fn failure(provider: &str, status: &str, code: Option<&str>) -> ReceiptStatus {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .take(32)
            .collect()
    };
    let reason = match code.map(clean).filter(|c| !c.is_empty() && c != "0") {
        Some(code) => format!("{provider} receipt: {} (error {code})", clean(status)),
        None => format!("{provider} receipt: {}", clean(status)),
    };
    ReceiptStatus::Failed { reason }
}

#[cfg(test)]
mod tests;
