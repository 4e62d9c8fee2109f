//! One run's figures: a JSON line (for `scripts/bench` and `report`) and a table row.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::Collected;
use crate::procstat::{self, Usage};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunResult {
    /// `b0`, `b1-start-login`, `s1`, ...
    pub scenario: String,
    /// Free text from `--label` (`scripts/bench` puts the placement and repetition there).
    pub label: String,
    /// `closed` or `open`.
    pub mode: String,
    pub concurrency: Option<usize>,
    /// Open loop: the arrival rate asked for, per second.
    pub rate: Option<f64>,
    pub warmup_s: f64,
    /// The measured window; shorter than asked when the prepared inputs ran out.
    pub window_s: f64,
    pub truncated: bool,
    /// Answers in the window, and how many of them the scenario expects.
    pub requests: u64,
    pub expected: u64,
    pub unexpected: u64,
    /// Answers by gRPC status (or `REDIS_*`, `SQL_ERROR`).
    pub codes: BTreeMap<String, u64>,
    /// The first message of each unexpected status.
    pub messages: BTreeMap<String, String>,
    /// Expected answers per second (S4: logins per second).
    pub rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// CPU and memory of the driver and of the `--watch`ed processes over the window.
    pub driver: Usage,
    pub watched: BTreeMap<String, Usage>,
    /// Cores busy with other work on the machine during the window (noise).
    pub other_cores: f64,
    /// Scenario figures: `b2_ms`, `hash_permits`, `p99_alone_us`, ...
    pub extra: BTreeMap<String, f64>,
    pub note: String,
    /// Set when the scenario could not run, with the reason.
    pub skipped: Option<String>,
}

impl RunResult {
    pub fn from_collected(scenario: &str, label: &str, c: &Collected) -> Self {
        let h = &c.rec.hist;
        let (driver, watched) = procstat::usage(&c.before, &c.after, c.rec.total);
        let secs = c.window.as_secs_f64().max(1e-9);
        Self {
            scenario: scenario.to_owned(),
            label: label.to_owned(),
            window_s: c.window.as_secs_f64(),
            truncated: c.truncated,
            requests: c.rec.total,
            expected: c.rec.expected,
            unexpected: c.rec.total - c.rec.expected,
            codes: c
                .rec
                .codes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            rps: c.rec.expected as f64 / secs,
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
            driver,
            watched,
            other_cores: procstat::others(&c.before, &c.after),
            messages: crate::errors::take(),
            ..Self::default()
        }
    }

    pub fn skipped(scenario: &str, label: &str, why: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            label: label.to_owned(),
            skipped: Some(why.to_owned()),
            ..Self::default()
        }
    }

    /// Prints the JSON line on stdout (and appends it to `file`), the table row on stderr.
    pub fn emit(&self, file: Option<&Path>) -> anyhow::Result<()> {
        let line = serde_json::to_string(self)?;
        println!("{line}");
        if let Some(path) = file {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
            writeln!(f, "{line}")?;
        }
        eprintln!("{}", self.row());
        Ok(())
    }

    pub fn row(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("{:<16} {:<14} skipped: {why}", self.scenario, self.label);
        }
        if self.mode == "serial" {
            return format!(
                "{:<16} {:<14} {:<12} {:>10.1}/s  mean {:.1} ms ({})",
                self.scenario,
                self.label,
                "serial",
                self.rps,
                self.mean_us / 1e3,
                self.note
            );
        }
        let load = match (self.mode.as_str(), self.concurrency, self.rate) {
            ("open", _, Some(r)) => format!("open {r:.0}/s"),
            (_, Some(c), _) => format!("c={c}"),
            _ => String::new(),
        };
        let errors: Vec<String> = self
            .codes
            .iter()
            .filter(|(k, _)| k.as_str() != "OK")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let server: Vec<String> = self
            .watched
            .iter()
            .map(|(k, u)| format!("{k} {:.0}µs/req {:.2}cores", u.cpu_us_per_req, u.cores))
            .collect();
        format!(
            "{:<16} {:<14} {:<12} {:>10.0}/s  p50 {:>7} p90 {:>7} p99 {:>7} p99.9 {:>7} µs  unexpected {}{}{}  [{}] driver {:.2} others {:.2} cores",
            self.scenario,
            self.label,
            load,
            self.rps,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.unexpected,
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join(" "))
            },
            if self.truncated {
                format!("  window cut to {:.1}s", self.window_s)
            } else {
                String::new()
            },
            server.join(", "),
            self.driver.cores,
            self.other_cores,
        )
    }
}

/// Every run in a JSON-lines file (lines that do not parse are skipped).
pub fn read_all(path: &Path) -> anyhow::Result<Vec<RunResult>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
