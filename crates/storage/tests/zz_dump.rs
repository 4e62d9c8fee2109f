#![allow(clippy::unwrap_used)]
use sea_orm::{ConnectionTrait, Statement};
use twostep_storage::{Database, DbOptions};

#[tokio::test]
async fn dump() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::connect(&format!("sqlite://{}/x.db?mode=rwc", dir.path().display()), &DbOptions::default()).await.unwrap();
    db.migrate().await.unwrap();
    let rows = db.connection().query_all_raw(Statement::from_string(sea_orm::DbBackend::Sqlite, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")).await.unwrap();
    for r in rows { println!("{}", r.try_get_by_index::<String>(0).unwrap()); }
    let admin = std::env::var("TWOSTEP_TEST_PG_ADMIN_URL").unwrap();
    let url = admin.replace("/postgres", "/twostep_test");
    let db = Database::connect(&url, &DbOptions::default()).await.unwrap();
    db.migrate().await.unwrap();
    let out = std::process::Command::new("psql").arg(&url).arg("-c").arg("\\d users").arg("-c").arg("\\d sessions").arg("-c").arg("\\d tenants").output().unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Database::connect(&format!("postgres://app:pw@127.0.0.1:{port}/x"), &DbOptions::default()).await.unwrap_err();
    let mut e: Option<&dyn std::error::Error> = Some(&err);
    while let Some(x) = e { println!("ERR: {x}"); e = x.source(); }
}
