//! The repository contract suite: every test runs on SQLite (a temp file of its own) and on
//! PostgreSQL (a fresh database of its own, created through `TWOSTEP_TEST_PG_ADMIN_URL`,
//! which `scripts/test` exports). Without that variable the PostgreSQL tests fail, naming
//! `scripts/test`; they never skip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed unwrap is a failed test with its location"
)]

/// Instantiates each listed `async fn(Database)` once per engine, as
/// `<module>::sqlite::<name>` and `<module>::postgres::<name>`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = crate::harness::sqlite().await;
                    super::$name(t.db.clone()).await;
                    t.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = crate::harness::postgres().await;
                    super::$name(t.db.clone()).await;
                    t.finish().await;
                }
            )*
        }
    };
}

mod api_clients;
mod audit;
mod backup_codes;
mod consumed;
mod database;
mod fixtures;
mod harness;
mod lockouts;
mod outbox;
mod sessions;
mod sms_settings;
mod tenants;
mod users;
