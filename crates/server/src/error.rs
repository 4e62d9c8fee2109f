//! The one place where errors become gRPC statuses. The match is exhaustive with no `_`, so a
//! new error variant forces a decision here. Causes are logged here and never sent: the text a
//! caller sees is fixed per code and can hold no secret.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use twostep_core::CoreError;

/// The message for every authentication failure: wrong password, wrong code, unknown user,
/// locked account, unknown or expired challenge or token (R11, R18).
pub const AUTH_FAILED: &str = "authentication failed";

/// The message for a call whose API key is missing, malformed, unknown or revoked: the caller,
/// not the end user, is at fault. It never repeats the key.
pub const CALLER_UNAUTHENTICATED: &str = "missing or invalid API key";

/// UNAUTHENTICATED for a caller without a valid API key.
pub fn unauthenticated_caller() -> Status {
    Status::unauthenticated(CALLER_UNAUTHENTICATED)
}

pub fn to_status(err: CoreError) -> Status {
    match err {
        CoreError::InvalidArgument {
            field,
            reason,
            code,
        } => invalid_argument_with_code(&field, &reason, code),
        CoreError::Unauthenticated => Status::unauthenticated(AUTH_FAILED),
        CoreError::PermissionDenied(why) => Status::permission_denied(why),
        CoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
        CoreError::AlreadyExists(what) => Status::already_exists(format!("{what} already exists")),
        CoreError::RateLimited { retry_after } => {
            // Round up: a caller that waits the advertised time must then succeed.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let delay = std::time::Duration::from_secs(secs.max(1));
            let mut status = Status::with_error_details(
                Code::ResourceExhausted,
                format!("too many requests; retry after {secs} s"),
                ErrorDetails::with_retry_info(Some(delay)),
            );
            if let Ok(v) = secs.to_string().parse() {
                status.metadata_mut().insert("retry-after", v);
            }
            status
        }
        CoreError::FailedPrecondition(why) => Status::failed_precondition(why),
        CoreError::Unimplemented(what) => {
            Status::unimplemented(format!("{what} is not implemented yet"))
        }
        CoreError::Unavailable(source) => {
            tracing::warn!(error = %source, cause = ?source.source(), "dependency unavailable");
            Status::unavailable("a dependency is unavailable; retry later")
        }
        CoreError::Internal(source) => {
            tracing::error!(error = %source, cause = ?source.source(), "internal error");
            Status::internal("internal error")
        }
    }
}

/// INVALID_ARGUMENT with a `google.rpc.BadRequest` field violation naming the field.
pub fn invalid_argument(field: &str, reason: &str) -> Status {
    invalid_argument_with_code(field, reason, None)
}

/// The same, with a machine-readable reason code (`TOO_SHORT`, `BLOCKLISTED`, ...) in the
/// violation's `reason` and in the message.
pub fn invalid_argument_with_code(field: &str, description: &str, code: Option<&str>) -> Status {
    let mut violation = FieldViolation::new(field, description);
    let message = match code {
        Some(code) => {
            violation.reason = code.to_owned();
            format!("{field}: {code}: {description}")
        }
        None => format!("{field}: {description}"),
    };
    Status::with_error_details(
        Code::InvalidArgument,
        message,
        ErrorDetails::with_bad_request(vec![violation]),
    )
}

/// INVALID_ARGUMENT for a required field that was left empty.
pub fn missing(field: &str) -> Status {
    invalid_argument(field, "is required")
}

/// An RPC of the designed API that is not built yet.
pub fn unimplemented(rpc: &str) -> Status {
    Status::unimplemented(format!("{rpc} is not implemented yet"))
}

pub trait IntoStatus<T> {
    fn into_status(self) -> Result<T, Status>;
}

impl<T> IntoStatus<T> for Result<T, CoreError> {
    fn into_status(self) -> Result<T, Status> {
        self.map_err(to_status)
    }
}
