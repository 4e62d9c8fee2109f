use secrecy::ExposeSecret;
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
    assert_eq!(s.memory_trim_interval, Some(Duration::from_secs(10)));
}

#[test]
fn a_memory_trim_interval_of_zero_turns_the_trimmer_off() {
    let s = load_from(None, &env(&[("TWOSTEP_SERVER__MEMORY_TRIM_SECS", "0")])).unwrap();
    assert_eq!(s.memory_trim_interval, None);
    let s = load_from(None, &env(&[("TWOSTEP_SERVER__MEMORY_TRIM_SECS", "60")])).unwrap();
    assert_eq!(s.memory_trim_interval, Some(Duration::from_secs(60)));
}

#[test]
fn audit_events_are_kept_unless_a_retention_is_set() {
    assert_eq!(load_from(None, &env(&[])).unwrap().audit_retention, None);
    let s = load_from(None, &env(&[("TWOSTEP_AUDIT__RETENTION_DAYS", "400")])).unwrap();
    assert_eq!(s.audit_retention, Some(chrono::TimeDelta::days(400)));
    let err = load_err(None, &[("TWOSTEP_AUDIT__RETENTION_DAYS", "36501")]);
    assert!(err.contains("audit.retention_days"), "{err}");
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

// === [sms] and security.outbox_key ===

fn file(text: &str) -> std::path::PathBuf {
    let mut f = tempfile();
    write!(f.1, "{text}").unwrap();
    f.0
}

const TWO_PROVIDERS: &str = r#"
[sms]
console = false

[[sms.providers]]
name = "primary"
kind = "twilio"
account_sid = "AC123"
from = "+15005550006"
timeout_ms = 3000

[[sms.providers]]
name = "backup"
kind = "generic_http"
url = "http://127.0.0.1:9/send?to=$ctx.num"
method = "POST"
payload = '{"to":"$ctx.num","text":"$ctx.msg"}'
number_format = "digits"
expected_status = 202
message_id_pointer = "/id"
headers = { "Content-Type" = "application/json", "X-Api-Key" = "k" }

[[sms.routes]]
country = "NL"
providers = ["backup", "primary"]

[sms.outbox]
lease_ms = 5000
retry_base_ms = 100
retry_max_ms = 1000
retention_hours = 48
"#;

#[test]
fn providers_routes_and_outbox_settings_are_read_from_the_file() {
    use twostep_sms_gateway::factory::ProviderKind;
    use twostep_sms_gateway::providers::generic_http::{HttpMethod, NumberFormat};
    let path = file(TWO_PROVIDERS);
    let s = load_from(
        Some(&path),
        &env(&[(
            "TWOSTEP_SMS__PROVIDERS__PRIMARY__AUTH_TOKEN",
            "secret-token",
        )]),
    )
    .unwrap();
    assert_eq!(s.sms.providers.len(), 2);
    let ProviderKind::Twilio(twilio) = &s.sms.providers[0].kind else {
        panic!("{:?}", s.sms.providers[0])
    };
    assert_eq!(s.sms.providers[0].name, "primary");
    assert_eq!(twilio.account_sid, "AC123");
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&twilio.auth_token),
        "secret-token"
    );
    assert_eq!(twilio.timeout, Duration::from_millis(3000));
    assert_eq!(twilio.base_url, "https://api.twilio.com");
    let ProviderKind::GenericHttp(g) = &s.sms.providers[1].kind else {
        panic!("{:?}", s.sms.providers[1])
    };
    assert_eq!(g.name, "backup");
    assert_eq!(g.method, HttpMethod::Post);
    assert_eq!(g.number_format, NumberFormat::Digits);
    assert_eq!(g.expected_status, Some(202));
    assert_eq!(g.message_id_pointer.as_deref(), Some("/id"));
    assert_eq!(
        g.payload.as_deref(),
        Some(r#"{"to":"$ctx.num","text":"$ctx.msg"}"#)
    );
    let mut headers: Vec<String> = g
        .headers
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                k.to_ascii_lowercase(),
                secrecy::ExposeSecret::expose_secret(v)
            )
        })
        .collect();
    headers.sort();
    assert_eq!(headers, ["content-type=application/json", "x-api-key=k"]);
    assert_eq!(s.sms.routes.len(), 1);
    assert_eq!(s.sms.routes[0].region.as_str(), "NL");
    assert_eq!(s.sms.routes[0].providers, ["backup", "primary"]);
    assert_eq!(s.sms.outbox.lease, Duration::from_millis(5000));
    assert_eq!(s.sms.outbox.retry_base, Duration::from_millis(100));
    assert_eq!(s.sms.outbox.retention, Duration::from_secs(48 * 3600));
    assert!(!s.sms.console);
    // The secret never shows in Debug output.
    assert!(!format!("{s:?}").contains("secret-token"));
}

