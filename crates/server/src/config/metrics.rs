//! The `[metrics]` section: the Prometheus listener (`GET /metrics`), off unless `listen_addr`
//! is set (`TWOSTEP_METRICS__LISTEN_ADDR`).
//!
//! It is a listener of its own, never the receipt listener's address: that one faces SMS
//! providers through a proxy, while metrics (RPC rates, provider health) are for the internal
//! network only.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, bad, parse_listen_addr};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    /// Unset: no metrics listener. Port 0 picks a free port.
    pub listen_addr: Option<String>,
}

/// The validated `[metrics]` section.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    pub listen_addr: SocketAddr,
}

/// Validates the section: `None` when the listener is off. `others` are the addresses other
/// listeners bind, by key; the metrics listener may share none of them.
pub(super) fn validate(
    raw: &RawMetrics,
    others: &[(&str, SocketAddr)],
) -> Result<Option<MetricsSettings>, ConfigError> {
    let Some(addr) = raw
        .listen_addr
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let listen_addr = parse_listen_addr("metrics.listen_addr", addr, "0.0.0.0:9090")?;
    for (key, other) in others {
        if overlaps(listen_addr, *other) {
            return Err(bad(
                "metrics.listen_addr",
                format!("{listen_addr} is also {key}: metrics need a port of their own"),
            ));
        }
    }
    Ok(Some(MetricsSettings { listen_addr }))
}

/// Whether binding both would clash: the same fixed port on the same address, or on any
/// address when one of them is the unspecified one (`0.0.0.0`, `::`). Port 0 never clashes.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::HashMap;

    use super::super::{Settings, load_from};

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load_from(None, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn the_listener_is_off_by_default() {
        assert!(load(&[]).unwrap().metrics.is_none());
    }

    #[test]
    fn the_listener_is_turned_on_by_its_address() {
        let s = load(&[("TWOSTEP_METRICS__LISTEN_ADDR", "127.0.0.1:9090")]).unwrap();
        assert_eq!(s.metrics.unwrap().listen_addr.to_string(), "127.0.0.1:9090");
        // Port 0 picks a free port, also next to other listeners on port 0.
        let s = load(&[
            ("TWOSTEP_METRICS__LISTEN_ADDR", "127.0.0.1:0"),
            ("TWOSTEP_SERVER__LISTEN_ADDR", "127.0.0.1:0"),
        ])
        .unwrap();
        assert_eq!(s.metrics.unwrap().listen_addr.port(), 0);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load(&[("TWOSTEP_METRICS__LISTEN_ADDR", "everywhere")]).unwrap_err();
        assert!(
            e.contains("metrics.listen_addr") && e.contains("TWOSTEP_METRICS__LISTEN_ADDR"),
            "{e}"
        );
    }

    #[test]
    fn metrics_never_share_the_receipt_or_grpc_port() {
        let e = load(&[
            ("TWOSTEP_METRICS__LISTEN_ADDR", "0.0.0.0:8080"),
            ("TWOSTEP_HTTP__LISTEN_ADDR", "127.0.0.1:8080"),
            (
                "TWOSTEP_HTTP__PUBLIC_BASE_URL",
                "https://receipts.example.com",
            ),
        ])
        .unwrap_err();
        assert!(
            e.contains("metrics.listen_addr") && e.contains("http.listen_addr"),
            "{e}"
        );
        let e = load(&[("TWOSTEP_METRICS__LISTEN_ADDR", "127.0.0.1:50051")]).unwrap_err();
        assert!(e.contains("server.listen_addr"), "{e}");
        // Another port, or another address, is fine.
        load(&[
            ("TWOSTEP_METRICS__LISTEN_ADDR", "127.0.0.2:8080"),
            ("TWOSTEP_HTTP__LISTEN_ADDR", "127.0.0.1:8080"),
            (
                "TWOSTEP_HTTP__PUBLIC_BASE_URL",
                "https://receipts.example.com",
            ),
        ])
        .unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = load(&[("TWOSTEP_METRICS__PATH", "/stats")]).unwrap_err();
        assert!(e.contains("path"), "{e}");
    }
}
