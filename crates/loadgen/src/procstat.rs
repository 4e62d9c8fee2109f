//! CPU time and resident memory of this process and of watched server processes, from
//! `/proc` (Linux). A watched process counts with its direct children, so a PostgreSQL
//! postmaster brings its backends.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::window_command::WindowCommand;

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The processes to watch, by name (`twostepd=1234`), and what to run beside them over the
/// window (a profiler).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub pids: Vec<(String, u32)>,
    pub window_command: Option<WindowCommand>,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Instant,
    /// CPU ticks of this process.
    pub driver_ticks: u64,
    /// Busy CPU ticks of the whole machine (all cores), from `/proc/stat`.
    pub system_ticks: u64,
    /// CPU ticks (with direct children) and RSS in KiB of each watched process.
    pub watched: BTreeMap<String, (u64, u64)>,
}

/// CPU use of a process over a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time per request in the window, µs.
    pub cpu_us_per_req: f64,
    /// Cores used on average (1.0 = one core busy all the time).
    pub cores: f64,
    /// Resident memory at the window's end, KiB.
    pub rss_kib: u64,
}

impl Watch {
    pub fn parse(specs: &[String]) -> anyhow::Result<Self> {
        let mut pids = Vec::new();
        for spec in specs {
            let Some((name, pid)) = spec.split_once('=') else {
                anyhow::bail!("--watch takes NAME=PID, got {spec:?}");
            };
            let pid: u32 = pid
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--watch {spec:?}: not a process id"))?;
            pids.push((name.trim().to_owned(), pid));
        }
        Ok(Self {
            pids,
            window_command: None,
        })
    }

    pub fn with_window_command(mut self, line: Option<&str>) -> Self {
        self.window_command = line.and_then(WindowCommand::new);
        self
    }

    pub fn snapshot(&self) -> Snapshot {
        let at = Instant::now();
        let driver_ticks = stat(std::process::id()).map_or(0, |s| s.ticks);
        let mut watched = BTreeMap::new();
        if !self.pids.is_empty() {
            let all = all_stats();
            for (name, pid) in &self.pids {
                let own = all.iter().find(|s| s.pid == *pid).map_or(0, |s| s.ticks);
                let children: u64 = all.iter().filter(|s| s.ppid == *pid).map(|s| s.ticks).sum();
                watched.insert(name.clone(), (own + children, rss_kib(*pid).unwrap_or(0)));
            }
        }
        Snapshot {
            at,
            driver_ticks,
            system_ticks: system_busy_ticks().unwrap_or(0),
            watched,
        }
    }
}

/// Cores busy with anything but the driver and the watched processes between two
/// snapshots: other work on the machine, which makes a run noisy.
pub fn others(before: &Snapshot, after: &Snapshot) -> f64 {
    let secs = (after.at - before.at).as_secs_f64().max(1e-9);
    let ours: u64 = after.driver_ticks.saturating_sub(before.driver_ticks)
        + after
            .watched
            .iter()
            .map(|(name, (t, _))| t.saturating_sub(before.watched.get(name).map_or(*t, |w| w.0)))
            .sum::<u64>();
    let all = after.system_ticks.saturating_sub(before.system_ticks);
    all.saturating_sub(ours) as f64 / TICKS_PER_SEC / secs
}

/// Busy ticks summed over all cores: user, nice, system, irq, softirq, steal.
fn system_busy_ticks() -> Option<u64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    Some([0, 1, 2, 5, 6, 7].iter().filter_map(|i| v.get(*i)).sum())
}

/// Usage of the driver and of each watched process between two snapshots.
pub fn usage(
    before: &Snapshot,
    after: &Snapshot,
    requests: u64,
) -> (Usage, BTreeMap<String, Usage>) {
    let secs = (after.at - before.at).as_secs_f64().max(1e-9);
    let one = |ticks_before: u64, ticks_after: u64, rss: u64| {
        let cpu_s = ticks_after.saturating_sub(ticks_before) as f64 / TICKS_PER_SEC;
        Usage {
            cpu_us_per_req: if requests == 0 {
                0.0
            } else {
                cpu_s * 1e6 / requests as f64
            },
            cores: cpu_s / secs,
            rss_kib: rss,
        }
    };
    let driver = one(
        before.driver_ticks,
        after.driver_ticks,
        rss_kib(std::process::id()).unwrap_or(0),
    );
    let mut watched = BTreeMap::new();
    for (name, (ticks_after, rss)) in &after.watched {
        let ticks_before = before.watched.get(name).map_or(*ticks_after, |w| w.0);
        watched.insert(name.clone(), one(ticks_before, *ticks_after, *rss));
    }
    (driver, watched)
}

/// `VmRSS` of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Stat {
    pid: u32,
    ppid: u32,
    ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    parse_stat(pid, &fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Fields after the command name (which may hold spaces and parentheses): state is field 3,
/// ppid 4, utime 14, stime 15.
fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Stat {
        pid,
        ppid,
        ticks: utime + stime,
    })
}

fn all_stats() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces() {
        let line = "42 (tokio (rt) w) S 7 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 1 2 3";
        let s = parse_stat(42, line).unwrap();
        assert_eq!((s.pid, s.ppid, s.ticks), (42, 7, 281));
    }

    #[test]
    fn reads_the_machine_busy_time() {
        assert!(system_busy_ticks().unwrap() > 0);
    }

    #[test]
    fn reads_its_own_rss() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
