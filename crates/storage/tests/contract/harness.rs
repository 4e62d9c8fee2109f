//! A fresh, migrated database per test, and its removal afterwards.

use sea_orm::{ConnectOptions, ConnectionTrait};
use tempfile::TempDir;
use twostep_storage::{Database, DbOptions};

pub const PG_ADMIN_URL_VAR: &str = "TWOSTEP_TEST_PG_ADMIN_URL";

pub struct TestDb {
    pub db: Database,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code, reason = "held so that the directory outlives the test")] TempDir),
    Postgres { admin_url: String, name: String },
}

/// A migrated SQLite database in a temp file.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("twostep.db").display()
    );
    let db = Database::connect(&url, &DbOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    TestDb {
        db,
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// A migrated PostgreSQL database of its own.
pub async fn postgres() -> TestDb {
    let (url, admin_url, name) = fresh_pg_database().await;
    let db = Database::connect(&url, &DbOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    TestDb {
        db,
        cleanup: Cleanup::Postgres { admin_url, name },
    }
}

/// The admin URL, or a failure that says how to run these tests.
pub fn pg_admin_url() -> String {
    match std::env::var(PG_ADMIN_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{PG_ADMIN_URL_VAR} is not set: run the PostgreSQL tests through scripts/test \
             (e.g. `scripts/test --services-only -- cargo test -p twostep-storage`)"
        ),
    }
}

/// Creates an empty database; returns its URL, the admin URL and its name.
pub async fn fresh_pg_database() -> (String, String, String) {
    let admin_url = pg_admin_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    pg_admin_exec(&admin_url, &format!("CREATE DATABASE \"{name}\"")).await;
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').unwrap();
    let url = match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    };
    (url, admin_url, name)
}

/// Runs one statement as the admin, on a connection of its own.
pub async fn pg_admin_exec(admin_url: &str, sql: &str) {
    let mut opts = ConnectOptions::new(admin_url);
    opts.max_connections(1).sqlx_logging(false);
    let admin = sea_orm::Database::connect(opts).await.unwrap();
    admin.execute_unprepared(sql).await.unwrap();
    admin.close().await.unwrap();
}

impl TestDb {
    /// Closes the pool and removes the database (best effort for PostgreSQL: a failing test
    /// never gets here, and the throwaway server goes away with `scripts/test` anyway).
    pub async fn finish(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::Sqlite(_dir) => {}
            Cleanup::Postgres { admin_url, name } => {
                pg_admin_exec(
                    &admin_url,
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                )
                .await;
            }
        }
    }
}
