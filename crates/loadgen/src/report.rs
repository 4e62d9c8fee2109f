//! The ratio table: every ratio is taken inside one repetition (baseline and scenario from
//! the same run), then the median and the spread over repetitions are shown.
//!
//! Labels are `PLACEMENT/REP` (`pinned/rep1`); each placement gets its own tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::result::{self, RunResult};

type Runs<'a> = Vec<&'a RunResult>;

fn split_label(label: &str) -> (&str, &str) {
    label.split_once('/').unwrap_or((label, ""))
}

fn ok(r: &&&RunResult) -> bool {
    r.skipped.is_none()
}

/// The highest closed-loop rate of a scenario.
fn peak<'a>(runs: &Runs<'a>, scenario: &str) -> Option<&'a RunResult> {
    runs.iter()
        .filter(ok)
        .filter(|r| r.scenario == scenario && r.mode == "closed")
        .max_by(|a, b| a.rps.total_cmp(&b.rps))
        .copied()
}

fn at_concurrency<'a>(runs: &Runs<'a>, scenario: &str, c: usize) -> Option<&'a RunResult> {
    runs.iter()
        .filter(ok)
        .find(|r| r.scenario == scenario && r.mode == "closed" && r.concurrency == Some(c))
        .copied()
}

/// The open-loop run at (about) this fraction of the peak.
fn open_at<'a>(runs: &Runs<'a>, scenario: &str, frac: f64) -> Option<&'a RunResult> {
    runs.iter()
        .filter(ok)
        .filter(|r| r.scenario == scenario && r.mode == "open")
        .find(|r| {
            r.extra
                .get("rate_frac")
                .is_some_and(|f| (f - frac).abs() < 0.01)
        })
        .copied()
}

fn first<'a>(runs: &Runs<'a>, scenario: &str) -> Option<&'a RunResult> {
    runs.iter()
        .filter(ok)
        .find(|r| r.scenario == scenario)
        .copied()
}

#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
    None,
}

impl Goal {
    fn text(self, unit: &str) -> String {
        match self {
            Self::AtLeast(v) => format!("≥ {v}{unit}"),
            Self::AtMost(v) => format!("≤ {v}{unit}"),
            Self::None => "—".to_owned(),
        }
    }

    fn met(self, v: f64) -> &'static str {
        match self {
            Self::AtLeast(t) if v >= t => "met",
            Self::AtMost(t) if v <= t => "met",
            Self::None => "info",
            _ => "**missed**",
        }
    }
}

