//! Plivo message status callbacks (fact sheet §5): a form POST (or a GET with the same
//! parameters in the query) to the message's `url` with `MessageUUID`, `Status` and, on
//! failure, `ErrorCode`, signed with Plivo's V3 scheme: `X-Plivo-Signature-V3` (one or
//! several signatures, comma-separated; any may match) and `X-Plivo-Signature-V3-Nonce`.
//!
//! The signed string follows plivo-python's `signature_v3.py`: `scheme://host/path`, then
//! - GET: `?` and the URL's query parameters sorted, as `k=v` joined by `&`, if any;
//! - POST: `?` and those sorted query parameters if there are query or body parameters,
//!   a `.` if there are both, then the body parameters sorted, as `kv` with no separator;
//!
//! then `.` and the nonce; the signature is Base64(HMAC-SHA256(Auth Token, that string)).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use twostep_core::ports::ReceiptStatus;

use super::request::{Method, WebhookRequest, decode_form, param};
use super::{Receipt, ReceiptError, failure, message_id, same_secret, unknown_status};

const SIGNATURE: &str = "x-plivo-signature-v3";
const NONCE: &str = "x-plivo-signature-v3-nonce";

/// The V3 signature of a request to `url` (query included) with these POST `params` (none
/// for a GET) and `nonce`.
pub fn signature(
    auth_token: &str,
    method: Method,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
) -> String {
    // HMAC takes keys of any length, so this cannot fail; an empty answer matches nothing.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(signed_string(method, url, params).as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The string before `.nonce`; see the module docs.
fn signed_string(method: Method, url: &str, params: &[(String, String)]) -> String {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let (base, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let query = sorted(&decode_form(query.as_bytes()))
        .into_iter()
        .flat_map(|(k, values)| values.into_iter().map(move |v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&");
    let mut out = base.to_owned();
    let body = match method {
        Method::Get => Vec::new(),
        Method::Post => params.to_vec(),
    };
    if !query.is_empty() || !body.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !query.is_empty() && !body.is_empty() {
        out.push('.');
    }
    for (k, values) in sorted(&body) {
        for v in values {
            out.push_str(&k);
            out.push_str(&v);
        }
    }
    out
}

/// Parameters grouped by name, names and each name's values sorted.
fn sorted(params: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in params {
        map.entry(k.clone()).or_default().push(v.clone());
    }
    for values in map.values_mut() {
        values.sort();
    }
    map
}

pub(super) fn parse(
    request: &WebhookRequest,
    auth_token: &SecretString,
) -> Result<Vec<Receipt>, ReceiptError> {
    let given = request
        .header(SIGNATURE)
        .filter(|s| !s.trim().is_empty())
        .ok_or(ReceiptError::BadSignature("missing X-Plivo-Signature-V3"))?;
    let nonce =
        request
            .header(NONCE)
            .filter(|s| !s.is_empty())
            .ok_or(ReceiptError::BadSignature(
                "missing X-Plivo-Signature-V3-Nonce",
            ))?;
    let (body, params) = match request.method {
        Method::Post => {
            let form = request.form_params()?;
            (form.clone(), form)
        }
        Method::Get => (Vec::new(), request.query_params()),
    };
    let expected = signature(
        auth_token.expose_secret(),
        request.method,
        &request.url,
        &body,
        nonce,
    );
    if !given
        .split(',')
        .any(|one| same_secret(one.trim().as_bytes(), expected.as_bytes()))
    {
        return Err(ReceiptError::BadSignature("X-Plivo-Signature-V3 mismatch"));
    }
    let id = message_id(param(&params, "MessageUUID"))?;
    let Some(status) = param(&params, "Status") else {
        return Err(ReceiptError::Malformed("no Status"));
    };
    Ok(vec![Receipt {
        provider_message_id: id,
        status: status_of(status, param(&params, "ErrorCode"))?,
    }])
}

/// Plivo's statuses (fact sheet §5: queued, sent, failed, delivered, undelivered; Plivo also
/// documents `rejected`, which is as final as `failed`).
fn status_of(status: &str, error_code: Option<&str>) -> Result<ReceiptStatus, ReceiptError> {
    Ok(match status {
        "delivered" => ReceiptStatus::Delivered,
        "failed" | "undelivered" | "rejected" => failure("plivo", status, error_code),
        "queued" | "sent" => ReceiptStatus::Sent,
        other => return Err(unknown_status(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipts::tests::{form_post, get, pairs};

    const TOKEN: &str = "plivo-auth-token";
    const URL: &str = "https://auth.example.com/v1/receipts/plivo";
    const NONCE_VALUE: &str = "05429567804466091622";

    fn token() -> SecretString {
        SecretString::from(TOKEN)
    }

    fn receipt_params(status: &str) -> Vec<(String, String)> {
        pairs(&[
            ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
            ("Status", status),
            ("To", "14155550100"),
            ("From", "14155550199"),
            ("Units", "1"),
            ("ErrorCode", if status == "failed" { "300" } else { "" }),
        ])
    }

    fn signed(url: &str, params: &[(String, String)]) -> WebhookRequest {
        let sig = signature(TOKEN, Method::Post, url, params, NONCE_VALUE);
        form_post(url, params, &[(SIGNATURE, &sig), (NONCE, NONCE_VALUE)])
    }

    #[test]
    fn the_signed_string_follows_plivo_python() {
        let body = pairs(&[("To", "1"), ("From", "2"), ("B", "y"), ("B", "x")]);
        // POST without a query: `?`, then the body's sorted `kv` pairs, values sorted too.
        assert_eq!(
            signed_string(Method::Post, "https://h.example/cb", &body),
            "https://h.example/cb?BxByFrom2To1"
        );
        // POST with a query: the sorted query, `.`, the body.
        assert_eq!(
            signed_string(Method::Post, "https://h.example/cb?z=1&a=2", &body),
            "https://h.example/cb?a=2&z=1.BxByFrom2To1"
        );
        // POST with neither: the bare URL.
        assert_eq!(
            signed_string(Method::Post, "https://h.example/cb", &[]),
            "https://h.example/cb"
        );
        // GET: the sorted query as `k=v&…`, decoded.
        assert_eq!(
            signed_string(Method::Get, "https://h.example/cb?b=2&a=%2B1&a=0", &[]),
            "https://h.example/cb?a=+1&a=0&b=2"
        );
    }

    /// A known answer computed independently (Python's `hmac` with plivo-python's string
    /// rules): guards the HMAC and Base64 steps, not just agreement with ourselves.
    #[test]
    fn a_known_signature() {
        let params = pairs(&[("MessageUUID", "abc"), ("Status", "delivered")]);
        assert_eq!(
            signature(
                "token",
                Method::Post,
                "https://h.example/cb",
                &params,
                "12345"
            ),
            "xBnTrapl2ZEfqItuBr6JlbyleWpeRz05Miygxn698EI="
        );
    }

    #[test]
    fn a_signed_receipt_is_read() {
        let got = parse(&signed(URL, &receipt_params("delivered")), &token()).unwrap();
        assert_eq!(
            got,
            [Receipt {
                provider_message_id: "db3ce55a-7f1d-11e1-8ea7-1231380bc196".to_owned(),
                status: ReceiptStatus::Delivered,
            }]
        );
        let got = parse(&signed(URL, &receipt_params("failed")), &token()).unwrap();
        assert_eq!(
            got[0].status,
            ReceiptStatus::Failed {
                reason: "plivo receipt: failed (error 300)".to_owned()
            }
        );
        let got = parse(&signed(URL, &receipt_params("queued")), &token()).unwrap();
        assert_eq!(got[0].status, ReceiptStatus::Sent);
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let mut request = signed(URL, &receipt_params("delivered"));
        for (name, value) in &mut request.headers {
            if name == SIGNATURE {
                *value = format!("c2lnbmVkIGJ5IGFuIG9sZCB0b2tlbg==, {value}");
            }
        }
        assert!(parse(&request, &token()).is_ok());
    }

    #[test]
    fn a_get_callback_is_signed_over_its_query() {
        let url = format!("{URL}?MessageUUID=m-1&Status=delivered&To=14155550100");
        let sig = signature(TOKEN, Method::Get, &url, &[], NONCE_VALUE);
        let request = get(&url, &[(SIGNATURE, &sig), (NONCE, NONCE_VALUE)]);
        assert_eq!(
            parse(&request, &token()).unwrap()[0].provider_message_id,
            "m-1"
        );
        let tampered = get(
            &url.replace("delivered", "failed"),
            &[(SIGNATURE, &sig), (NONCE, NONCE_VALUE)],
        );
        assert!(matches!(
            parse(&tampered, &token()),
            Err(ReceiptError::BadSignature(_))
        ));
    }

    #[test]
    fn a_tampered_receipt_is_refused() {
        let mut request = signed(URL, &receipt_params("failed"));
        request.body = form_post(URL, &receipt_params("delivered"), &[]).body;
        assert_eq!(
            parse(&request, &token()),
            Err(ReceiptError::BadSignature("X-Plivo-Signature-V3 mismatch"))
        );
        // Another nonce: the signature no longer matches.
        let mut request = signed(URL, &receipt_params("delivered"));
        for (name, value) in &mut request.headers {
            if name == NONCE {
                *value = "1".to_owned();
            }
        }
        assert!(matches!(
            parse(&request, &token()),
            Err(ReceiptError::BadSignature(_))
        ));
    }

    #[test]
    fn missing_headers_are_refused() {
        let sig = signature(TOKEN, Method::Post, URL, &receipt_params("delivered"), "1");
        let no_nonce = form_post(URL, &receipt_params("delivered"), &[(SIGNATURE, &sig)]);
        assert_eq!(
            parse(&no_nonce, &token()),
            Err(ReceiptError::BadSignature(
                "missing X-Plivo-Signature-V3-Nonce"
            ))
        );
        let none = form_post(URL, &receipt_params("delivered"), &[]);
        assert_eq!(
            parse(&none, &token()),
            Err(ReceiptError::BadSignature("missing X-Plivo-Signature-V3"))
        );
    }

    #[test]
    fn an_unknown_status_is_reported() {
        assert_eq!(
            parse(&signed(URL, &receipt_params("teleported")), &token()),
            Err(ReceiptError::UnknownStatus("teleported".to_owned()))
        );
    }
}
