//! Twilio status callbacks (fact sheet §1): a form POST to `StatusCallback` with
//! `MessageSid`, `MessageStatus` and, on failure, `ErrorCode`, signed in
//! `X-Twilio-Signature` = Base64(HMAC-SHA1(Auth Token, URL + each sorted param's name and
//! value)). Like twilio-python's validator, the URL is tried with and without its port,
//! since proxies differ on whether Twilio's URL named one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use twostep_core::ports::ReceiptStatus;

use super::request::{Method, WebhookRequest, param};
use super::{Receipt, ReceiptError, failure, message_id, same_secret, unknown_status};

const HEADER: &str = "x-twilio-signature";

/// The signature Twilio sends for a request to `url` with these POST `params` (none for a
/// GET, whose parameters are in the URL).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // HMAC takes keys of any length, so this cannot fail; an empty answer matches nothing.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

pub(super) fn parse(
    request: &WebhookRequest,
    auth_token: &SecretString,
) -> Result<Vec<Receipt>, ReceiptError> {
    let Some(given) = request
        .header(HEADER)
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Err(ReceiptError::BadSignature("missing X-Twilio-Signature"));
    };
    let (signed, params) = match request.method {
        Method::Post => {
            let form = request.form_params()?;
            (form.clone(), form)
        }
        Method::Get => (Vec::new(), request.query_params()),
    };
    let token = auth_token.expose_secret();
    let valid = url_variants(&request.url)
        .iter()
        .any(|url| same_secret(given.as_bytes(), signature(token, url, &signed).as_bytes()));
    if !valid {
        return Err(ReceiptError::BadSignature("X-Twilio-Signature mismatch"));
    }
    let id = message_id(param(&params, "MessageSid").or(param(&params, "SmsSid")))?;
    let Some(status) = param(&params, "MessageStatus").or(param(&params, "SmsStatus")) else {
        return Err(ReceiptError::Malformed("no MessageStatus"));
    };
    Ok(vec![Receipt {
        provider_message_id: id,
        status: status_of(status, param(&params, "ErrorCode"))?,
    }])
}

/// Twilio's statuses (fact sheet §1). `read` implies delivery; `receiving` and `received`
/// belong to inbound messages, so they are not a receipt for ours.
fn status_of(status: &str, error_code: Option<&str>) -> Result<ReceiptStatus, ReceiptError> {
    Ok(match status {
        "delivered" | "read" => ReceiptStatus::Delivered,
        "undelivered" | "failed" | "canceled" => failure("twilio", status, error_code),
        "queued" | "sending" | "sent" | "accepted" | "scheduled" | "partially_delivered" => {
            ReceiptStatus::Sent
        }
        other => return Err(unknown_status(other)),
    })
}

