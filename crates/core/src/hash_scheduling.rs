//! Where the password hash threads sit in the kernel's scheduler.
//!
//! By default ([`HashPriority::Nice`]) they run under `SCHED_OTHER` at nice 10: below the
//! async workers, so a busy core still favours code traffic, but not so low that the kernel
//! treats their core as idle. Measured on 2026-12-04 (S4 and S5 in BENCHMARKS.md, three runs
//! of each setting, unpinned): under `SCHED_IDLE` the hash thread ran 94.5 % of the time it
//! had work against 99.9 % at nice 10, because the kernel places every wake-up (async
//! workers, Redis, PostgreSQL) on a core that runs only `SCHED_IDLE` tasks, preempting the
//! hash; password logins ÷ hash rate read 0.78–0.89 under `SCHED_IDLE` and 0.94–1.00 at
//! nice 10, while S5's VerifyCode p99 ratio was no better under `SCHED_IDLE` (1.06–3.31
//! against 0.93–1.87).
//!
//! [`HashPriority::Idle`] (`security.password_hash_idle`) keeps the stricter policy for a
//! deployment that wants any runnable task to preempt a hash at once. There a hash starts
//! under `SCHED_IDLE`. The kernel preempts a task of that policy as soon as a normal task
//! wakes on its core, so an async worker, Redis or PostgreSQL never waits out the rest of a
//! hash's time slice. That was the reason for the policy (S5's p99 looked like such waits);
//! the A/B above did not bear it out.
//!
//! `SCHED_IDLE` alone would let a core that never idles starve password logins (a flood of
//! code traffic would lock everybody out of them), so a watchdog moves a hash that has been
//! running for longer than [`PROMOTE_AFTER`] to `SCHED_OTHER` at nice 10, where it gets a share
//! of the core again; its thread goes back to `SCHED_IDLE` when that hash is done. A hash at
//! full speed takes 18 to 45 ms, so only hashes slowed down by contention are promoted.
//!
//! Leaving `SCHED_IDLE` takes `CAP_SYS_NICE` or an `RLIMIT_NICE` of at least 10. A thread that
//! entered it without either could never leave, so a throwaway thread tries the round trip
//! first; where it fails, the hash threads stay under `SCHED_OTHER` at nice 10 and a warning
//! says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How long a hash runs under `SCHED_IDLE` before it is given a share of a busy core.
pub(crate) const PROMOTE_AFTER: Duration = Duration::from_millis(200);

/// The niceness of the hash threads: below the async workers (0), above nothing else.
pub(crate) const HASH_THREAD_NICE: i32 = 10;

/// The kernel policy of the password hash threads; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HashPriority {
    /// `SCHED_OTHER` at nice 10.
    #[default]
    Nice,
    /// `SCHED_IDLE`, promoted to nice 10 for a hash running longer than [`PROMOTE_AFTER`].
    Idle,
}

/// The scheduling of a set of hash threads: one slot per thread, watched while hashes run.
/// Dropping it stops the watchdog.
pub(crate) struct HashScheduling {
    /// The watchdog holds only a weak reference: it ends when this is dropped.
    slots: Arc<Vec<Arc<Slot>>>,
    idle: bool,
}

/// What one hash thread calls around its hashes.
pub(crate) struct HashThreadScheduling {
    slot: Arc<Slot>,
    idle: bool,
}

#[derive(Default)]
struct Slot {
    thread: OnceLock<sys::ThreadId>,
    /// When the running hash started; `None` between hashes. The watchdog promotes the thread
    /// while holding this lock, so a thread is only ever promoted during a hash, never after
    /// it has gone on (or exited).
    started: Mutex<Option<Instant>>,
    promoted: AtomicBool,
}

