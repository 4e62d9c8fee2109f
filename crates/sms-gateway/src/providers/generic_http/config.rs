//! What an operator configures for the generic provider, in the shape of WSO2 Identity
//! Server's "SMS OTP" fields (fact sheet §9): URL, method, headers, payload, success status.

use std::time::Duration;

use secrecy::SecretString;

use crate::transport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// How `$ctx.num` is written before it is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFormat {
    /// `+31612345678`; URL-encoded as `%2B31612345678`, as WSO2 does.
    E164,
    /// `31612345678`, as Vonage, Clickatell and BulkSMS want it.
    Digits,
}

/// A value in the JSON answer that must equal `equals` for the send to count as accepted:
/// for providers (Vonage) that report failures inside a 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonMatch {
    /// An RFC 6901 JSON pointer, such as `/messages/0/status`.
    pub pointer: String,
    pub equals: String,
}

#[derive(Debug, Clone)]
pub struct GenericHttpConfig {
    /// The name this provider reports in `SentSms` and reasons.
    pub name: String,
    /// The URL, with `$ctx.num` and `$ctx.msg` placeholders; secret because providers such
    /// as Vonage take credentials in the query string.
    pub url: SecretString,
    pub method: HttpMethod,
    /// Header name and value (values may carry credentials and placeholders).
    pub headers: Vec<(String, SecretString)>,
    /// The POST body with placeholders; escaped by the `Content-Type` header: JSON-escaped
    /// for `…json`, XML-escaped for `…xml`, URL-encoded otherwise.
    pub payload: Option<String>,
    pub number_format: NumberFormat,
    /// The one status that means success (WSO2's `http_response`); 200, 201 or 202 if unset.
    pub expected_status: Option<u16>,
    /// Beyond WSO2: a value the answer must hold to count as success.
    pub success_when: Option<JsonMatch>,
    /// An RFC 6901 JSON pointer to the message id in the answer, such as
    /// `/messages/0/message-id`. Without it (or if it finds nothing) the id is empty.
    pub message_id_pointer: Option<String>,
    pub timeout: Duration,
}

impl GenericHttpConfig {
    pub fn new(name: impl Into<String>, url: SecretString, method: HttpMethod) -> Self {
        Self {
            name: name.into(),
            url,
            method,
            headers: Vec::new(),
            payload: None,
            number_format: NumberFormat::E164,
            expected_status: None,
            success_when: None,
            message_id_pointer: None,
            timeout: transport::DEFAULT_TIMEOUT,
        }
    }

    /// Reads WSO2's header field: `Name: value` pairs separated by commas, each split at its
    /// first `:` (newer WSO2 releases; older ones cut values that contain `:`). Names and
    /// values are trimmed; empty parts are skipped.
    pub fn parse_headers(spec: &str) -> Result<Vec<(String, SecretString)>, ConfigError> {
        spec.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| {
                let (name, value) = part
                    .split_once(':')
                    .ok_or_else(|| ConfigError::Header(part.trim().to_owned()))?;
                Ok((
                    name.trim().to_owned(),
                    SecretString::from(value.trim().to_owned()),
                ))
            })
            .collect()
    }
}

/// A generic provider configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the provider needs a name")]
    MissingName,
    #[error("the url must start with http:// or https://")]
    Url,
    #[error("a payload is only sent with POST")]
    PayloadWithGet,
    #[error("header {0:?} is not `Name: value` with a valid name")]
    Header(String),
    #[error("json pointer {0:?} must be empty or start with '/'")]
    Pointer(String),
}
