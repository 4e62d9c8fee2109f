//! The errors flows return. The server maps each variant to a gRPC status in one place
//! (`crates/server/src/error.rs`); adding a variant forces a decision there.

use std::time::Duration;

use crate::ports::{BoxError, OutboxError, RepoError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A request field is wrong; `field` names it as the API spells it.
    /// `code` is a machine-readable reason (`TOO_SHORT`, `BLOCKLISTED`, ...), when there is one.
    #[error("{field}: {reason}")]
    InvalidArgument {
        field: String,
        reason: String,
        code: Option<&'static str>,
    },
    /// Wrong password, wrong code, unknown user, locked account, unknown or expired challenge
    /// or token: all one answer, so none of them can be told apart (R11, R18).
    #[error("authentication failed")]
    Unauthenticated,
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    /// Admin lookups only; user-facing flows never say that something does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("precondition failed: {0}")]
    FailedPrecondition(&'static str),
    /// A path of the API that is designed but not built yet.
    #[error("not implemented yet: {0}")]
    Unimplemented(&'static str),
    #[error("dependency unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, reason: impl ToString) -> Self {
        CoreError::InvalidArgument {
            field: field.into(),
            reason: reason.to_string(),
            code: None,
        }
    }

    pub fn invalid_with_code(
        field: impl Into<String>,
        code: &'static str,
        reason: impl ToString,
    ) -> Self {
        CoreError::InvalidArgument {
            field: field.into(),
            reason: reason.to_string(),
            code: Some(code),
        }
    }

    /// A refused new password, with its reason code.
    pub fn password(
        field: impl Into<String>,
        rejection: crate::password_policy::Rejection,
    ) -> Self {
        Self::invalid_with_code(field, rejection.code(), rejection)
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(source) => CoreError::Unavailable(source),
            StoreError::Internal(source) => CoreError::Internal(source),
        }
    }
}

impl From<RepoError> for CoreError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict { field } => CoreError::AlreadyExists(field),
            RepoError::Unavailable(source) => CoreError::Unavailable(source),
            RepoError::Internal(source) => CoreError::Internal(source),
        }
    }
}

impl From<OutboxError> for CoreError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Unavailable(source) => CoreError::Unavailable(source),
            OutboxError::Disabled => CoreError::Unavailable("sms sending is switched off".into()),
        }
    }
}