impl HashScheduling {
    /// Slots for `threads` hash threads at `priority`; under [`HashPriority::Idle`], a hash
    /// is promoted after `promote_after` (see the module).
    pub(crate) fn start(threads: usize, priority: HashPriority, promote_after: Duration) -> Self {
        let slots: Arc<Vec<Arc<Slot>>> =
            Arc::new((0..threads).map(|_| Arc::new(Slot::default())).collect());
        if priority == HashPriority::Nice {
            return Self { slots, idle: false };
        }
        let idle =
            sys::idle_round_trip_works() && start_watchdog(Arc::downgrade(&slots), promote_after);
        if !idle && cfg!(target_os = "linux") {
            tracing::warn!(
                "password hashes run at nice 10, not SCHED_IDLE: this process may not leave \
                 SCHED_IDLE (needs CAP_SYS_NICE or RLIMIT_NICE >= 10); code traffic can wait \
                 a few ms behind a hash on a busy core"
            );
        }
        Self { slots, idle }
    }

    /// The scheduling of hash thread `index` (below the count given to `start`).
    pub(crate) fn thread(&self, index: usize) -> Option<HashThreadScheduling> {
        self.slots.get(index).map(|slot| HashThreadScheduling {
            slot: Arc::clone(slot),
            idle: self.idle,
        })
    }
}

impl HashThreadScheduling {
    /// Called first on the hash thread itself: nice 10, then `SCHED_IDLE` where it can leave.
    pub(crate) fn enter(&self) {
        sys::lower_nice();
        let _ = self.slot.thread.set(sys::current());
        if self.idle && !sys::enter_idle() {
            tracing::warn!("a password hash thread could not enter SCHED_IDLE");
        }
    }

    pub(crate) fn hash_starts(&self) {
        *self.slot.lock() = Some(Instant::now());
    }

    pub(crate) fn hash_ends(&self) {
        let mut started = self.slot.lock();
        *started = None;
        drop(started);
        if self.slot.promoted.swap(false, Ordering::AcqRel) && !sys::enter_idle() {
            tracing::warn!("a promoted password hash thread could not return to SCHED_IDLE");
        }
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.started.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn promote_if_overdue(&self, promote_after: Duration) {
        let started = self.lock();
        let overdue = started.is_some_and(|at| at.elapsed() >= promote_after);
        if !overdue || self.promoted.load(Ordering::Acquire) {
            return;
        }
        if let Some(&thread) = self.thread.get() {
            if !sys::leave_idle(thread) {
                tracing::warn!("could not move a long password hash out of SCHED_IDLE");
            }
            self.promoted.store(true, Ordering::Release);
        }
        drop(started);
    }
}

/// Starts the watchdog; false when the thread could not be started (then nothing may enter
/// `SCHED_IDLE`, since nothing would bring a starved hash out of it).
fn start_watchdog(slots: Weak<Vec<Arc<Slot>>>, promote_after: Duration) -> bool {
    let tick = (promote_after / 8).max(Duration::from_millis(1));
    std::thread::Builder::new()
        // 15 characters at most (the kernel's thread name), and not a prefix of the
        // hash threads' names.
        .name("ts-argon2-watch".into())
        .spawn(move || {
            while let Some(slots) = slots.upgrade() {
                for slot in slots.iter() {
                    slot.promote_if_overdue(promote_after);
                }
                drop(slots);
                std::thread::sleep(tick);
            }
        })
        .is_ok()
}

#[cfg(target_os = "linux")]
mod sys {
    use thread_priority::ThreadPriority;
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id, thread_schedule_policy_param,
    };

    pub(super) use thread_priority::unix::ThreadId;

