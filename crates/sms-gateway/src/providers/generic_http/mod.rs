//! A provider described by configuration instead of code, compatible with WSO2 Identity
//! Server's "SMS OTP" generic HTTP provider (fact sheet §9 and seed 003): any HTTP API that
//! takes the number and text in its URL, headers or body can be used without a new adapter.
//!
//! Unlike WSO2, placeholders are escaped for where they land (URL-encoded in URLs, headers
//! and form bodies, JSON-escaped in JSON bodies), so a text with `"` or `&` cannot break the
//! request; and failures are classified by status (401/403, 402, 408/429/5xx).

mod config;
mod render;

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

pub use config::{ConfigError, GenericHttpConfig, HttpMethod, JsonMatch, NumberFormat};
use render::{Escape, render};

use crate::transport;

/// Sends what [`GenericHttpConfig`] describes; success is the expected status, or else
/// 200/201/202, as in WSO2's connector (fact sheet §9).
#[derive(Debug, Clone)]
pub struct GenericHttpSms {
    http: reqwest::Client,
    config: GenericHttpConfig,
    body_escape: Escape,
}

impl GenericHttpSms {
    /// Checks the configuration once, so a broken one fails at start-up, not on a send.
    pub fn new(http: reqwest::Client, config: GenericHttpConfig) -> Result<Self, ConfigError> {
        if config.name.trim().is_empty() {
            return Err(ConfigError::MissingName);
        }
        let url = config.url.expose_secret().trim_start().to_ascii_lowercase();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(ConfigError::Url);
        }
        if config.method == HttpMethod::Get && config.payload.is_some() {
            return Err(ConfigError::PayloadWithGet);
        }
        for (name, _) in &config.headers {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::Header(name.clone()))?;
        }
        let pointers = [
            config.message_id_pointer.as_deref(),
            config.success_when.as_ref().map(|m| m.pointer.as_str()),
        ];
        for pointer in pointers.into_iter().flatten() {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(ConfigError::Pointer(pointer.to_owned()));
            }
        }
        let content_type = config
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.expose_secret().to_ascii_lowercase())
            .unwrap_or_default();
        let body_escape = if content_type.contains("json") {
            Escape::Json
        } else if content_type.contains("xml") {
            Escape::Xml
        } else {
            Escape::Url
        };
        Ok(Self {
            http,
            config,
            body_escape,
        })
    }

    fn number<'a>(&self, sms: &'a OutgoingSms) -> &'a str {
        match self.config.number_format {
            NumberFormat::E164 => sms.to.e164(),
            NumberFormat::Digits => sms.to.digits(),
        }
    }

    fn request(&self, sms: &OutgoingSms) -> Result<reqwest::RequestBuilder, SendError> {
        let c = &self.config;
        let (num, msg) = (self.number(sms), sms.text.expose());
        let url = render(c.url.expose_secret().trim(), num, msg, Escape::Url);
        let mut req = match c.method {
            HttpMethod::Get => self.http.get(url),
            HttpMethod::Post => self.http.post(url),
        };
        for (name, value) in &c.headers {
            let value = render(value.expose_secret(), num, msg, Escape::Url);
            let value = HeaderValue::from_str(&value).map_err(|_| {
                transport::permanent(
                    PermanentKind::Other,
                    format!("{}: header {name} has an invalid value", c.name),
                )
            })?;
            req = req.header(name.as_str(), value);
        }
        if let Some(payload) = &c.payload {
            req = req.body(render(payload, num, msg, self.body_escape));
        }
        Ok(req)
    }
}

#[async_trait]
impl SmsSender for GenericHttpSms {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        let c = &self.config;
        let reply = transport::execute(self.request(sms)?, c.timeout, &c.name).await?;
        let status = reply.status.as_u16();
        let ok = match c.expected_status {
            Some(expected) => status == expected,
            None => matches!(status, 200..=202),
        };
        if !ok {
            let reason = format!("{}: HTTP {status}", c.name);
            return Err(transport::status_class(
                reply.status,
                reply.retry_after,
                reason,
            ));
        }
        let json = serde_json::from_str::<serde_json::Value>(&reply.body).ok();
        let lookup = |pointer: &str| json.as_ref().and_then(|j| j.pointer(pointer)).map(text);
        if let Some(check) = &c.success_when {
            let found = lookup(&check.pointer);
            if found.as_deref() != Some(check.equals.as_str()) {
                let found = transport::scrub(found.as_deref().unwrap_or("nothing"), sms);
                return Err(transport::permanent(
                    PermanentKind::Other,
                    format!("{}: HTTP {status} but {} is {found}", c.name, check.pointer),
                ));
            }
        }
        let id = c
            .message_id_pointer
            .as_deref()
            .and_then(lookup)
            .unwrap_or_default();
        Ok(SentSms {
            provider: c.name.clone(),
            provider_message_id: id,
        })
    }
}

/// A JSON scalar as text: strings without quotes, numbers and booleans as written.
fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
