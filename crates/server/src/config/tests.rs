use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[track_caller]
fn load_err(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
    load_from(file, &env(pairs)).unwrap_err().to_string()
}

#[test]
fn defaults_are_the_embedded_development_setup() {
    let s = load_from(None, &env(&[])).unwrap();
    assert_eq!(s.environment, Environment::Development);
    assert_eq!(s.listen_addr.to_string(), "127.0.0.1:50051");
    assert!(s.redis.is_none());
    assert!(s.sms_console);
    assert!(s.run_migrations);
}

#[test]
fn environment_variables_override_with_double_underscores() {
    let s = load_from(
        None,
        &env(&[
            ("TWOSTEP_SERVER__LISTEN_ADDR", "127.0.0.1:6000"),
            ("TWOSTEP_REDIS__URL", "redis://127.0.0.1:6379"),
            ("TWOSTEP_REDIS__COMMAND_TIMEOUT_MS", "250"),
            ("TWOSTEP_TEST_REDIS_URL", "ignored: not one of ours"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen_addr.port(), 6000);
    assert_eq!(s.redis.unwrap().command_timeout, Duration::from_millis(250));
}

#[test]
fn a_malformed_listen_addr_names_the_key() {
    let e = load_err(None, &[("TWOSTEP_SERVER__LISTEN_ADDR", "not-an-address")]);
    assert!(
        e.contains("server.listen_addr") && e.contains("TWOSTEP_SERVER__LISTEN_ADDR"),
        "{e}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let e = load_err(Some(Path::new("/nonexistent.toml")), &[]);
    assert!(e.contains("/nonexistent.toml"), "{e}");
}

#[test]
fn unknown_keys_in_a_file_are_refused() {
    let mut f = tempfile();
    writeln!(f.1, "[server]\nlisten_adr = \"127.0.0.1:1\"").unwrap();
    let e = load_err(Some(&f.0), &[]);
    assert!(e.contains("listen_adr"), "{e}");
}

#[test]
fn the_file_is_read_and_the_environment_wins() {
    let mut f = tempfile();
    writeln!(
        f.1,
        "[server]\nlisten_addr = \"127.0.0.1:7000\"\nrequest_timeout_ms = 1234"
    )
    .unwrap();
    let s = load_from(
        Some(&f.0),
        &env(&[("TWOSTEP_SERVER__LISTEN_ADDR", "127.0.0.1:7001")]),
    )
    .unwrap();
    assert_eq!(s.listen_addr.port(), 7001);
    assert_eq!(s.request_timeout, Duration::from_millis(1234));
}

#[test]
fn production_refuses_development_shortcuts() {
    let e = load_err(None, &[("TWOSTEP_ENVIRONMENT", "production")]);
    assert!(e.contains("redis.url"), "{e}");
    let e = load_err(
        None,
        &[
            ("TWOSTEP_ENVIRONMENT", "production"),
            ("TWOSTEP_REDIS__URL", "redis://127.0.0.1:1"),
        ],
    );
    assert!(e.contains("security.code_key"), "{e}");
    let key = "ab".repeat(32);
    let e = load_err(
        None,
        &[
            ("TWOSTEP_ENVIRONMENT", "production"),
            ("TWOSTEP_REDIS__URL", "redis://127.0.0.1:1"),
            ("TWOSTEP_SECURITY__CODE_KEY", &key),
        ],
    );
    assert!(e.contains("sms.console"), "{e}");
}

#[test]
fn weak_argon2_parameters_are_refused() {
    let e = load_err(None, &[("TWOSTEP_SECURITY__ARGON2_MEMORY_KIB", "1024")]);
    assert!(e.contains("security.argon2_memory_kib"), "{e}");
}

fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("twostep-config-{}.toml", uuid::Uuid::new_v4()));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}
