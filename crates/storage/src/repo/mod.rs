//! The port implementations, one file per port. Each holds a clone of the shared pool and
//! converts rows to core types through the parsing constructors of `core`, so a row that no
//! longer parses surfaces as `RepoError::Internal` instead of as a half-valid value.

mod api_client;
mod audit;
mod backup_code;
mod consumed;
mod lockout;
mod outbox;
mod session;
mod sms_settings;
mod tenant;
mod user;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::SelectStatement;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use twostep_core::ports::RepoError;

use crate::error::repo_err;

pub use api_client::SqlApiClientRepo;
pub use audit::SqlAuditLog;
pub use backup_code::SqlBackupCodeRepo;
pub use consumed::SqlConsumedChallenges;
pub use lockout::SqlLockoutRepo;
pub use outbox::SqlOutboxRepo;
pub use session::SqlSessionRepo;
pub use sms_settings::SqlSmsSettingsRepo;
pub use tenant::SqlTenantRepo;
pub use user::SqlUserRepo;

/// Timestamps are stored with microsecond precision, the finest PostgreSQL keeps; truncating
/// before writing makes SQLite store the same value, so what is read back is identical on
/// both engines.
pub(crate) fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Deletes the rows of `E` whose `id` the `batch` subquery selects and returns how many went.
/// Retention deletes in bounded batches chosen by a subquery because neither engine's DELETE
/// takes a LIMIT portably.
pub(crate) async fn delete_batch<E: EntityTrait>(
    db: &DatabaseConnection,
    id: E::Column,
    batch: SelectStatement,
) -> Result<u64, RepoError> {
    let res = E::delete_many()
        .filter(id.in_subquery(batch))
        .exec(db)
        .await
        .map_err(repo_err)?;
    Ok(res.rows_affected)
}
