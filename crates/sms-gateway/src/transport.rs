//! The HTTP plumbing every adapter shares: one connection pool, a timeout per request, and the
//! translation of transport failures and generic status codes into the port's error classes.
//!
//! Adapters add only what their provider documents on top. Keeping the generic part here means
//! a timeout or a refused connection is classified the same way for every provider, and no
//! adapter can leak a URL (which may carry credentials) through `reqwest::Error`'s message.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError};

/// The per-request timeout adapters use unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the one client that all adapters share, so they share its connection pool. Each
/// adapter sets its own per-request timeout on top of this client's connect timeout.
pub fn shared_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("twostep-sms-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What an adapter needs from an HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// Sends the request with `timeout` and reads the whole body. Transport failures come back
/// already classified (retryable, except a request that could not even be built).
pub(crate) async fn execute(
    req: RequestBuilder,
    timeout: Duration,
    provider: &str,
) -> Result<Reply, SendError> {
    let res = req
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    let status = res.status();
    let retry_after = retry_after(res.headers());
    let body = res
        .text()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    Ok(Reply {
        status,
        retry_after,
        body,
    })
}

/// Classifies a `reqwest` failure without its message, which names the URL.
pub(crate) fn transport_error(provider: &str, e: &reqwest::Error) -> SendError {
    if e.is_builder() {
        return SendError::Permanent {
            kind: PermanentKind::Other,
            reason: format!("{provider}: request could not be built (check the configured URL)"),
        };
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    SendError::Retryable {
        retry_after: None,
        reason: format!("{provider}: {what}"),
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The classification by HTTP status alone, for answers a provider documents no better:
/// 401/403 authentication, 402 balance, 408/429/5xx retryable, anything else permanent.
pub(crate) fn by_status(
    provider: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    detail: &str,
) -> SendError {
    let reason = with_detail(format!("{provider}: HTTP {}", status.as_u16()), detail);
    status_class(status, retry_after, reason)
}

/// [`by_status`] with a reason the adapter already built.
pub(crate) fn status_class(
    status: StatusCode,
    retry_after: Option<Duration>,
    reason: String,
) -> SendError {
    match status.as_u16() {
        408 | 429 | 500..=599 => retryable(retry_after, reason),
        401 | 403 => permanent(PermanentKind::Authentication, reason),
        402 => permanent(PermanentKind::InsufficientBalance, reason),
        _ => permanent(PermanentKind::Other, reason),
    }
}

pub(crate) fn permanent(kind: PermanentKind, reason: String) -> SendError {
    SendError::Permanent { kind, reason }
}

pub(crate) fn retryable(retry_after: Option<Duration>, reason: String) -> SendError {
    SendError::Retryable {
        retry_after,
        reason,
    }
}

/// `head` plus `: detail` when there is a detail.
pub(crate) fn with_detail(head: String, detail: &str) -> String {
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

/// A provider's error text made safe for `reason`: the message text and the number are
/// removed (providers echo both), as is any other run of four or more digits (a code or a
/// number in another format); control characters are dropped and the length is capped.
pub(crate) fn scrub(text: &str, sms: &OutgoingSms) -> String {
    scrub_parts(text, sms.text.expose(), &sms.to)
}

/// [`scrub`] for callers without an `OutgoingSms`: `secret` is the text or code to remove.
pub(crate) fn scrub_parts(text: &str, secret: &str, to: &PhoneNumber) -> String {
    const MAX_CHARS: usize = 160;
    let mut s = text.to_owned();
    if !secret.is_empty() {
        s = s.replace(secret, "<text>");
    }
    s = s
        .replace(to.e164(), "<number>")
        .replace(to.digits(), "<number>");
    let mut out = String::with_capacity(s.len());
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush_digits(&mut out, &mut digits);
        if c.is_control() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    flush_digits(&mut out, &mut digits);
    let trimmed = out.trim();
    if trimmed.chars().count() > MAX_CHARS {
        let cut: String = trimmed.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        trimmed.to_owned()
    }
}

fn flush_digits(out: &mut String, digits: &mut String) {
    if digits.len() >= 4 {
        out.push_str("<digits>");
    } else {
        out.push_str(digits);
    }
    digits.clear();
}

/// HTTP Basic credentials as `(user, secret)`, for `RequestBuilder::basic_auth`.
pub(crate) fn basic(
    req: RequestBuilder,
    user: &str,
    secret: &secrecy::SecretString,
) -> RequestBuilder {
    use secrecy::ExposeSecret;
    req.basic_auth(user, Some(secret.expose_secret()))
}

/// Joins `base` (no trailing slash needed) and `path` (with a leading slash).
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests;
