//! The services `scripts/test` starts, as environment variables. A test that needs one and
//! does not find it fails and says how to get it: tests never skip.

pub fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: run the tests through scripts/test, which starts Redis and PostgreSQL"
        ),
    }
}

/// A fresh, empty PostgreSQL database for one test, created through the admin URL.
pub async fn fresh_postgres_database() -> String {
    let admin = required("TWOSTEP_TEST_PG_ADMIN_URL");
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let psql = std::process::Command::new("psql")
        .arg(&admin)
        .args([
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql is needed for end-to-end tests on PostgreSQL (scripts/test installs it)");
    assert!(
        psql.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let (base, _) = admin
        .rsplit_once('/')
        .expect("admin URL has a database part");
    format!("{base}/{name}")
}
