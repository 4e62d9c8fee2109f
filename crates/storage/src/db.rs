//! Opening a database: one pool per process, shared by every repository.
//!
//! The URL picks the engine: `sqlite://PATH?mode=rwc` (a file, created with its directory
//! when missing), `sqlite::memory:` (tests and demos; gone when the process ends) or
//! `postgres://USER:PASSWORD@HOST:PORT/DB`. Timeouts are short on purpose: when the database
//! is down a request fails fast with `RepoError::Unavailable` instead of queueing, and the
//! pool opens fresh connections by itself once the database is back (a connection idle for
//! more than half a second is tested before use, and one that fails a statement is dropped;
//! after such a failure, every connection older than it is tested too).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use twostep_core::ports::RepoError;

use crate::connection_loss;
use crate::error::{Sanitised, StorageError, repo_err};
use crate::migration::Migrator;
use crate::redact::{redact_url, scrub};
use crate::repo::{
    SqlApiClientRepo, SqlAuditLog, SqlBackupCodeRepo, SqlConsumedChallenges, SqlLockoutRepo,
    SqlOutboxRepo, SqlSessionRepo, SqlSmsSettingsRepo, SqlTenantRepo, SqlUserRepo,
};

/// How long a pooled connection may sit idle before it is pinged on its way out of the pool.
const IDLE_BEFORE_PING: Duration = Duration::from_millis(500);

/// Pool settings. The defaults suit one `twostepd` process.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Connections in the pool (PostgreSQL and SQLite files; an in-memory SQLite database
    /// always uses exactly one).
    pub max_connections: u32,
    /// How long a query waits for a pooled connection, opening one included, before it
    /// fails as unavailable. Also bounds `Database::connect`.
    pub acquire_timeout: Duration,
    /// How long SQLite waits for another writer to release the database before it gives up
    /// with "database is locked".
    pub sqlite_busy_timeout: Duration,
}

/// The engine behind a [`Database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// An open connection pool. Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct Database {
    conn: DatabaseConnection,
    engine: Engine,
}

// === impl DbOptions ===

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

// === impl Database ===

impl Database {
    /// Opens a pool for `url` and checks that the database answers. Does not migrate.
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, StorageError> {
        let target = redact_url(url);
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl { target });
        };

        let mut opts = ConnectOptions::new(url);
        opts.max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            // sqlx pings a connection when it goes back to the pool, and by default again
            // when it comes out: two extra round trips per statement on top of the statement
            // itself. A connection used within the last half second was just proven alive by
            // the release ping, so only staler ones are pinged on the way out (HikariCP's
            // `aliveBypassWindowMs` makes the same trade, with the same 500 ms). What it
            // costs: after a database restart, a connection used in that half second fails
            // its next statement (`Unavailable`) and is dropped, instead of being replaced
            // before it is used...
            .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
            // ...except after a restart, when every connection that went back to the pool
            // before the first failure is suspect, however briefly idle (`connection_loss`).
            .map_sqlx_postgres_before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < IDLE_BEFORE_PING
                        && connection_loss::may_have_died(meta.idle_for)
                    {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            // sea-orm records statements in tracing spans; sqlx's own `log` output would
            // only repeat them.
            .sqlx_logging(false);
        if engine == Engine::Sqlite {
            prepare_sqlite(url, &target, options, &mut opts).await?;
        }

        let conn = sea_orm::Database::connect(opts)
            .await
            .map_err(|e| StorageError::Connect {
                target: target.clone(),
                source: Box::new(Sanitised(scrub(&e.to_string(), url))),
            })?;
        tracing::info!(database = %target, "database connected");
        Ok(Self { conn, engine })
    }

    /// Applies the migrations not applied yet; a no-op on an up-to-date database.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        Migrator::up(&self.conn, None)
            .await
            .map_err(StorageError::Migrate)
    }

    /// Whether the database answers, for health checks.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.conn.ping().await.map_err(repo_err)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn tenants(&self) -> SqlTenantRepo {
        SqlTenantRepo::new(self.conn.clone())
    }

    pub fn users(&self) -> SqlUserRepo {
        SqlUserRepo::new(self.conn.clone())
    }

    pub fn sessions(&self) -> SqlSessionRepo {
        SqlSessionRepo::new(self.conn.clone())
    }

    pub fn backup_codes(&self) -> SqlBackupCodeRepo {
        SqlBackupCodeRepo::new(self.conn.clone())
    }

    pub fn audit(&self) -> SqlAuditLog {
        SqlAuditLog::new(self.conn.clone())
    }

    /// API clients and their hashed keys (`ApiClientRepo`).
    pub fn api_clients(&self) -> SqlApiClientRepo {
        SqlApiClientRepo::new(self.conn.clone())
    }

    /// The ledger of accepted codes (`ConsumedChallenges`, R39 a).
    pub fn consumed_challenges(&self) -> SqlConsumedChallenges {
        SqlConsumedChallenges::new(self.conn.clone())
    }

    /// Durable account lockout counters and locks (`LockoutRepo`).
    pub fn lockouts(&self) -> SqlLockoutRepo {
        SqlLockoutRepo::new(self.conn.clone())
    }

    /// The durable SMS outbox's rows (`OutboxRepo`).
    pub fn outbox(&self) -> SqlOutboxRepo {
        SqlOutboxRepo::new(self.conn.clone())
    }

    /// Tenants' own SMS settings (SetSmsProviders), secrets sealed by the caller.
    pub fn sms_settings(&self) -> SqlSmsSettingsRepo {
        SqlSmsSettingsRepo::new(self.conn.clone())
    }

    /// The sea-orm connection, for migrations and queries that live outside the repositories
    /// (tests, maintenance tasks).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes every pooled connection; later calls fail as unavailable.
    pub async fn close(&self) {
        if let Err(err) = self.conn.close_by_ref().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
    }
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// SQLite specifics. A file database gets its directory, then WAL mode (readers no longer
/// block the writer) set once through a connection of its own: switching journal modes needs
/// an exclusive lock that the busy timeout does not wait for, so pooled connections must not
/// race to do it. Every pooled connection waits up to the busy timeout for a concurrent
/// writer and enforces foreign keys. An in-memory database lives as long as its single
/// connection, which is therefore never retired.
async fn prepare_sqlite(
    url: &str,
    target: &str,
    options: &DbOptions,
    opts: &mut ConnectOptions,
) -> Result<(), StorageError> {
    let parsed = SqliteConnectOptions::from_str(url).map_err(|e| StorageError::InvalidUrl {
        target: target.to_owned(),
        source: Box::new(Sanitised(scrub(&e.to_string(), url))),
    })?;
    let busy = options.sqlite_busy_timeout;
    opts.map_sqlx_sqlite_opts(move |o| {
        o.busy_timeout(busy)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
    });

    if url.contains(":memory:") || url.contains("mode=memory") {
        opts.max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        return Ok(());
    }

    if let Some(dir) = parsed
        .get_filename()
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        create_dir(dir)?;
    }
    let conn_err = |e: sqlx::Error| StorageError::Connect {
        target: target.to_owned(),
        source: Box::new(Sanitised(scrub(&e.to_string(), url))),
    };
    let setup = parsed
        .busy_timeout(busy)
        .journal_mode(SqliteJournalMode::Wal);
    let conn = sqlx::ConnectOptions::connect(&setup)
        .await
        .map_err(conn_err)?;
    sqlx::Connection::close(conn).await.map_err(conn_err)
}

fn create_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
