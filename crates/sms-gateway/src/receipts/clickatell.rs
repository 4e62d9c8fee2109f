//! Clickatell One API status callbacks (fact sheet §3a): `messageId` (the send answer's
//! `apiMessageId`), `statusCode`, `status`, `statusDescription`, `timestamp`, … Their
//! encoding is unconfirmed there, so a JSON object body, a form body and query parameters
//! are all read. Clickatell does not sign callbacks, so the callback URL carries a shared
//! `token` query parameter.
//!
//! Status codes and names are Clickatell's One API message status table
//! (docs.clickatell.com, "Message Status Table"): 2 QUEUED, 3 SCHEDULED, 4 SENT_TO_SUPPLIER
//! are progress; 5 DEVICE_ACK and 6 READ mean delivered; 20 and above are errors (20
//! EXPIRED, 23 DELIVERY_FAILURE, 29 RECIPIENT_DOES_NOT_EXIST, 100 ROUTING_ERROR, …) except
//! 24 EMULATED (a test-mode send that went nowhere: no news). 1 UNKNOWN is "message not
//! found" on Clickatell's side.

use secrecy::SecretString;
use twostep_core::ports::ReceiptStatus;

use super::request::{WebhookRequest, param};
use super::{Receipt, ReceiptError, check_token, failure, message_id, unknown_status};

pub(super) fn parse(
    request: &WebhookRequest,
    token: Option<&SecretString>,
) -> Result<Vec<Receipt>, ReceiptError> {
    check_token(request, token)?;
    let params = request.all_params()?;
    let id = message_id(param(&params, "messageId").or(param(&params, "apiMessageId")))?;
    let name = param(&params, "status").filter(|s| !s.is_empty());
    let code = param(&params, "statusCode").filter(|s| !s.is_empty());
    let status = match (name, code) {
        (Some(name), code) => status_of_name(name, code)?,
        (None, Some(code)) => status_of_code(code)?,
        (None, None) => return Err(ReceiptError::Malformed("no status or statusCode")),
    };
    Ok(vec![Receipt {
        provider_message_id: id,
        status,
    }])
}

fn status_of_name(name: &str, code: Option<&str>) -> Result<ReceiptStatus, ReceiptError> {
    Ok(match name {
        "DEVICE_ACK" | "READ" => ReceiptStatus::Delivered,
        "QUEUED" | "SCHEDULED" | "SENT_TO_SUPPLIER" | "EMULATED" => ReceiptStatus::Sent,
        "UNKNOWN" => return Err(unknown_status(name)),
        // Every other name in the table is an error (20 and above).
        other
            if code
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|c| c >= 20) =>
        {
            failure("clickatell", other, code)
        }
        other => return Err(unknown_status(other)),
    })
}

fn status_of_code(code: &str) -> Result<ReceiptStatus, ReceiptError> {
    Ok(match code.parse::<u32>() {
        Ok(5 | 6) => ReceiptStatus::Delivered,
        Ok(2..=4 | 24) => ReceiptStatus::Sent,
        Ok(n) if n >= 20 => failure("clickatell", "status", Some(code)),
        _ => return Err(unknown_status(code)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::receipts::tests::{form_post, json_post, pairs};

    const URL: &str = "https://auth.example.com/v1/receipts/clickatell?token=shared-secret";

    fn token() -> SecretString {
        SecretString::from("shared-secret")
    }

    fn callback(code: u32, status: &str) -> serde_json::Value {
        json!({
            "integrationName": "twostep",
            "messageId": "77fb29998253415fa5d69a74b2f7e3ba",
            "requestId": "b1d1fbc0-0000-4000-8000-000000000000",
            "clientMessageId": "",
            "to": "2799900001",
            "from": "",
            "statusCode": code,
            "status": status,
            "statusDescription": "…",
            "timestamp": 1_506_607_698_000_u64,
        })
    }

    #[test]
    fn a_json_callback_with_the_token_is_read() {
        let got = parse(
            &json_post(URL, &callback(5, "DEVICE_ACK"), &[]),
            Some(&token()),
        );
        assert_eq!(
            got.unwrap(),
            [Receipt {
                provider_message_id: "77fb29998253415fa5d69a74b2f7e3ba".to_owned(),
                status: ReceiptStatus::Delivered,
            }]
        );
        let got = parse(
            &json_post(URL, &callback(23, "DELIVERY_FAILURE"), &[]),
            Some(&token()),
        );
        assert_eq!(
            got.unwrap()[0].status,
            ReceiptStatus::Failed {
                reason: "clickatell receipt: DELIVERY_FAILURE (error 23)".to_owned()
            }
        );
        let got = parse(
            &json_post(URL, &callback(4, "SENT_TO_SUPPLIER"), &[]),
            Some(&token()),
        );
        assert_eq!(got.unwrap()[0].status, ReceiptStatus::Sent);
    }

    #[test]
    fn a_form_callback_with_only_a_code_is_read() {
        let params = pairs(&[("messageId", "m-1"), ("statusCode", "20")]);
        let got = parse(&form_post(URL, &params, &[]), Some(&token())).unwrap();
        assert!(matches!(got[0].status, ReceiptStatus::Failed { .. }));
    }

    #[test]
    fn the_token_is_required() {
        let body = callback(5, "DEVICE_ACK");
        let wrong = json_post(
            "https://auth.example.com/v1/receipts/clickatell?token=guess",
            &body,
            &[],
        );
        assert_eq!(
            parse(&wrong, Some(&token())),
            Err(ReceiptError::BadSignature("token mismatch"))
        );
        let missing = json_post(
            "https://auth.example.com/v1/receipts/clickatell",
            &body,
            &[],
        );
        assert_eq!(
            parse(&missing, Some(&token())),
            Err(ReceiptError::BadSignature("missing token query parameter"))
        );
        assert!(matches!(
            parse(&json_post(URL, &body, &[]), None),
            Err(ReceiptError::NotConfigured(_))
        ));
    }

    #[test]
    fn unknown_and_malformed_callbacks() {
        let got = parse(
            &json_post(URL, &callback(1, "UNKNOWN"), &[]),
            Some(&token()),
        );
        assert_eq!(got, Err(ReceiptError::UnknownStatus("UNKNOWN".to_owned())));
        let got = parse(
            &json_post(URL, &json!(["not", "an object"]), &[]),
            Some(&token()),
        );
        assert_eq!(got, Err(ReceiptError::Malformed("expected a JSON object")));
        let got = parse(
            &json_post(URL, &json!({"status": "READ"}), &[]),
            Some(&token()),
        );
        assert_eq!(got, Err(ReceiptError::Malformed("no message id")));
    }
}