    const IDLE: ThreadSchedulePolicy =
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    const OTHER: ThreadSchedulePolicy =
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);

    pub(super) fn current() -> ThreadId {
        thread_native_id()
    }

    /// Sets this thread's nice value (Linux applies `setpriority` to one thread when given its
    /// id). A refusal only costs latency under load, so it is logged, not fatal.
    pub(super) fn lower_nice() {
        let me = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(me), super::HASH_THREAD_NICE) {
            tracing::warn!(error = %e, "could not lower the password hash thread's priority");
        }
    }

    /// Puts the calling thread under `SCHED_IDLE`, keeping nice 10 for when it is promoted.
    pub(super) fn enter_idle() -> bool {
        // For the normal policies the crate also calls setpriority on the calling thread with
        // the priority given (Min: 0 here, refused unless privileged); nice 10 is set again.
        let _ = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, IDLE);
        lower_nice();
        policy_of(thread_native_id()) == Some(IDLE)
    }

    /// Moves `thread` from `SCHED_IDLE` to `SCHED_OTHER`, where its nice 10 applies again.
    pub(super) fn leave_idle(thread: ThreadId) -> bool {
        // The crate then sets the *calling* thread's nice to the priority given: Max (-20)
        // suits the watchdog, whose few microseconds per tick must run on time on a busy
        // core; where that is refused, the watchdog stays at nice 0 and the policy change
        // above still happened (checked below).
        let _ = set_thread_priority_and_policy(thread, ThreadPriority::Max, OTHER);
        policy_of(thread) == Some(OTHER)
    }

    fn policy_of(thread: ThreadId) -> Option<ThreadSchedulePolicy> {
        thread_schedule_policy_param(thread)
            .ok()
            .map(|(policy, _)| policy)
    }

    /// Whether a thread can enter `SCHED_IDLE` and leave it again, tried on a throwaway thread
    /// (one that could not leave is lost to the idle policy).
    pub(super) fn idle_round_trip_works() -> bool {
        std::thread::Builder::new()
            .name("twostep-sched-probe".into())
            .spawn(|| enter_idle() && leave_idle(thread_native_id()))
            .ok()
            .and_then(|probe| probe.join().ok())
            .unwrap_or(false)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(super) type ThreadId = ();

    pub(super) fn current() -> ThreadId {}

    pub(super) fn lower_nice() {}

    pub(super) fn enter_idle() -> bool {
        false
    }

    pub(super) fn leave_idle(_thread: ThreadId) -> bool {
        false
    }

    pub(super) fn idle_round_trip_works() -> bool {
        false
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    /// Policy and nice value of each thread of this process whose name starts with `prefix`.
    fn threads_named(prefix: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.trim() == prefix {
                let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
                // After the ")" that ends comm, fields start at 3: nice is 19, policy is 41.
                if let Some((_, after)) = stat.rsplit_once(')') {
                    let fields: Vec<&str> = after.split_whitespace().collect();
                    found.push((fields[38].to_owned(), fields[16].to_owned()));
                }
            }
        }
        found
    }

    /// Waits (bounded) until `name`'s thread has `policy` and nice 10; answers what it saw.
    fn wait_for(name: &str, policy: &str) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = threads_named(name);
            if seen.iter().any(|(p, n)| p == policy && n == "10") || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SCHED_IDLE is 5 and SCHED_OTHER 0 in /proc's policy field.
    #[test]
    fn a_hash_thread_starts_idle_and_a_long_hash_is_promoted_then_returned() {
        let scheduling = HashScheduling::start(1, HashPriority::Idle, Duration::from_millis(20));
        let this = scheduling.thread(0).unwrap();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("ts-sched-test".into())
            .spawn(move || {
                this.enter();
                // Each step waits for the test; a dropped sender ends the thread.
                if wait.recv().is_err() {
                    return;
                }
                this.hash_starts();
                // The "hash" runs until the test has seen the promotion.
                if wait.recv().is_err() {
                    return;
                }
                this.hash_ends();
                let _ = done.send(());
                let _ = wait.recv();
            })
            .unwrap();
        if !scheduling.idle {
            // Not permitted here: the thread runs under SCHED_OTHER at nice 10.
            assert!(wait_for("ts-sched-test", "0").contains(&("0".into(), "10".into())));
            drop(go);
            worker.join().unwrap();
            return;
        }
        let idle = ("5".to_owned(), "10".to_owned());
        let other = ("0".to_owned(), "10".to_owned());
        assert_eq!(wait_for("ts-sched-test", "5"), vec![idle.clone()]);
        go.send(()).unwrap();
        assert_eq!(wait_for("ts-sched-test", "0"), vec![other]);
        go.send(()).unwrap();
        finished.recv().unwrap();
        assert_eq!(wait_for("ts-sched-test", "5"), vec![idle]);
        drop(go);
        worker.join().unwrap();
    }
}
