//! Schema migrations: one ordered list, run by [`Database::migrate`](crate::Database::migrate)
//! on SQLite and PostgreSQL alike.
//!
//! A later change adds a table or a column in a new `mNNNN_*.rs` file appended to
//! [`Migrator::migrations`]; an applied migration is never edited, because databases in the
//! field have already recorded it in `seaql_migrations`. Migrations name their tables and
//! columns with their own identifiers instead of the entities', so that they keep describing
//! the schema as it was when they were written.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_initial;
mod m0002_backup_codes_and_audit;
mod m0003_sms_outbox;
mod m0004_consumed_challenges;
mod m0005_session_family;
mod m0006_api_clients;
mod m0007_account_lockouts;
mod m0008_tenant_sms_settings;
mod m0009_session_expiry_index;
mod m0010_audit_time_index;

/// The migrations of twostep, oldest first.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_backup_codes_and_audit::Migration),
            Box::new(m0003_sms_outbox::Migration),
            Box::new(m0004_consumed_challenges::Migration),
            Box::new(m0005_session_family::Migration),
            Box::new(m0006_api_clients::Migration),
            Box::new(m0007_account_lockouts::Migration),
            Box::new(m0008_tenant_sms_settings::Migration),
            Box::new(m0009_session_expiry_index::Migration),
            Box::new(m0010_audit_time_index::Migration),
        ]
    }
}
