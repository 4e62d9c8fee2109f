//! Vonage SMS delivery receipts (fact sheet §4): query parameters on a GET, or a JSON body,
//! with `messageId` (the send answer's `message-id`), `status` and `err-code`.
//!
//! Vonage signs webhooks only when its support enables it for the account: then every
//! parameter but `sig` is sorted by name and joined as `&name=value` (with `&` and `=` in
//! values replaced by `_`), and `sig` is lowercase hex MD5(that + secret) for the default
//! `md5hash`, or hex HMAC(secret, that) for the HMAC methods. Without signed webhooks the
//! callback URL must carry a shared `token` query parameter instead.
//!
//! Signed parameters include a `timestamp`; it is not checked for freshness, since replaying
//! a receipt can only repeat an update the outbox already made (it moves rows only forward).

use std::collections::BTreeMap;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use twostep_core::ports::ReceiptStatus;

use super::request::{WebhookRequest, param};
use super::{Receipt, ReceiptError, check_token, failure, message_id, same_secret, unknown_status};

/// How Vonage signs (the account's "signature method").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureMethod {
    /// MD5 of the parameters followed by the secret (Vonage's default).
    #[default]
    Md5Hash,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl SignatureMethod {
    pub const ALL: [SignatureMethod; 5] = [
        SignatureMethod::Md5Hash,
        SignatureMethod::Md5,
        SignatureMethod::Sha1,
        SignatureMethod::Sha256,
        SignatureMethod::Sha512,
    ];

    /// The configuration spelling, as Vonage's dashboard names them.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::Md5Hash => "md5hash",
            SignatureMethod::Md5 => "md5",
            SignatureMethod::Sha1 => "sha1",
            SignatureMethod::Sha256 => "sha256",
            SignatureMethod::Sha512 => "sha512",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// The signature secret of signed webhooks and its method.
#[derive(Debug, Clone)]
pub struct VonageSignature {
    pub secret: SecretString,
    pub method: SignatureMethod,
}

/// The lowercase hex `sig` Vonage sends with these parameters (any `sig` among them is left
/// out).
pub fn signature(params: &[(String, String)], secret: &str, method: SignatureMethod) -> String {
    // A name given twice keeps its last value, as the SDKs' dictionaries do.
    let sorted: BTreeMap<&str, &str> = params
        .iter()
        .filter(|(k, _)| k != "sig")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut signed = String::new();
    for (k, v) in sorted {
        signed.push('&');
        signed.push_str(k);
        signed.push('=');
        signed.push_str(&v.replace(['&', '='], "_"));
    }
    let data = signed.as_bytes();
    let key = secret.as_bytes();
    match method {
        SignatureMethod::Md5Hash => {
            let mut md5 = Md5::new();
            md5.update(data);
            md5.update(key);
            hex::encode(md5.finalize())
        }
        SignatureMethod::Md5 => hmac_hex::<Hmac<Md5>>(key, data),
        SignatureMethod::Sha1 => hmac_hex::<Hmac<Sha1>>(key, data),
        SignatureMethod::Sha256 => hmac_hex::<Hmac<Sha256>>(key, data),
        SignatureMethod::Sha512 => hmac_hex::<Hmac<Sha512>>(key, data),
    }
}

fn hmac_hex<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail; an empty answer matches nothing.
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

pub(super) fn parse(
    request: &WebhookRequest,
    signed: Option<&VonageSignature>,
    token: Option<&SecretString>,
) -> Result<Vec<Receipt>, ReceiptError> {
    let params = match (signed, token) {
        (Some(signed), _) => {
            let params = request.all_params()?;
            let given = param(&params, "sig")
                .filter(|s| !s.is_empty())
                .ok_or(ReceiptError::BadSignature("missing sig parameter"))?
                .to_ascii_lowercase();
            let expected = signature(&params, signed.secret.expose_secret(), signed.method);
            if !same_secret(given.as_bytes(), expected.as_bytes()) {
                return Err(ReceiptError::BadSignature("sig mismatch"));
            }
            params
        }
        (None, Some(_)) => {
            check_token(request, token)?;
            request.all_params()?
        }
        (None, None) => {
            return Err(ReceiptError::NotConfigured(
                "set signature_secret (signed webhooks) or receipt_token for this provider",
            ));
        }
    };
    let id = message_id(param(&params, "messageId"))?;
    let Some(status) = param(&params, "status") else {
        return Err(ReceiptError::Malformed("no status"));
    };
    Ok(vec![Receipt {
        provider_message_id: id,
        status: status_of(status, param(&params, "err-code"))?,
    }])
}

/// Vonage's DLR statuses: `delivered` (fact sheet §4), and `expired, failed, rejected,
/// accepted, buffered, unknown` (listed there as unconfirmed). `unknown` means no news.
fn status_of(status: &str, err_code: Option<&str>) -> Result<ReceiptStatus, ReceiptError> {
    Ok(match status {
        "delivered" => ReceiptStatus::Delivered,
        "expired" | "failed" | "rejected" => failure("vonage", status, err_code),
        "accepted" | "buffered" | "unknown" => ReceiptStatus::Sent,
        other => return Err(unknown_status(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipts::tests::{get, json_post, pairs};

    /// The Vonage Python SDK's signature test: `a=1, b=2, timestamp=1461605396`, secret
    /// `secret`, `md5hash`.
    #[test]
    fn the_published_md5hash_vector_passes() {
        let params = pairs(&[
            ("a", "1"),
            ("b", "2"),
            ("timestamp", "1461605396"),
            ("sig", "ignored"),
        ]);
        assert_eq!(
            signature(&params, "secret", SignatureMethod::Md5Hash),
            "6af838ef94998832dbfc29020b564830"
        );
    }

    /// HMAC-SHA256 of `&a=1&b=x_y_z` under `secret`, computed independently (Python `hmac`):
    /// values have `&` and `=` replaced by `_`.
    #[test]
    fn hmac_methods_sign_the_escaped_parameters() {
        let params = pairs(&[("b", "x&y=z"), ("a", "1")]);
        assert_eq!(
            signature(&params, "secret", SignatureMethod::Sha256),
            "df118f87671493df4adacdac13cfe0589acd128b696c2eecf46e96e6494c11f5"
        );
    }

    const URL: &str = "https://auth.example.com/v1/receipts/vonage";

    fn dlr(status: &str) -> Vec<(String, String)> {
        pairs(&[
            ("msisdn", "447700900000"),
            ("to", "Acme"),
            ("network-code", "23410"),
            ("messageId", "0C000000217B7F02"),
            ("price", "0.03330000"),
            ("status", status),
            ("scts", "1705021324"),
            ("err-code", if status == "failed" { "6" } else { "0" }),
            ("message-timestamp", "2017-05-02 11:24:03"),
            ("timestamp", "1705021330"),
        ])
    }

    fn signed_get(params: &[(String, String)], method: SignatureMethod) -> WebhookRequest {
        let mut params = params.to_vec();
        let sig = signature(&params, "sig-secret", method);
        params.push(("sig".to_owned(), sig));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        get(&format!("{URL}?{query}"), &[])
    }

    fn signing(method: SignatureMethod) -> VonageSignature {
        VonageSignature {
            secret: SecretString::from("sig-secret"),
            method,
        }
    }

    #[test]
    fn a_signed_dlr_is_read_with_every_method() {
        for method in SignatureMethod::ALL {
            let request = signed_get(&dlr("delivered"), method);
            let got = parse(&request, Some(&signing(method)), None).unwrap();
            assert_eq!(
                got,
                [Receipt {
                    provider_message_id: "0C000000217B7F02".to_owned(),
                    status: ReceiptStatus::Delivered,
                }],
                "{method:?}"
            );
        }
        let request = signed_get(&dlr("failed"), SignatureMethod::Md5Hash);
        let got = parse(&request, Some(&signing(SignatureMethod::Md5Hash)), None).unwrap();
        assert_eq!(
            got[0].status,
            ReceiptStatus::Failed {
                reason: "vonage receipt: failed (error 6)".to_owned()
            }
        );
    }

    #[test]
    fn a_signed_json_dlr_is_read() {
        let mut params = dlr("delivered");
        let sig = signature(&params, "sig-secret", SignatureMethod::Sha512);
        params.push(("sig".to_owned(), sig.to_ascii_uppercase()));
        let body: serde_json::Map<String, serde_json::Value> = params
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        let request = json_post(URL, &serde_json::Value::Object(body), &[]);
        let got = parse(&request, Some(&signing(SignatureMethod::Sha512)), None).unwrap();
        assert_eq!(got[0].status, ReceiptStatus::Delivered);
    }

    #[test]
    fn a_tampered_or_unsigned_dlr_is_refused() {
        let request = signed_get(&dlr("failed"), SignatureMethod::Md5Hash);
        let tampered = get(&request.url.replace("failed", "delivered"), &[]);
        let signing = signing(SignatureMethod::Md5Hash);
        assert_eq!(
            parse(&tampered, Some(&signing), None),
            Err(ReceiptError::BadSignature("sig mismatch"))
        );
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(dlr("delivered"))
            .finish();
        let unsigned = get(&format!("{URL}?{query}"), &[]);
        assert_eq!(
            parse(&unsigned, Some(&signing), None),
            Err(ReceiptError::BadSignature("missing sig parameter"))
        );
    }

    #[test]
    fn without_signing_a_shared_token_is_required() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(dlr("delivered"))
            .finish();
        let token = SecretString::from("url-token");
        let with = get(&format!("{URL}?token=url-token&{query}"), &[]);
        assert_eq!(
            parse(&with, None, Some(&token)).unwrap()[0].status,
            ReceiptStatus::Delivered
        );
        let wrong = get(&format!("{URL}?token=guess&{query}"), &[]);
        assert_eq!(
            parse(&wrong, None, Some(&token)),
            Err(ReceiptError::BadSignature("token mismatch"))
        );
        let missing = get(&format!("{URL}?{query}"), &[]);
        assert_eq!(
            parse(&missing, None, Some(&token)),
            Err(ReceiptError::BadSignature("missing token query parameter"))
        );
        assert!(matches!(
            parse(&with, None, None),
            Err(ReceiptError::NotConfigured(_))
        ));
    }

    #[test]
    fn progress_and_unknown_statuses() {
        let token = SecretString::from("t");
        let url = |status: &str| {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(dlr(status))
                .finish();
            get(&format!("{URL}?token=t&{query}"), &[])
        };
        assert_eq!(
            parse(&url("buffered"), None, Some(&token)).unwrap()[0].status,
            ReceiptStatus::Sent
        );
        assert_eq!(
            parse(&url("lost in space"), None, Some(&token)),
            Err(ReceiptError::UnknownStatus("lostinspace".to_owned()))
        );
    }
}
