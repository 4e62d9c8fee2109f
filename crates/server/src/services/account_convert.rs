//! Request parsing and answers specific to AccountService: credentials, re-authentication,
//! session listings. Field names in errors are the proto's.

use tonic::Status;
use twostep_core::flows::account::{Credential, PhoneStart};
use twostep_core::flows::codes::ChallengeView;
use twostep_core::flows::reauth::Reauth;
use twostep_core::ids::ChallengeId;
use twostep_core::otp::OtpCode;
use twostep_core::password::Password;
use twostep_core::session::Session;
use twostep_proto::v1 as pb;

use crate::convert;
use crate::error::{invalid_argument, invalid_argument_with_code};

/// Longest token or ticket we bother to hash; real ones are far shorter.
const MAX_TOKEN_BYTES: usize = 512;
/// Backup codes are 10 characters plus optional separators.
const MAX_BACKUP_CODE_BYTES: usize = 64;

/// A required field left empty, with the REQUIRED reason.
pub fn required(field: &str) -> Status {
    invalid_argument_with_code(field, "is required", Some("REQUIRED"))
}

/// The access token every AccountService request carries.
pub fn access_token(value: &str) -> Result<&str, Status> {
    let value = value.trim();
    if value.is_empty() {
        return Err(required("access_token"));
    }
    convert::bounded("access_token", value, MAX_TOKEN_BYTES)?;
    Ok(value)
}

/// Exactly one of `access_token` and `ticket`.
pub fn credential<'a>(access_token: &'a str, ticket: &'a str) -> Result<Credential<'a>, Status> {
    match (access_token.trim(), ticket.trim()) {
        ("", "") => Err(invalid_argument_with_code(
            "access_token",
            "either access_token or ticket is required",
            Some("REQUIRED"),
        )),
        (token, "") => Ok(Credential::AccessToken(self::access_token(token)?)),
        ("", ticket) => {
            convert::bounded("ticket", ticket, MAX_TOKEN_BYTES)?;
            Ok(Credential::Ticket(ticket))
        }
        _ => Err(invalid_argument(
            "ticket",
            "must not be set together with access_token",
        )),
    }
}

/// The `reauth` field; an unset oneof (or `send_step_up_code: false`) is `Missing`, which the
/// flow answers PERMISSION_DENIED where a proof is needed.
pub fn reauth(r: Option<&pb::Reauthentication>) -> Result<Reauth, Status> {
    use pb::reauthentication::Method;
    match r.and_then(|r| r.method.as_ref()) {
        None | Some(Method::SendStepUpCode(false)) => Ok(Reauth::Missing),
        Some(Method::SendStepUpCode(true)) => Ok(Reauth::SendStepUpCode),
        Some(Method::CurrentPassword(p)) => {
            if p.is_empty() {
                return Err(required("reauth.current_password"));
            }
            Password::for_login(p).map(Reauth::Password).map_err(|_| {
                invalid_argument_with_code(
                    "reauth.current_password",
                    "must be at most 1024 bytes",
                    Some("TOO_LONG"),
                )
            })
        }
        Some(Method::BackupCode(c)) => {
            if c.trim().is_empty() {
                return Err(required("reauth.backup_code"));
            }
            convert::bounded("reauth.backup_code", c, MAX_BACKUP_CODE_BYTES)?;
            Ok(Reauth::BackupCode(c.clone()))
        }
        Some(Method::StepUpCode(s)) => {
            let challenge: ChallengeId =
                convert::required_id("reauth.step_up_code.challenge_id", &s.challenge_id)?;
            let code = OtpCode::parse(&s.code)
                .map_err(|e| invalid_argument("reauth.step_up_code.code", &e.to_string()))?;
            Ok(Reauth::StepUpCode { challenge, code })
        }
    }
}

/// Where a proof is always needed (DisableTwoStep, RegenerateBackupCodes), an absent one is a
/// malformed request.
pub fn required_reauth(r: Option<&pb::Reauthentication>) -> Result<Reauth, Status> {
    match reauth(r)? {
        Reauth::Missing => Err(required("reauth")),
        other => Ok(other),
    }
}

pub fn phone_start(start: &PhoneStart) -> pb::Challenge {
    match start {
        PhoneStart::Verification(view) | PhoneStart::StepUp(view) => challenge(view),
    }
}

pub fn challenge(view: &ChallengeView) -> pb::Challenge {
    convert::challenge(view)
}

/// A session as the user sees it in a listing: never a token.
pub fn session_info(s: &Session, current: &Session) -> pb::SessionInfo {
    pb::SessionInfo {
        session_id: s.id.to_string(),
        auth_method: convert::auth_method(s.auth_method).into(),
        // The login's time; a refresh rotates into a new row, whose creation is the last use.
        created_at: Some(convert::timestamp(s.family_created_at)),
        last_used_at: Some(convert::timestamp(s.created_at)),
        absolute_expires_at: Some(convert::timestamp(s.absolute_expires_at)),
        ip_address: s.ip_address.clone(),
        user_agent: s.user_agent.clone(),
        device_id: s.device_id.clone(),
        current: s.id == current.id,
    }
}
