//! BulkSMS JSON v1 webhooks (fact sheet §6a): a POST of a JSON **array** of Message objects,
//! each with `id` and `status: {type, subtype}`. BulkSMS does not sign webhooks ("put a
//! secret in the URL"), so the URL carries a shared `token` query parameter. BulkSMS retries
//! anything but a 2xx or 4xx for two days.
//!
//! `status.type`: DELIVERED; FAILED (with `subtype` EXPIRED, HANDSET_ERROR, BLOCKED or
//! NOT_SENT); ACCEPTED, SCHEDULED and SENT are progress, UNKNOWN is no news.

use secrecy::SecretString;
use serde::Deserialize;
use twostep_core::ports::ReceiptStatus;

use super::request::WebhookRequest;
use super::{Receipt, ReceiptError, check_token, failure, message_id, unknown_status};

#[derive(Deserialize)]
#[serde(untagged)]
enum Body {
    Many(Vec<Message>),
    One(Message),
}

#[derive(Deserialize)]
struct Message {
    id: Option<serde_json::Value>,
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(rename = "type")]
    kind: Option<String>,
    subtype: Option<String>,
}

pub(super) fn parse(
    request: &WebhookRequest,
    token: Option<&SecretString>,
) -> Result<Vec<Receipt>, ReceiptError> {
    check_token(request, token)?;
    let body: Body = serde_json::from_slice(&request.body)
        .map_err(|_| ReceiptError::Malformed("expected a JSON array of messages"))?;
    let messages = match body {
        Body::Many(messages) => messages,
        Body::One(message) => vec![message],
    };
    messages
        .into_iter()
        .map(|m| {
            let id = m.id.as_ref().and_then(super::request::scalar);
            let status = m
                .status
                .ok_or(ReceiptError::Malformed("a message without status"))?;
            let kind = status
                .kind
                .ok_or(ReceiptError::Malformed("a status without type"))?;
            Ok(Receipt {
                provider_message_id: message_id(id.as_deref())?,
                status: status_of(&kind, status.subtype.as_deref())?,
            })
        })
        .collect()
}

fn status_of(kind: &str, subtype: Option<&str>) -> Result<ReceiptStatus, ReceiptError> {
    Ok(match kind {
        "DELIVERED" => ReceiptStatus::Delivered,
        "FAILED" => match subtype {
            Some(subtype) => failure("bulksms", &format!("FAILED.{subtype}"), None),
            None => failure("bulksms", "FAILED", None),
        },
        "ACCEPTED" | "SCHEDULED" | "SENT" | "UNKNOWN" => ReceiptStatus::Sent,
        other => return Err(unknown_status(other)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::receipts::tests::json_post;

    const URL: &str = "https://auth.example.com/v1/receipts/bulksms?token=shared-secret";

    fn token() -> SecretString {
        SecretString::from("shared-secret")
    }

    fn message(id: &str, kind: &str, subtype: Option<&str>) -> serde_json::Value {
        json!({
            "id": id,
            "type": "SENT",
            "from": "",
            "to": "+27001234567",
            "body": null,
            "encoding": "TEXT",
            "submission": {"id": "2-00000000000000000000", "date": "2024-01-01T10:00:00Z"},
            "status": {"id": format!("{kind}.{}", subtype.unwrap_or("null")), "type": kind, "subtype": subtype},
        })
    }

    #[test]
    fn an_array_of_messages_is_read() {
        let body = json!([
            message("1001", "DELIVERED", None),
            message("1002", "FAILED", Some("HANDSET_ERROR")),
            message("1003", "SENT", None),
        ]);
        let got = parse(&json_post(URL, &body, &[]), Some(&token())).unwrap();
        assert_eq!(
            got,
            [
                Receipt {
                    provider_message_id: "1001".to_owned(),
                    status: ReceiptStatus::Delivered,
                },
                Receipt {
                    provider_message_id: "1002".to_owned(),
                    status: ReceiptStatus::Failed {
                        reason: "bulksms receipt: FAILED.HANDSET_ERROR".to_owned()
                    },
                },
                Receipt {
                    provider_message_id: "1003".to_owned(),
                    status: ReceiptStatus::Sent,
                },
            ]
        );
        // BulkSMS tests a webhook with an empty array.
        assert_eq!(
            parse(&json_post(URL, &json!([]), &[]), Some(&token())).unwrap(),
            []
        );
    }

    #[test]
    fn the_token_is_required() {
        let body = json!([message("1001", "DELIVERED", None)]);
        let wrong = json_post(
            "https://auth.example.com/v1/receipts/bulksms?token=x",
            &body,
            &[],
        );
        assert_eq!(
            parse(&wrong, Some(&token())),
            Err(ReceiptError::BadSignature("token mismatch"))
        );
        let missing = json_post("https://auth.example.com/v1/receipts/bulksms", &body, &[]);
        assert!(matches!(
            parse(&missing, Some(&token())),
            Err(ReceiptError::BadSignature(_))
        ));
        assert!(matches!(
            parse(&json_post(URL, &body, &[]), None),
            Err(ReceiptError::NotConfigured(_))
        ));
    }

    #[test]
    fn malformed_and_unknown() {
        let got = parse(&json_post(URL, &json!({"nope": 1}), &[]), Some(&token()));
        assert_eq!(
            got,
            Err(ReceiptError::Malformed("a message without status"))
        );
        let got = parse(
            &json_post(URL, &json!([message("1", "TELEPORTED", None)]), &[]),
            Some(&token()),
        );
        assert_eq!(
            got,
            Err(ReceiptError::UnknownStatus("TELEPORTED".to_owned()))
        );
    }
}