/// The URL as given, and with its port removed or the scheme's default port added (as
/// twilio-python's `remove_port` and `add_port`).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    // An IPv6 literal's colons are inside brackets; a port follows the last `]`.
    let port_colon = match host_port.rfind(']') {
        Some(end) => host_port[end..].find(':').map(|i| end + i),
        None => host_port.rfind(':'),
    };
    let userinfo = &authority[..host_start];
    let other = match port_colon {
        Some(colon) => format!("{scheme}://{userinfo}{}{tail}", &host_port[..colon]),
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            format!("{scheme}://{userinfo}{host_port}:{port}{tail}")
        }
    };
    variants.push(other);
    variants
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipts::tests::{form_post, pairs};

    /// Twilio's published example (fact sheet §1).
    const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const VECTOR_TOKEN: &str = "12345";
    const VECTOR_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn vector_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn the_published_test_vector_passes() {
        assert_eq!(
            signature(VECTOR_TOKEN, VECTOR_URL, &vector_params()),
            VECTOR_SIGNATURE
        );
        // Order of the params as sent does not matter.
        let mut reversed = vector_params();
        reversed.reverse();
        assert_eq!(
            signature(VECTOR_TOKEN, VECTOR_URL, &reversed),
            VECTOR_SIGNATURE
        );
    }

    const URL: &str = "https://auth.example.com/v1/receipts/twilio";
    const TOKEN: &str = "twilio-auth-token";

    fn receipt_params(status: &str) -> Vec<(String, String)> {
        pairs(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("MessageStatus", status),
            ("To", "+14155550100"),
            ("From", "+14155550199"),
            ("AccountSid", "AC0123"),
            (
                "ErrorCode",
                if status == "undelivered" { "30003" } else { "" },
            ),
        ])
    }

    fn signed(url: &str, params: &[(String, String)]) -> WebhookRequest {
        form_post(url, params, &[(HEADER, &signature(TOKEN, url, params))])
    }

    fn token() -> SecretString {
        SecretString::from(TOKEN)
    }

    #[test]
    fn a_signed_receipt_is_read() {
        let got = parse(&signed(URL, &receipt_params("delivered")), &token()).unwrap();
        assert_eq!(
            got,
            [Receipt {
                provider_message_id: "SM0123456789abcdef0123456789abcdef".to_owned(),
                status: ReceiptStatus::Delivered,
            }]
        );
        let got = parse(&signed(URL, &receipt_params("undelivered")), &token()).unwrap();
        assert_eq!(
            got[0].status,
            ReceiptStatus::Failed {
                reason: "twilio receipt: undelivered (error 30003)".to_owned()
            }
        );
        let got = parse(&signed(URL, &receipt_params("sent")), &token()).unwrap();
        assert_eq!(got[0].status, ReceiptStatus::Sent);
    }

    #[test]
    fn a_tampered_receipt_is_refused() {
        let mut request = signed(URL, &receipt_params("undelivered"));
        request.body = form_post(URL, &receipt_params("delivered"), &[]).body;
        assert_eq!(
            parse(&request, &token()),
            Err(ReceiptError::BadSignature("X-Twilio-Signature mismatch"))
        );
        // Signed for another URL (another provider's endpoint).
        let mut request = signed(URL, &receipt_params("delivered"));
        request.url = "https://auth.example.com/v1/receipts/twilio-backup".to_owned();
        assert!(matches!(
            parse(&request, &token()),
            Err(ReceiptError::BadSignature(_))
        ));
        // Signed with another token.
        let request = signed(URL, &receipt_params("delivered"));
        assert!(matches!(
            parse(&request, &SecretString::from("another token")),
            Err(ReceiptError::BadSignature(_))
        ));
    }

    #[test]
    fn a_missing_signature_is_refused() {
        let request = form_post(URL, &receipt_params("delivered"), &[]);
        assert_eq!(
            parse(&request, &token()),
            Err(ReceiptError::BadSignature("missing X-Twilio-Signature"))
        );
    }

    #[test]
    fn the_url_may_differ_by_its_port() {
        let with_port = "https://auth.example.com:443/v1/receipts/twilio";
        let mut request = signed(with_port, &receipt_params("delivered"));
        request.url = URL.to_owned();
        assert!(parse(&request, &token()).is_ok());
        let mut request = signed(URL, &receipt_params("delivered"));
        request.url = with_port.to_owned();
        assert!(parse(&request, &token()).is_ok());
        assert_eq!(
            url_variants("http://[::1]:8080/x?a=1"),
            ["http://[::1]:8080/x?a=1", "http://[::1]/x?a=1"]
        );
        assert_eq!(
            url_variants("http://host/x"),
            ["http://host/x", "http://host:80/x"]
        );
    }

    #[test]
    fn unknown_statuses_and_missing_fields_are_told_apart() {
        let got = parse(&signed(URL, &receipt_params("received")), &token());
        assert_eq!(got, Err(ReceiptError::UnknownStatus("received".to_owned())));
        let no_sid = pairs(&[("MessageStatus", "delivered")]);
        assert_eq!(
            parse(&signed(URL, &no_sid), &token()),
            Err(ReceiptError::Malformed("no message id"))
        );
        let mut json = signed(URL, &receipt_params("delivered"));
        json.headers.retain(|(n, _)| n != "content-type");
        json.headers
            .push(("content-type".to_owned(), "application/json".to_owned()));
        assert!(matches!(
            parse(&json, &token()),
            Err(ReceiptError::Malformed(_))
        ));
    }
}