#[track_caller]
fn sms_err(toml: &str, pairs: &[(&str, &str)]) -> String {
    let path = file(toml);
    load_err(Some(&path), pairs)
}

fn one_provider(body: &str) -> String {
    format!("[[sms.providers]]\nname = \"gw\"\n{body}\n")
}

#[test]
fn provider_errors_name_the_key() {
    let cases = [
        (
            one_provider("kind = \"carrier-pigeon\""),
            "sms.providers[0].kind",
        ),
        (
            "[[sms.providers]]\nkind = \"console\"\n".to_owned(),
            "sms.providers[0].name",
        ),
        (
            one_provider("kind = \"generic_http\""),
            "sms.providers[0].url",
        ),
        (
            one_provider("kind = \"generic_http\"\nurl = \"ftp://x\""),
            "sms.providers[0].url",
        ),
        (
            one_provider("kind = \"generic_http\"\nurl = \"http://x\"\nmethod = \"PUT\""),
            "sms.providers[0].method",
        ),
        (
            one_provider(
                "kind = \"generic_http\"\nurl = \"http://x\"\nmethod = \"GET\"\npayload = \"a\"",
            ),
            "sms.providers[0].payload",
        ),
        (
            one_provider("kind = \"generic_http\"\nurl = \"http://x\"\nnumber_format = \"x\""),
            "sms.providers[0].number_format",
        ),
        (
            one_provider("kind = \"generic_http\"\nurl = \"http://x\"\nexpected_status = 42"),
            "sms.providers[0].expected_status",
        ),
        (
            one_provider(
                "kind = \"generic_http\"\nurl = \"http://x\"\nmessage_id_pointer = \"id\"",
            ),
            "sms.providers[0].message_id_pointer",
        ),
        (
            one_provider(
                "kind = \"generic_http\"\nurl = \"http://x\"\nheaders = { \"Bad Header\" = \"v\" }",
            ),
            "sms.providers[0].headers",
        ),
        (
            one_provider("kind = \"generic_http\"\nurl = \"http://x\"\nbase_url = \"http://y\""),
            "sms.providers[0].base_url",
        ),
        (
            one_provider("kind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\""),
            "sms.providers[0].from",
        ),
        (
            one_provider("kind = \"vonage\"\napi_key = \"k\""),
            "sms.providers[0].api_secret",
        ),
        (
            one_provider("kind = \"clickatell\"\napi_key = \"k\"\nbase_url = \"nope\""),
            "sms.providers[0].base_url",
        ),
        (
            one_provider(
                "kind = \"plivo\"\nauth_id = \"a\"\nauth_token = \"t\"\nsrc = \"s\"\ntimeout_ms = 0",
            ),
            "sms.providers[0].timeout_ms",
        ),
        (
            format!(
                "{}{}",
                one_provider("kind = \"console\""),
                one_provider("kind = \"console\"")
            ),
            "sms.providers[1].name",
        ),
        (
            format!(
                "{}[[sms.routes]]\ncountry = \"XX\"\nproviders = [\"gw\"]\n",
                one_provider("kind = \"console\"")
            ),
            "sms.routes[0].country",
        ),
        (
            format!(
                "{}[[sms.routes]]\ncountry = \"NL\"\nproviders = [\"other\"]\n",
                one_provider("kind = \"console\"")
            ),
            "sms.routes[0].providers",
        ),
        (
            "[sms.outbox]\nlease_ms = 0\n".to_owned(),
            "sms.outbox.lease_ms",
        ),
        (
            "[sms.outbox]\nretention_hours = 0\n".to_owned(),
            "sms.outbox.retention_hours",
        ),
    ];
    for (toml, key) in cases {
        let e = sms_err(&toml, &[]);
        assert!(e.contains(key), "{toml}\n=> {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn provider_environment_variables_must_name_a_provider_and_a_setting() {
    let toml = one_provider("kind = \"messagebird\"\noriginator = \"Acme\"");
    let e = sms_err(&toml, &[]);
    assert!(e.contains("sms.providers[0].access_key"), "{e}");
    assert!(e.contains("TWOSTEP_SMS__PROVIDERS__GW__ACCESS_KEY"), "{e}");
    let path = file(&toml);
    load_from(
        Some(&path),
        &env(&[("TWOSTEP_SMS__PROVIDERS__GW__ACCESS_KEY", "live_x")]),
    )
    .unwrap();
    let e = sms_err(&toml, &[("TWOSTEP_SMS__PROVIDERS__NOPE__ACCESS_KEY", "x")]);
    assert!(e.contains("NOPE"), "{e}");
    let e = sms_err(&toml, &[("TWOSTEP_SMS__PROVIDERS__GW__COLOUR", "x")]);
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn production_refuses_the_console_and_needs_providers_and_an_outbox_key() {
    let key = "ab".repeat(32);
    let base = [
        ("TWOSTEP_ENVIRONMENT", "production"),
        ("TWOSTEP_REDIS__URL", "redis://127.0.0.1:1"),
        ("TWOSTEP_SECURITY__CODE_KEY", key.as_str()),
        ("TWOSTEP_SMS__CONSOLE", "false"),
    ];
    let e = load_err(None, &base);
    assert!(e.contains("sms.providers"), "{e}");
    let e = sms_err(&one_provider("kind = \"console\""), &base);
    assert!(e.contains("sms.providers[0].kind"), "{e}");
    let clickatell = one_provider("kind = \"clickatell\"\napi_key = \"k\"");
    let e = sms_err(&clickatell, &base);
    assert!(e.contains("security.outbox_key"), "{e}");
    let mut with_key = base.to_vec();
    with_key.push(("TWOSTEP_SECURITY__OUTBOX_KEY", "abcd"));
    let e = sms_err(&clickatell, &with_key);
    assert!(
        e.contains("security.outbox_key") && e.contains("64 hex"),
        "{e}"
    );
    with_key.pop();
    with_key.push(("TWOSTEP_SECURITY__OUTBOX_KEY", key.as_str()));
    let path = file(&clickatell);
    let s = load_from(Some(&path), &env(&with_key)).unwrap();
    assert_eq!(
        s.outbox_key.unwrap().id(),
        twostep_sms_gateway::OutboxKey::new([0xab; 32]).id()
    );
}

#[test]
fn development_needs_no_outbox_key_and_keeps_the_console_shortcut() {
    let s = load_from(None, &env(&[])).unwrap();
    assert!(s.outbox_key.is_none());
    assert!(s.sms.providers.is_empty());
    assert!(s.sms_console);
}

#[test]
fn unauthenticated_calls_are_a_development_default_that_production_refuses() {
    let s = load_from(None, &env(&[])).unwrap();
    assert!(s.auth.allow_unauthenticated);
    assert!(s.tls.is_none());
    let s = load_from(
        None,
        &env(&[("TWOSTEP_AUTH__ALLOW_UNAUTHENTICATED", "false")]),
    )
    .unwrap();
    assert!(!s.auth.allow_unauthenticated);
    let key = "ab".repeat(32);
    let e = load_err(
        None,
        &[
            ("TWOSTEP_ENVIRONMENT", "production"),
            ("TWOSTEP_REDIS__URL", "redis://127.0.0.1:1"),
            ("TWOSTEP_SECURITY__CODE_KEY", &key),
            ("TWOSTEP_AUTH__ALLOW_UNAUTHENTICATED", "true"),
        ],
    );
    assert!(e.contains("auth.allow_unauthenticated"), "{e}");
}

#[test]
fn tls_files_must_exist() {
    let e = load_err(
        None,
        &[
            ("TWOSTEP_SERVER__TLS__CERT_PATH", "/nonexistent/cert.pem"),
            ("TWOSTEP_SERVER__TLS__KEY_PATH", "/nonexistent/key.pem"),
        ],
    );
    assert!(e.contains("server.tls."), "{e}");
}

#[test]
fn redis_behind_sentinels_is_configured_by_url_and_password() {
    let s = load_from(
        None,
        &env(&[
            (
                "TWOSTEP_REDIS__URL",
                "redis+sentinel://:data-pw@10.0.0.1:26379,10.0.0.2:26379/twostep",
            ),
            ("TWOSTEP_REDIS__SENTINEL_PASSWORD", "sentinel-pw"),
        ]),
    )
    .unwrap();
    let redis = s.redis.unwrap();
    assert_eq!(
        redis
            .sentinel_password
            .as_ref()
            .map(|p| p.expose_secret().to_owned()),
        Some("sentinel-pw".to_owned())
    );
    let shown = format!("{redis:?}");
    assert!(
        !shown.contains("sentinel-pw") && !shown.contains("data-pw"),
        "{shown}"
    );

    // A bad URL is refused at start-up, naming the problem and not the URL.
    let e = load_err(
        None,
        &[(
            "TWOSTEP_REDIS__URL",
            "redis+sentinel://:data-pw@10.0.0.1:26379",
        )],
    );
    assert!(
        e.contains("redis.url") && e.contains("names the primary"),
        "{e}"
    );
    assert!(!e.contains("data-pw"), "{e}");
    let e = load_err(
        None,
        &[
            ("TWOSTEP_REDIS__URL", "redis://127.0.0.1:6379"),
            ("TWOSTEP_REDIS__SENTINEL_PASSWORD", "sentinel-pw"),
        ],
    );
    assert!(e.contains("redis.sentinel_password"), "{e}");
    let e = load_err(None, &[("TWOSTEP_REDIS__URL", "memcached://127.0.0.1")]);
    assert!(e.contains("redis.url") && e.contains("scheme"), "{e}");
}
