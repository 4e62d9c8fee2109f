//! The open loop: requests on a fixed arrival schedule, whatever the answers do.
//!
//! The schedule is kept by a thread of its own that sleeps with the OS timer (tens of µs of
//! slack): the runtime's timer wakes on whole milliseconds, which would add up to 1 ms of the
//! driver's own lateness to every latency. Each wake-up hands every request due within
//! [`EARLY`] to one of a few sending lanes as one range of sequence numbers, so the pacing
//! thread does a constant amount of work per wake-up, not per request. A lane is one task
//! that sends its ranges and polls their answers together ([`FuturesUnordered`]), so a
//! request costs the driver a call and a histogram update: no task spawned per request, no
//! cross-thread wake-up per request, no lock. (Spawning each request from the pacing thread
//! filled the driver's core at 35–51 k requests/s and sent them seconds late.)
//!
//! Latency is measured from the intended send time, so a slow answer cannot hide the requests
//! that should have been sent meanwhile (no coordinated omission). A request sent early counts
//! from when it was sent, so being early never flatters it.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Collected, Op, Recorder, Sample, Timeline};
use crate::procstat::Watch;

/// How early the open loop may send a request to save its pacing thread a sleep.
const EARLY: Duration = Duration::from_micros(100);
/// Sending lanes: enough to spread the driver's runtime workers, few enough that each lane's
/// batch is more than one request at high rates.
const LANES: usize = 4;
/// How long outstanding requests may take to finish after the window (their latency counts).
const DRAIN: Duration = Duration::from_secs(30);

/// Requests sent at `rate` per second on a fixed schedule; at most `max_inflight` outstanding
/// (beyond that sending waits, and the wait counts in latency).
pub async fn open<O: Op>(
    op: Arc<O>,
    rate: f64,
    warmup: Duration,
    window: Duration,
    max_inflight: usize,
    watch: Arc<Watch>,
) -> anyhow::Result<Collected> {
    if !(rate.is_finite() && rate > 0.0) {
        anyhow::bail!("the open-loop rate must be positive, got {rate}");
    }
    let tl = Timeline::new(warmup, window);
    let sampler = tl.sample(watch);
    let schedule = Schedule {
        start: tl.start,
        interval: Duration::from_secs_f64(1.0 / rate),
    };
    let cap = max_inflight.max(1).div_ceil(LANES);
    let mut senders = Vec::with_capacity(LANES);
    let mut lanes = Vec::with_capacity(LANES);
    for _ in 0..LANES {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        let lane = Lane {
            op: Arc::clone(&op),
            tl: Arc::clone(&tl),
            schedule,
            cap,
        };
        lanes.push(tokio::spawn(lane.run(rx)));
    }
    let pacer = {
        let tl = Arc::clone(&tl);
        tokio::task::spawn_blocking(move || pace(&tl, schedule, &senders))
    };
    pacer.await?;
    let mut rec = Recorder::new()?;
    let mut late = false;
    for lane in lanes {
        let (lane_rec, drained) = lane.await??;
        rec.merge(&lane_rec)?;
        late |= !drained;
    }
    if late {
        eprintln!("twostep-load: warning: requests still outstanding 30 s after the window");
    }
    tl.finish(rec, sampler).await
}

/// Request `seq` is due at `start + seq × interval`.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    interval: Duration,
}

impl Schedule {
    fn due(&self, seq: u64) -> Instant {
        self.start + self.interval.mul_f64(seq as f64)
    }
}

/// The pacing thread: sleeps until the next request is due, then hands every request due
/// within [`EARLY`] to the next lane. Returning drops the senders, which ends the lanes once
/// their requests are answered.
fn pace(tl: &Timeline, schedule: Schedule, lanes: &[mpsc::UnboundedSender<Range<u64>>]) {
    let mut next: u64 = 0;
    for turn in 0usize.. {
        if schedule.due(next) >= tl.end || tl.stopped() {
            return;
        }
        let now = Instant::now();
        let due = schedule.due(next);
        if due > now + EARLY {
            std::thread::sleep(due - now);
        }
        let horizon = (Instant::now() + EARLY).min(tl.end);
        let mut end = next + 1;
        while schedule.due(end) < horizon {
            end += 1;
        }
        let Some(lane) = lanes.get(turn % lanes.len()) else {
            return;
        };
        if lane.send(next..end).is_err() {
            return;
        }
        next = end;
    }
}

/// One sending task: its share of the schedule, its answers, its own recorder.
struct Lane<O> {
    op: Arc<O>,
    tl: Arc<Timeline>,
    schedule: Schedule,
    /// This lane's share of the outstanding requests.
    cap: usize,
}

/// What a request came back with, and when it was meant to leave, left and came back.
struct Answer {
    sample: Sample,
    intended: Instant,
    sent: Instant,
    done: Instant,
}

impl<O: Op> Lane<O> {
    /// Sends what the pacer hands over, as far as `cap` allows, and records the answers of
    /// requests due inside the window. Returns the recorder and whether every request was
    /// answered within [`DRAIN`] after the window.
    async fn run(
        self,
        mut ranges: mpsc::UnboundedReceiver<Range<u64>>,
    ) -> anyhow::Result<(Recorder, bool)> {
        let mut rec = Recorder::new()?;
        let mut due: VecDeque<Range<u64>> = VecDeque::new();
        let mut inflight = FuturesUnordered::new();
        let mut open = true;
        // One timer for the whole run: a new one per loop turn would cost a timer
        // registration per answer.
        let drain = tokio::time::sleep_until(self.tl.end + DRAIN);
        tokio::pin!(drain);
        loop {
            while inflight.len() < self.cap {
                let Some(seq) = pop_first(&mut due) else {
                    break;
                };
                inflight.push(self.call(seq));
            }
            if !open && inflight.is_empty() {
                return Ok((rec, true));
            }
            tokio::select! {
                range = ranges.recv(), if open => match range {
                    Some(range) => due.push_back(range),
                    None => open = false,
                },
                Some(answer) = inflight.next(), if !inflight.is_empty() => {
                    self.record(&mut rec, &answer);
                }
                () = &mut drain => return Ok((rec, false)),
            }
        }
    }

    fn call(&self, seq: u64) -> impl Future<Output = Answer> + Send + 'static {
        let op = Arc::clone(&self.op);
        let intended = self.schedule.due(seq);
        async move {
            let sent = Instant::now();
            let sample = op.call(seq).await;
            Answer {
                sample,
                intended,
                sent,
                done: Instant::now(),
            }
        }
    }

    fn record(&self, rec: &mut Recorder, answer: &Answer) {
        match answer.sample {
            Sample::Exhausted => self.tl.stop_now(),
            Sample::Done { code, expected } => {
                if answer.intended >= self.tl.window_start {
                    let from = answer.intended.min(answer.sent);
                    rec.record(answer.done.saturating_duration_since(from), code, expected);
                    rec.record_lag(answer.sent.saturating_duration_since(answer.intended));
                }
            }
        }
    }
}

/// The first sequence number still to send, taken off the queue of ranges.
fn pop_first(due: &mut VecDeque<Range<u64>>) -> Option<u64> {
    loop {
        let range = due.front_mut()?;
        if let Some(seq) = range.next() {
            return Some(seq);
        }
        due.pop_front();
    }
}
