//! Opening, migrating and losing the database.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use twostep_core::ports::{RepoError, TenantRepo, UserRepo};
use twostep_storage::{Database, DbOptions, StorageError};

use crate::fixtures::{new_user, seeded_user, tenant};
use crate::harness::{fresh_pg_database, pg_admin_exec};

contract!(migrating_twice_is_a_no_op, ping_answers);

async fn migrating_twice_is_a_no_op(db: Database) {
    let (t, u) = seeded_user(&db).await;
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    assert_eq!(db.users().get(t.id, u.id).await.unwrap().unwrap().id, u.id);
}

async fn ping_answers(db: Database) {
    db.ping().await.unwrap();
}

fn quick() -> DbOptions {
    DbOptions {
        acquire_timeout: Duration::from_secs(1),
        ..DbOptions::default()
    }
}

async fn pragma(db: &Database, name: &str) -> String {
    let sql = format!("PRAGMA {name}");
    let row = db
        .connection()
        .query_one_raw(Statement::from_string(
            db.connection().get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
        .unwrap()
}

#[tokio::test]
async fn sqlite_file_gets_its_directory_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/twostep.db");
    let db = Database::connect(
        &format!("sqlite://{}?mode=rwc", path.display()),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    db.migrate().await.unwrap();
    assert!(path.exists());
    assert_eq!(pragma(&db, "journal_mode").await, "wal");
    assert_eq!(pragma(&db, "foreign_keys").await, "1");
    assert_eq!(pragma(&db, "busy_timeout").await, "5000");
    db.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let db = Database::connect("sqlite::memory:", &DbOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let t = tenant("memory");
    db.tenants().create(&t).await.unwrap();
    assert!(db.tenants().get(t.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers_do_not_fail() {
    let t = crate::harness::sqlite().await;
    let (tenant, _) = seeded_user(&t.db).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let users = t.db.users();
        tasks.push(tokio::spawn(async move {
            let email = format!("user{i}@example.com");
            users.create(&new_user(tenant.id, Some(&email), None)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    t.finish().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_their_password() {
    let err = Database::connect("mysql://root:hunter2@localhost/x", &quick())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::UnsupportedUrl { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_postgres_that_is_down_fails_connect_fast_and_names_it() {
    // A port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/twostep");
    let started = Instant::now();
    let err = Database::connect(&url, &quick()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, StorageError::Connect { .. }), "{err:?}");
    let text = format!("{err} / {:?}", std::error::Error::source(&err));
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_unavailable_and_the_pool_recovers() {
    let (url, admin_url, name) = fresh_pg_database().await;
    let db = Database::connect(&url, &quick()).await.unwrap();
    db.migrate().await.unwrap();
    let t = tenant("outage");
    db.tenants().create(&t).await.unwrap();
    // Several pooled connections, all back in the pool just now: none of them is old enough
    // to be pinged on its way out, and each would fail a request after the outage if the
    // pool did not learn from the first failure.
    let held = [
        db.connection().begin().await.unwrap(),
        db.connection().begin().await.unwrap(),
        db.connection().begin().await.unwrap(),
        db.connection().begin().await.unwrap(),
    ];
    for tx in held {
        tx.commit().await.unwrap();
    }

    // The database goes away: no new connections, existing ones killed.
    pg_admin_exec(
        &admin_url,
        &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"),
    )
    .await;
    pg_admin_exec(
        &admin_url,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    let started = Instant::now();
    let err = db.tenants().get(t.id).await.unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(db.ping().await, Err(RepoError::Unavailable(_))));

    // It comes back; the same pool serves again without a restart.
    pg_admin_exec(
        &admin_url,
        &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"),
    )
    .await;
    // The first request after the outage succeeds: the connections that died were tested
    // and replaced, not handed out one failed request at a time.
    assert!(db.tenants().get(t.id).await.unwrap().is_some());
    db.close().await;
    pg_admin_exec(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await;
}
