//! The load loops: closed (a fixed number of callers, each waiting for its answer) and open
//! (a fixed arrival schedule, latency measured from the intended send time, so a slow answer
//! cannot hide the requests that should have been sent meanwhile: no coordinated omission).
//!
//! Both run a warm-up, then a measured window; only requests that start and end inside the
//! window (closed) or whose intended send time falls inside it (open) are counted.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::procstat::{Snapshot, Watch};

mod open;
pub use open::open;

/// What one call came back with.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    /// An answer (or a transport failure) with its status name, and whether the scenario
    /// expects it (a rate-limited StartLogin is expected in S2, a wrong code's
    /// UNAUTHENTICATED in S3).
    Done { code: &'static str, expected: bool },
    /// The scenario ran out of prepared inputs (challenges with codes): the run ends here.
    Exhausted,
}

impl Sample {
    pub const fn ok() -> Self {
        Self::Done {
            code: "OK",
            expected: true,
        }
    }
}

/// One kind of request. `seq` numbers the calls of a run from 0.
pub trait Op: Send + Sync + 'static {
    fn call(&self, seq: u64) -> impl Future<Output = Sample> + Send;
}

/// Latencies (µs) and answers of the measured window.
pub struct Recorder {
    pub hist: Histogram<u64>,
    /// Open loop: how late each request left against its intended time (the driver's own
    /// share of the latency).
    pub lag: Histogram<u64>,
    pub codes: BTreeMap<&'static str, u64>,
    pub expected: u64,
    pub total: u64,
}

const MAX_LATENCY_US: u64 = 120_000_000;

impl Recorder {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            lag: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            codes: BTreeMap::new(),
            expected: 0,
            total: 0,
        })
    }

    fn record(&mut self, latency: Duration, code: &'static str, expected: bool) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(MAX_LATENCY_US);
        self.hist.saturating_record(us.clamp(1, MAX_LATENCY_US));
        *self.codes.entry(code).or_insert(0) += 1;
        self.total += 1;
        if expected {
            self.expected += 1;
        }
    }

    fn record_lag(&mut self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(MAX_LATENCY_US);
        self.lag.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.hist.add(&other.hist)?;
        self.lag.add(&other.lag)?;
        for (code, n) in &other.codes {
            *self.codes.entry(code).or_insert(0) += n;
        }
        self.total += other.total;
        self.expected += other.expected;
        Ok(())
    }
}

/// The outcome of one loop: what was recorded, over how long, and the CPU and memory of the
/// watched processes across the window.
pub struct Collected {
    pub rec: Recorder,
    pub window: Duration,
    pub truncated: bool,
    pub before: Snapshot,
    pub after: Snapshot,
}

/// When the window starts and ends, and the early stop when inputs run out.
struct Timeline {
    start: Instant,
    window_start: Instant,
    end: Instant,
    /// Nanoseconds after `start` at which the inputs ran out; `u64::MAX` while they last.
    stopped_at: AtomicU64,
    stop: Notify,
}

impl Timeline {
    fn new(warmup: Duration, window: Duration) -> Arc<Self> {
        let start = Instant::now();
        Arc::new(Self {
            start,
            window_start: start + warmup,
            end: start + warmup + window,
            stopped_at: AtomicU64::new(u64::MAX),
            stop: Notify::new(),
        })
    }

    fn stopped(&self) -> bool {
        self.stopped_at.load(Ordering::Relaxed) != u64::MAX
    }

    fn stop_now(&self) {
        let at = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        if self
            .stopped_at
            .compare_exchange(u64::MAX, at, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.stop.notify_waiters();
        }
    }

    /// The measured window: to `end`, or to the early stop.
    fn measured(&self) -> anyhow::Result<(Duration, bool)> {
        let full = self.end - self.window_start;
        match self.stopped_at.load(Ordering::Relaxed) {
            u64::MAX => Ok((full, false)),
            at => {
                let stop = self.start + Duration::from_nanos(at);
                if stop <= self.window_start {
                    anyhow::bail!(
                        "the prepared inputs ran out during the warm-up: give a larger --pool or a shorter --warmup"
                    );
                }
                Ok(((stop - self.window_start).min(full), true))
            }
        }
    }

    /// Ends a run: wakes the sampler (a run that stopped early has not reached `end`), then
    /// puts what was recorded together with the window and the CPU snapshots.
    async fn finish(
        &self,
        rec: Recorder,
        sampler: tokio::task::JoinHandle<(Snapshot, Snapshot)>,
    ) -> anyhow::Result<Collected> {
        self.stop.notify_waiters();
        let (before, after) = sampler.await?;
        let (window, truncated) = self.measured()?;
        Ok(Collected {
            rec,
            window,
            truncated,
            before,
            after,
        })
    }

    /// Takes the CPU snapshots at the window's start and at its end (or the early stop).
    fn sample(
        self: &Arc<Self>,
        watch: Arc<Watch>,
    ) -> tokio::task::JoinHandle<(Snapshot, Snapshot)> {
        let tl = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(tl.window_start).await;
            let before = watch.snapshot();
            let command = watch.window_command.as_ref().and_then(|c| c.start());
            let stop = tl.stop.notified();
            tokio::pin!(stop);
            if !tl.stopped() {
                tokio::select! {
                    () = tokio::time::sleep_until(tl.end) => {}
                    () = &mut stop => {}
                }
            }
            let after = watch.snapshot();
            if let Some(running) = command {
                running.stop().await;
            }
            (before, after)
        })
    }
}

/// `concurrency` callers, each sending its next request when the previous one is answered.
pub async fn closed<O: Op>(
    op: Arc<O>,
    concurrency: usize,
    warmup: Duration,
    window: Duration,
    watch: Arc<Watch>,
) -> anyhow::Result<Collected> {
    let tl = Timeline::new(warmup, window);
    let sampler = tl.sample(watch);
    let seq = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (op, tl, seq) = (Arc::clone(&op), Arc::clone(&tl), Arc::clone(&seq));
        let mut rec = Recorder::new()?;
        workers.push(tokio::spawn(async move {
            loop {
                let start = Instant::now();
                if start >= tl.end || tl.stopped() {
                    break;
                }
                let sample = op.call(seq.fetch_add(1, Ordering::Relaxed)).await;
                let done = Instant::now();
                match sample {
                    Sample::Exhausted => {
                        tl.stop_now();
                        break;
                    }
                    Sample::Done { code, expected } => {
                        if start >= tl.window_start && done <= tl.end {
                            rec.record(done - start, code, expected);
                        }
                    }
                }
            }
            rec
        }));
    }
    let mut rec = Recorder::new()?;
    for w in workers {
        rec.merge(&w.await?)?;
    }
    tl.finish(rec, sampler).await
}