/// One line of the ratio table: a value per repetition with the figures behind it.
struct Ratio {
    name: &'static str,
    goal: Goal,
    unit: &'static str,
    compute: fn(&Runs<'_>, usize) -> Option<(f64, String)>,
}

fn div(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

fn twostepd_rss_kib(r: &RunResult) -> Option<u64> {
    r.watched.get("twostepd").map(|u| u.rss_kib)
}

fn throughput_ratio(runs: &Runs<'_>, scenario: &str, baseline: &str) -> Option<(f64, String)> {
    let s = peak(runs, scenario)?;
    let b = peak(runs, baseline)?;
    Some((
        div(s.rps, b.rps)?,
        format!(
            "{scenario} {:.0}/s (c={}) ÷ {baseline} {:.0}/s (c={})",
            s.rps,
            s.concurrency.unwrap_or(0),
            b.rps,
            b.concurrency.unwrap_or(0)
        ),
    ))
}

fn p99_at_80(runs: &Runs<'_>, scenario: &str) -> Option<(f64, String)> {
    let r = open_at(runs, scenario, 0.8)?;
    Some((
        r.p99_us as f64 / 1e3,
        format!(
            "{scenario} open loop {:.0}/s: p50 {} µs, p99 {} µs, p99.9 {} µs; the driver sent \
             p99 {} µs late",
            r.rate.unwrap_or(0.0),
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.extra.get("send_lag_p99_us").copied().unwrap_or(0.0)
        ),
    ))
}

fn p50_ratio(runs: &Runs<'_>, scenario: &str) -> Option<(f64, String)> {
    let s = at_concurrency(runs, scenario, 1)?;
    let b0 = at_concurrency(runs, "b0", 1)?;
    let script = at_concurrency(runs, "b1-denied", 1)?;
    let base = (b0.p50_us + script.p50_us) as f64;
    Some((
        div(s.p50_us as f64, base)?,
        format!(
            "{scenario} p50 {} µs ÷ (B0 {} µs + one script {} µs)",
            s.p50_us, b0.p50_us, script.p50_us
        ),
    ))
}

const RATIOS: &[Ratio] = &[
    Ratio {
        name: "S1 req/s ÷ B0",
        goal: Goal::AtLeast(0.5),
        unit: "",
        compute: |r, _| throughput_ratio(r, "s1", "b0"),
    },
    Ratio {
        name: "S3 req/s ÷ B0",
        goal: Goal::AtLeast(0.5),
        unit: "",
        compute: |r, _| throughput_ratio(r, "s3", "b0"),
    },
    Ratio {
        name: "S1 req/s ÷ B1 (its two scripts)",
        goal: Goal::AtLeast(0.8),
        unit: "",
        compute: |r, _| throughput_ratio(r, "s1", "b1-start-login"),
    },
    Ratio {
        name: "S3 req/s ÷ B1 (verify script)",
        goal: Goal::AtLeast(0.8),
        unit: "",
        compute: |r, _| throughput_ratio(r, "s3", "b1-verify"),
    },
    Ratio {
        name: "S2 req/s ÷ S1 req/s",
        goal: Goal::AtLeast(1.5),
        unit: "",
        compute: |r, _| throughput_ratio(r, "s2", "s1"),
    },
    Ratio {
        name: "S4 logins/s ÷ (permits × 1000 / B2 ms)",
        goal: Goal::AtLeast(0.95),
        unit: "",
        compute: |r, _| {
            let s = peak(r, "s4")?;
            let rate = *s.extra.get("hash_rate")?;
            Some((
                div(s.rps, rate)?,
                format!(
                    "{:.1} logins/s (c={}) ÷ {:.1} (permits {}, B2 {:.1} ms)",
                    s.rps,
                    s.concurrency.unwrap_or(0),
                    rate,
                    s.extra.get("hash_permits").copied().unwrap_or(0.0),
                    s.extra.get("b2_ms").copied().unwrap_or(0.0)
                ),
            ))
        },
    },
    Ratio {
        name: "S6 req/s ÷ B0",
        goal: Goal::AtLeast(0.7),
        unit: "",
        compute: |r, _| throughput_ratio(r, "s6", "b0"),
    },
    Ratio {
        name: "S1 p50 at c=1 ÷ (B0 p50 + one script)",
        goal: Goal::AtMost(1.5),
        unit: "",
        compute: |r, _| p50_ratio(r, "s1"),
    },
    Ratio {
        name: "S1 p99 at 80 % load",
        goal: Goal::AtMost(2.0),
        unit: " ms",
        compute: |r, _| p99_at_80(r, "s1"),
    },
    Ratio {
        name: "S3 p99 at 80 % load",
        goal: Goal::AtMost(2.0),
        unit: " ms",
        compute: |r, _| p99_at_80(r, "s3"),
    },
    Ratio {
        name: "S6 p99 at 80 % load",
        goal: Goal::AtMost(2.0),
        unit: " ms",
        compute: |r, _| p99_at_80(r, "s6"),
    },
    Ratio {
        name: "S5 VerifyCode p99 beside S4 ÷ alone",
        goal: Goal::AtMost(1.3),
        unit: "",
        compute: |r, _| {
            let s = first(r, "s5")?;
            Some((
                *s.extra.get("isolation")?,
                format!(
                    "p99 {} µs beside ÷ {} µs alone at {:.0}/s; S4 beside {:.1} logins/s",
                    s.p99_us,
                    s.extra.get("p99_alone_us").copied().unwrap_or(0.0),
                    s.rate.unwrap_or(0.0),
                    s.extra.get("s4_rps_beside").copied().unwrap_or(0.0)
                ),
            ))
        },
    },
    Ratio {
        name: "S1 p99, SMS provider 200 ms ÷ 0 ms (issue 5)",
        goal: Goal::AtMost(1.2),
        unit: "",
        compute: |r, _| {
            let slow = at_concurrency(r, "s1-known-slow-sms", 64)?;
            let fast = at_concurrency(r, "s1-known", 64)?;
            Some((
                div(slow.p99_us as f64, fast.p99_us as f64)?,
                format!(
                    "StartLogin for users at c=64: p99 {} µs with a 200 ms provider ÷ {} µs with \
                     one answering at once",
                    slow.p99_us, fast.p99_us
                ),
            ))
        },
    },
    Ratio {
        name: "twostepd RSS at c=256",
        goal: Goal::None,
        unit: " MiB",
        compute: |r, permits| {
            let at_256: Vec<(&str, u64)> = r
                .iter()
                .filter(ok)
                .filter(|x| x.concurrency == Some(256))
                .filter_map(|x| Some((x.scenario.as_str(), twostepd_rss_kib(x)?)))
                .collect();
            let rss = at_256.iter().map(|(_, kib)| *kib).max()?;
            let idle = first(r, "idle")
                .and_then(|i| i.extra.get("rss_kib").copied())
                .unwrap_or(0.0);
            let each: Vec<String> = at_256
                .iter()
                .map(|(s, kib)| format!("{s} {:.0}", *kib as f64 / 1024.0))
                .collect();
            Some((
                rss as f64 / 1024.0,
                format!(
                    "target 64 + 19 × {permits} permits; idle {:.1} MiB; at c=256 (MiB, in run order): {}",
                    idle / 1024.0,
                    each.join(", ")
                ),
            ))
        },
    },
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown of all placements found in `input`.
pub fn render(all: &[RunResult], hash_permits: usize) -> String {
    let mut by_place: BTreeMap<&str, BTreeMap<&str, Runs<'_>>> = BTreeMap::new();
    for r in all {
        let (place, rep) = split_label(&r.label);
        by_place
            .entry(place)
            .or_default()
            .entry(rep)
            .or_default()
            .push(r);
    }
    let mut out = String::new();
    for (place, reps) in &by_place {
        let _ = writeln!(
            out,
            "### {} ({} repetition{})\n",
            if place.is_empty() { "runs" } else { place },
            reps.len(),
            if reps.len() == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "| ratio | target | median | spread over reps | status | figures (last rep) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for ratio in RATIOS {
            let mut values = Vec::new();
            let mut detail = String::new();
            for runs in reps.values() {
                if let Some((v, d)) = (ratio.compute)(runs, hash_permits) {
                    values.push(v);
                    detail = d;
                }
            }
            if values.is_empty() {
                let why = skipped_reason(reps, ratio.name);
                let _ = writeln!(
                    out,
                    "| {} | {} | — | — | not measured | {why} |",
                    ratio.name,
                    ratio.goal.text(ratio.unit)
                );
                continue;
            }
            let (lo, hi) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            let med = median(&mut values);
            let goal = if ratio.name.starts_with("twostepd RSS") {
                Goal::AtMost((64 + 19 * hash_permits) as f64)
            } else {
                ratio.goal
            };
            let _ = writeln!(
                out,
                "| {} | {} | {}{} | {}–{} | {} | {} |",
                ratio.name,
                goal.text(ratio.unit),
                fmt_num(med),
                ratio.unit,
                fmt_num(lo),
                fmt_num(hi),
                goal.met(med),
                detail
            );
        }
        out.push('\n');
        out.push_str(&runs_table(reps));
        out.push('\n');
    }
    out
}

fn skipped_reason(reps: &BTreeMap<&str, Runs<'_>>, name: &str) -> String {
    let wanted = if name.starts_with("S3") || name.starts_with("S5") {
        ["s3", "s5"].as_slice()
    } else {
        [].as_slice()
    };
    reps.values()
        .flat_map(|runs| runs.iter())
        .find(|r| wanted.contains(&r.scenario.as_str()) && r.skipped.is_some())
        .and_then(|r| r.skipped.clone())
        .map_or_else(|| "no run".to_owned(), |why| format!("skipped: {why}"))
}

/// Every run, medians over repetitions.
fn runs_table(reps: &BTreeMap<&str, Runs<'_>>) -> String {
    let mut groups: BTreeMap<(String, String), Vec<&RunResult>> = BTreeMap::new();
    for runs in reps.values() {
        for r in runs.iter().filter(ok) {
            if r.scenario == "idle" {
                continue;
            }
            let load = match (r.mode.as_str(), r.concurrency, r.extra.get("rate_frac")) {
                ("open", _, Some(f)) => format!("open {:.0} %", f * 100.0),
                ("open", _, None) => format!("open {:.0}/s", r.rate.unwrap_or(0.0)),
                (_, Some(c), _) => format!("c={c:>3}"),
                _ => r.mode.clone(),
            };
            groups
                .entry((r.scenario.clone(), load))
                .or_default()
                .push(r);
        }
    }
    let mut out = String::from(
        "| scenario | load | req/s (median) | req/s spread | p50 µs | p90 µs | p99 µs | p99.9 µs | unexpected answers | server CPU µs/req | driver cores | other cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for ((scenario, load), rs) in &groups {
        let med = |f: &dyn Fn(&RunResult) -> f64| {
            let mut v: Vec<f64> = rs.iter().map(|r| f(r)).collect();
            median(&mut v)
        };
        let rps: Vec<f64> = rs.iter().map(|r| r.rps).collect();
        let (lo, hi) = rps
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
        let mut unexpected = 0;
        for r in rs {
            unexpected += r.unexpected;
            for (k, v) in &r.codes {
                *errors.entry(k.as_str()).or_insert(0) += v;
            }
        }
        let errors = if unexpected == 0 {
            "0".to_owned()
        } else {
            let list: Vec<String> = errors
                .iter()
                .filter(|(k, _)| **k != "OK")
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            format!("{unexpected} ({})", list.join(", "))
        };
        let server = med(&|r| r.watched.values().map(|u| u.cpu_us_per_req).sum());
        let truncated = if rs.iter().any(|r| r.truncated) {
            " (window cut: pool used up)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {scenario} | {load} | {}{truncated} | {}–{} | {:.0} | {:.0} | {:.0} | {:.0} | {errors} | {} | {:.2} | {:.2} |",
            fmt_num(med(&|r| r.rps)),
            fmt_num(lo),
            fmt_num(hi),
            med(&|r| r.p50_us as f64),
            med(&|r| r.p90_us as f64),
            med(&|r| r.p99_us as f64),
            med(&|r| r.p999_us as f64),
            if server > 0.0 {
                format!("{server:.0}")
            } else {
                "—".to_owned()
            },
            med(&|r| r.driver.cores),
            med(&|r| r.other_cores),
        );
    }
    out
}

pub fn write(
    input: &Path,
    output: Option<&Path>,
    preamble: Option<&Path>,
    hash_permits: usize,
) -> anyhow::Result<()> {
    let runs = result::read_all(input)?;
    let mut text = String::new();
    if let Some(p) = preamble {
        text.push_str(
            &std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?,
        );
        text.push('\n');
    }
    text.push_str(&render(&runs, hash_permits));
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scenario: &str, label: &str, c: usize, rps: f64) -> RunResult {
        RunResult {
            scenario: scenario.into(),
            label: label.into(),
            mode: "closed".into(),
            concurrency: Some(c),
            rps,
            ..RunResult::default()
        }
    }

    #[test]
    fn ratios_are_taken_within_a_repetition_then_medianed() {
        let runs = vec![
            run("b0", "pinned/rep1", 64, 1000.0),
            run("s6", "pinned/rep1", 64, 800.0),
            run("b0", "pinned/rep2", 64, 2000.0),
            run("s6", "pinned/rep2", 16, 1000.0),
            run("s6", "pinned/rep2", 64, 1200.0),
        ];
        let md = render(&runs, 1);
        // rep1: 0.8, rep2: 0.6; median 0.7.
        assert!(
            md.contains("| S6 req/s ÷ B0 | ≥ 0.7 | 0.70 | 0.60–0.80 | met |"),
            "{md}"
        );
        assert!(
            md.contains("| S1 req/s ÷ B0 | ≥ 0.5 | — | — | not measured |"),
            "{md}"
        );
    }
}
