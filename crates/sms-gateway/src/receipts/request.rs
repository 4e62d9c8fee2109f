//! A callback as the HTTP listener hands it over, and reading its parameters.

use std::fmt;

use super::ReceiptError;

/// The HTTP method of a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One callback as received.
#[derive(Clone)]
pub struct WebhookRequest {
    pub method: Method,
    /// The URL the provider called, which is what signatures cover: the configured public
    /// base URL followed by the path and query exactly as received.
    pub url: String,
    /// Every header, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The body holds phone numbers: `Debug` shows its size only.
impl fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.len())
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

impl WebhookRequest {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw query string (after `?`, without a fragment); empty when there is none.
    pub fn raw_query(&self) -> &str {
        let without_fragment = self.url.split('#').next().unwrap_or_default();
        without_fragment
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
    }

    /// The decoded query parameters, in order.
    pub fn query_params(&self) -> Vec<(String, String)> {
        decode_form(self.raw_query().as_bytes())
    }

    fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// The body's form parameters; `Malformed` unless it is `x-www-form-urlencoded`.
    pub fn form_params(&self) -> Result<Vec<(String, String)>, ReceiptError> {
        if self.content_type() != "application/x-www-form-urlencoded" {
            return Err(ReceiptError::Malformed(
                "expected an application/x-www-form-urlencoded body",
            ));
        }
        Ok(decode_form(&self.body))
    }

    /// Whether the body is declared JSON.
    pub fn is_json(&self) -> bool {
        let ct = self.content_type();
        ct == "application/json" || ct.ends_with("+json")
    }

    /// The query parameters, then those of the body: a form, or a flat JSON object (strings,
    /// numbers and booleans as text). Providers that send either use this.
    pub fn all_params(&self) -> Result<Vec<(String, String)>, ReceiptError> {
        let mut params = self.query_params();
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        if self.is_json() {
            params.extend(json_object_params(&self.body)?);
        } else {
            params.extend(self.form_params()?);
        }
        Ok(params)
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub(crate) fn decode_form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name`.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The scalar members of a JSON object, as text.
pub(crate) fn json_object_params(body: &[u8]) -> Result<Vec<(String, String)>, ReceiptError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ReceiptError::Malformed("the body is not JSON"))?;
    let serde_json::Value::Object(object) = value else {
        return Err(ReceiptError::Malformed("expected a JSON object"));
    };
    Ok(object
        .into_iter()
        .filter_map(|(k, v)| scalar(&v).map(|v| (k, v)))
        .collect())
}

/// A JSON string, number or boolean as text; `None` for null, arrays and objects.
pub(crate) fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
