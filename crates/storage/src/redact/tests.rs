use super::*;

#[track_caller]
fn check(url: &str, want: &str) {
    assert_eq!(redact_url(url), want);
}

#[test]
fn passwords_are_redacted() {
    check(
        "postgres://app:s3cret@db:5432/twostep",
        "postgres://app:***@db:5432/twostep",
    );
    check("postgres://app@db/twostep", "postgres://app@db/twostep");
    check(
        "postgres://db/twostep?password=s3cret&sslmode=require",
        "postgres://db/twostep?password=***&sslmode=require",
    );
    check("postgres://a:b@c@db/x", "postgres://a:***@db/x");
    check(
        "sqlite://data/twostep.db?mode=rwc",
        "sqlite://data/twostep.db?mode=rwc",
    );
    check("sqlite::memory:", "sqlite::memory:");
}

#[test]
fn scrub_removes_every_secret() {
    let url = "postgres://app:s3cret@db/x?sslpassword=k3y";
    let msg = format!("cannot parse '{url}'; also s3cret and k3y");
    let clean = scrub(&msg, url);
    assert!(
        !clean.contains("s3cret") && !clean.contains("k3y"),
        "{clean}"
    );
    assert!(clean.contains("postgres://app:***@db/x"), "{clean}");
}
