use std::time::Duration;

use super::{RedisConfig, RedisConfigError, redacted};

#[track_caller]
fn check_ok(url: &str, cluster: bool, nodes: usize) {
    let parsed = RedisConfig::new(url)
        .validate()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(
        (parsed.is_cluster(), parsed.node_count()),
        (cluster, nodes),
        "{url}"
    );
}

#[track_caller]
fn check_err(url: &str, expected: &RedisConfigError) {
    let err = RedisConfig::new(url).validate().err();
    assert_eq!(err.as_ref(), Some(expected), "{url}");
}

#[test]
fn accepts_the_documented_forms() {
    check_ok("redis://127.0.0.1:6379", false, 1);
    check_ok("redis://localhost", false, 1);
    check_ok("rediss://user:pw@redis.example.com:6380/2", false, 1);
    check_ok(
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
        true,
        3,
    );
    check_ok(
        "rediss+cluster://:secret@a.example:7000,b.example:7000/",
        true,
        2,
    );
    check_ok("redis+cluster://[::1]:7000", true, 1);
}

#[test]
fn refuses_other_forms_naming_the_problem() {
    check_err("http://127.0.0.1", &RedisConfigError::Scheme);
    check_err("127.0.0.1:6379", &RedisConfigError::Scheme);
    check_err("unix:///tmp/redis.sock", &RedisConfigError::Scheme);
    check_err("redis+cluster://a:7000/0", &RedisConfigError::ClusterExtra);
    check_err(
        "redis+cluster://a:7000?protocol=3",
        &RedisConfigError::ClusterExtra,
    );
    assert!(matches!(
        RedisConfig::new("redis+cluster://a:7000,,b:7000").validate(),
        Err(RedisConfigError::ClusterNode { index: 2, .. })
    ));
    assert!(matches!(
        RedisConfig::new("redis+cluster://a:7000,b:notaport").validate(),
        Err(RedisConfigError::ClusterNode { index: 2, .. })
    ));
    assert!(matches!(
        RedisConfig::new("redis://:pw@127.0.0.1:6379/notadb").validate(),
        Err(RedisConfigError::Invalid(_))
    ));
}

#[test]
fn refuses_a_bad_prefix_or_timeout() {
    let mut config = RedisConfig::new("redis://127.0.0.1");
    config.key_prefix = "a{b}:".into();
    assert_eq!(
        config.validate().err(),
        Some(RedisConfigError::PrefixBraces)
    );
    let mut config = RedisConfig::new("redis://127.0.0.1");
    config.command_timeout = Duration::ZERO;
    assert_eq!(config.validate().err(), Some(RedisConfigError::Timeout));
}

#[test]
fn never_shows_a_password() {
    let config = RedisConfig::new("rediss+cluster://user:hunter2@a:7000,b:7000");
    let shown = format!("{config:?} {:?}", config.validate().unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(redacted("redis://:pw@h:1"), "redis://***@h:1");
    let err = RedisConfig::new("redis://:hunter2@h:1/x")
        .validate()
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
