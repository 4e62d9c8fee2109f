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

#[test]
fn accepts_the_sentinel_forms() {
    let parsed = RedisConfig::new("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster")
        .validate()
        .unwrap();
    assert!(parsed.is_sentinel() && !parsed.is_cluster());
    assert_eq!(parsed.node_count(), 2);
    let super::UrlKind::Sentinel(s) = &parsed.kind else {
        panic!("not a sentinel url");
    };
    assert_eq!(s.service, "mymaster");
    let ports: Vec<String> = s.sentinels.iter().map(|i| i.addr().to_string()).collect();
    assert_eq!(ports, ["10.0.0.1:26379", "10.0.0.2:26380"]);

    // A host without a port gets the Sentinels' port; the path may carry a database.
    let mut config = RedisConfig::new("rediss+sentinel://:p%40ss@s1,[::1],s3:1/cache/2");
    config.sentinel_password = Some("sentinel-secret".into());
    let parsed = config.validate().unwrap();
    let super::UrlKind::Sentinel(s) = &parsed.kind else {
        panic!("not a sentinel url");
    };
    let ports: Vec<String> = s.sentinels.iter().map(|i| i.addr().to_string()).collect();
    assert_eq!(ports, ["s1:26379", "::1:26379", "s3:1"]);
    assert_eq!(s.service, "cache");
    assert!(
        s.sentinels
            .iter()
            .all(|i| i.redis_settings().password() == Some("sentinel-secret")),
        "the sentinel password goes to every sentinel"
    );
    // The URL's credentials and database are the primary's, percent-decoded.
    assert_eq!(s.primary.password(), Some("p@ss"));
    assert_eq!(s.primary.db(), 2);
    assert!(s.tls, "rediss+sentinel: TLS");
    let node = format!("{:?}", s.node());
    assert!(node.contains("Secure"), "TLS to the primary: {node}");
}

#[test]
fn refuses_bad_sentinel_forms_naming_the_problem() {
    for url in [
        "redis+sentinel://s1:26379",
        "redis+sentinel://s1:26379/",
        "redis+sentinel://s1:26379/mymaster?db=1",
        "redis+sentinel://s1:26379/mymaster/0/extra",
    ] {
        check_err(url, &RedisConfigError::SentinelService);
    }
    assert!(matches!(
        RedisConfig::new("redis+sentinel://s1:26379,,s3/mymaster").validate(),
        Err(RedisConfigError::SentinelNode { index: 2, .. })
    ));
    assert!(matches!(
        RedisConfig::new("redis+sentinel://s1:port/mymaster").validate(),
        Err(RedisConfigError::SentinelNode { index: 1, .. })
    ));
    assert!(matches!(
        RedisConfig::new("redis+sentinel://s1/mymaster/notadb").validate(),
        Err(RedisConfigError::Invalid(_))
    ));
    let mut config = RedisConfig::new("redis://127.0.0.1");
    config.sentinel_password = Some("x".into());
    assert_eq!(
        config.validate().err(),
        Some(RedisConfigError::SentinelPasswordUnused)
    );
}

#[test]
fn never_shows_a_sentinel_password() {
    let mut config = RedisConfig::new("redis+sentinel://user:hunter2@s1:26379/mymaster");
    config.sentinel_password = Some("swordfish".into());
    let shown = format!("{config:?} {:?}", config.validate().unwrap());
    assert!(
        !shown.contains("hunter2") && !shown.contains("swordfish"),
        "{shown}"
    );
    assert!(
        shown.contains("mymaster") && shown.contains("s1:26379"),
        "{shown}"
    );
}
