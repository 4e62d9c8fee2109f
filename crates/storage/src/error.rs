//! Errors: [`StorageError`] for opening and migrating a database, and the translation of
//! sea-orm's `DbErr` into the port error [`RepoError`] that the flows understand.

use std::path::PathBuf;

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use twostep_core::ports::{BoxError, RepoError};

use crate::connection_loss;

/// Why a database could not be opened or migrated. Messages name the database by its
/// redacted URL: a password never appears in them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "unsupported database url {target}: expected sqlite://PATH, sqlite::memory: or postgres://..."
    )]
    UnsupportedUrl { target: String },
    #[error("invalid database url {target}")]
    InvalidUrl {
        target: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot create directory {} for the sqlite database", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the database at {target}")]
    Connect {
        target: String,
        #[source]
        source: BoxError,
    },
    #[error("database migration failed")]
    Migrate(#[source] DbErr),
}

/// An error message with the secrets already taken out; it stands in for a driver error
/// whose text may quote the URL it was given.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Sanitised(pub(crate) String);

/// Translates a sea-orm error from a repository call.
pub(crate) fn repo_err(err: DbErr) -> RepoError {
    if let Some(SqlErr::UniqueConstraintViolation(msg)) = err.sql_err()
        && let Some(field) = conflict_field(&msg)
    {
        return RepoError::Conflict { field };
    }
    if is_unavailable(&err) {
        if is_connection_lost(&err) {
            connection_loss::record();
        }
        return RepoError::Unavailable(Box::new(err));
    }
    RepoError::Internal(Box::new(err))
}

/// A row that does not convert back into its core type: the database holds something this
/// code never wrote.
pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> RepoError {
    RepoError::Internal(Box::new(Sanitised(format!(
        "stored {what} is invalid: {detail}"
    ))))
}

/// Which field a unique violation is about. PostgreSQL names the index
/// (`duplicate key value violates unique constraint "ux_users_tenant_email"`), SQLite the
/// columns (`UNIQUE constraint failed: users.tenant_id, users.email`); the migrations put the
/// field's name in both. Other unique violations (a repeated id or token hash) are bugs, not
/// conflicts a caller can act on, and stay internal errors.
fn conflict_field(msg: &str) -> Option<&'static str> {
    let msg = msg.to_ascii_lowercase();
    ["slug", "phone", "email"]
        .into_iter()
        .find(|field| msg.contains(field))
}

/// Whether the database could not be reached or did not answer in time, as opposed to
/// refusing the statement.
fn is_unavailable(err: &DbErr) -> bool {
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
        return true;
    }
    match sqlx_error(err) {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed,
        ) => true,
        Some(sqlx::Error::Database(db)) => is_unavailable_code(db.as_ref()),
        _ => false,
    }
}

/// Whether a statement found its connection dead, so that the pooled connections opened
/// before it may be dead too (see `connection_loss`). A timeout waiting for the pool or a
/// refused new connection says nothing about the pooled ones.
fn is_connection_lost(err: &DbErr) -> bool {
    match sqlx_error(err) {
        Some(sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_)) => true,
        Some(sqlx::Error::Database(db)) => postgres_code(db.as_ref()).is_some_and(|code| {
            // Class 08 (connection exception), an administrator's or a shutdown's
            // termination, a crash of another backend.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02")
        }),
        _ => false,
    }
}

fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

fn is_unavailable_code(db: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(code) = postgres_code(db) {
        // PostgreSQL: class 08 (connection exception), shutdowns, too many connections.
        return code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300");
    }
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes: another writer held
    // the lock for longer than the busy timeout.
    db.code()
        .is_some_and(|code| code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)))
}

/// The SQLSTATE of a PostgreSQL error; `None` for SQLite, whose codes are numbers.
fn postgres_code(db: &dyn sqlx::error::DatabaseError) -> Option<std::borrow::Cow<'_, str>> {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return None;
    }
    db.code()
}

#[cfg(test)]
mod tests;
