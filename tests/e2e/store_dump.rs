//! Everything a test server stored, as text: every Redis key under the server's prefix with
//! its value and TTL (`redis-cli`), and every SQL row (`pg_dump --data-only`). The R2, R32
//! and R37 tests grep these for secrets and for keys without a TTL.

use std::process::Command;

/// One Redis key: its name, type, value (all fields or members, space-separated) and TTL.
#[derive(Debug)]
pub struct RedisEntry {
    pub key: String,
    pub kind: String,
    pub value: String,
    /// `TTL` in seconds: `-1` means none, `-2` that the key vanished meanwhile.
    pub ttl: i64,
}

fn redis_cli(url: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-u", url, "--raw"])
        .args(args)
        .output()
        .expect("redis-cli is needed for this test (scripts/test installs redis)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every key under `prefix`, with its value and TTL.
pub fn redis_entries(url: &str, prefix: &str) -> Vec<RedisEntry> {
    let pattern = format!("{prefix}*");
    let mut keys: Vec<String> = redis_cli(url, &["--scan", "--pattern", &pattern])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let kind = redis_cli(url, &["TYPE", &key]).trim().to_owned();
            let value = match kind.as_str() {
                "string" => redis_cli(url, &["GET", &key]),
                "hash" => redis_cli(url, &["HGETALL", &key]),
                "set" => redis_cli(url, &["SMEMBERS", &key]),
                "zset" => redis_cli(url, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                "list" => redis_cli(url, &["LRANGE", &key, "0", "-1"]),
                "stream" => redis_cli(url, &["XRANGE", &key, "-", "+"]),
                _ => String::new(),
            };
            let ttl = redis_cli(url, &["TTL", &key]).trim().parse().unwrap_or(-2);
            RedisEntry {
                key,
                kind,
                value: value.replace('\n', " "),
                ttl,
            }
        })
        .collect()
}

/// The Redis entries as one text, a line per key.
pub fn redis_text(entries: &[RedisEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} ({}): {}", e.key, e.kind, e.value))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every row of every table of the PostgreSQL database at `url`.
pub fn postgres_text(url: &str) -> String {
    let out = Command::new("pg_dump")
        .args(["--data-only", "--no-owner", "--no-privileges"])
        .arg(url)
        .output()
        .expect("pg_dump is needed for this test (scripts/test installs PostgreSQL)");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("COPY public.users"),
        "the dump has no users table"
    );
    text
}

/// Where `needle` occurs in `haystack` as a whole run of digits (not inside a longer number,
/// as in a timestamp), with some context; `None` when it does not.
pub fn find_digits(haystack: &str, needle: &str) -> Option<String> {
    let bytes = haystack.as_bytes();
    let mut from = 0;
    while let Some(at) = haystack[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let digit_before = start > 0 && bytes[start - 1].is_ascii_digit();
        let digit_after = end < bytes.len() && bytes[end].is_ascii_digit();
        if !digit_before && !digit_after {
            return Some(context(haystack, start, end));
        }
        from = start + 1;
    }
    None
}

/// Where `needle` occurs in `haystack`, with some context.
pub fn find_text(haystack: &str, needle: &str) -> Option<String> {
    haystack
        .find(needle)
        .map(|start| context(haystack, start, start + needle.len()))
}

fn context(haystack: &str, start: usize, end: usize) -> String {
    let mut from = start.saturating_sub(80);
    while !haystack.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + 80).min(haystack.len());
    while !haystack.is_char_boundary(to) {
        to += 1;
    }
    haystack[from..to].to_owned()
}
