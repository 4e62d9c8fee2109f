//! Passwords: length rules, and argon2id hashing off the async runtime behind a semaphore.
//!
//! Hashing is the one expensive thing twostep does. It runs on `permits` threads of its own,
//! never on the async workers, and a caller first takes a slot (moved into the job, so it is
//! released when the hash is done even if the RPC was cancelled). There are
//! [`SLOTS_PER_THREAD`] slots per thread: one hash running and one queued behind it, so that
//! a thread that finishes a hash starts the next at once instead of idling until an async
//! worker wakes, takes the freed slot and hands a job over (under S4 the hash thread's share
//! of busy time went from 94.5 % to 95.1 % with it: small, since that wake-up is quick). A
//! caller that cannot get a slot within the bounded wait gets `RateLimited`
//! (RESOURCE_EXHAUSTED) rather than queueing without limit; one that gets one waits at most
//! one more hash.
//!
//! The hash threads run at nice 10 (or, configured, under `SCHED_IDLE`: `hash_scheduling`
//! says why nice 10 is the default), so that on a busy core the async workers, Redis and
//! PostgreSQL get ahead of a hash: code traffic keeps its latency during a burst of password
//! logins (S5 in BENCHMARKS.md). On an idle core a hash runs at full speed.
//!
//! Each thread has its own argon2 memory (19 MiB at the default cost), allocated on its first
//! hash and reused: argon2's own `hash_password` allocates and frees a block that size per
//! call, and glibc, after the first such free, raises its mmap threshold and keeps the later
//! blocks in its arenas, so RSS grew to hundreds of MiB after a burst of logins.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use unicode_normalization::UnicodeNormalization;

use crate::error::CoreError;
pub use crate::hash_scheduling::HashPriority;
use crate::hash_scheduling::{HashScheduling, HashThreadScheduling, PROMOTE_AFTER};

/// Input longer than this is refused before hashing, so nobody can make us hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as typed. Redacted in `Debug`, zeroed on drop.
#[derive(Clone)]
pub struct Password(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("TOO_SHORT: must have at least {0} characters")]
    TooShort(u32),
    #[error("TOO_LONG: must be at most 1024 bytes")]
    TooLong,
}

impl Password {
    /// Accepts input to check against a stored hash: only the size bound applies. The text is
    /// NFKC-normalised, so the same password typed on different keyboards hashes the same.
    pub fn for_login(input: &str) -> Result<Self, PasswordError> {
        if input.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(SecretString::from(input.nfkc().collect::<String>())))
    }

    /// Accepts a new password under the length policy. Length counts Unicode code points, and
    /// nothing is ever truncated.
    pub fn new_checked(input: &str, min_chars: u32) -> Result<Self, PasswordError> {
        let pw = Self::for_login(input)?;
        let chars = u32::try_from(pw.0.expose_secret().chars().count()).unwrap_or(u32::MAX);
        if chars < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        Ok(pw)
    }

    /// The normalised text, for the policy checks in `password_policy`.
    pub(crate) fn normalised(&self) -> &str {
        self.0.expose_secret()
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2id cost parameters; the defaults are the OWASP minimum (m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    pub matches: bool,
    /// The stored hash used weaker parameters than the current policy: store a new one.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// Hashes that may be running or queued at each hash thread: see the module docs.
pub const SLOTS_PER_THREAD: usize = 2;

struct Inner {
    /// `SLOTS_PER_THREAD` per hash thread.
    slots: Arc<Semaphore>,
    /// The hash threads' queue; they stop when the last hasher clone drops it.
    jobs: mpsc::Sender<Job>,
    /// Kept for its watchdog, which stops when the last hasher clone drops this.
    _scheduling: HashScheduling,
    cost: HashCost,
    max_wait: Duration,
    /// A real hash of a random password, verified when the user does not exist so that an
    /// unknown login costs the same as a known one (R19).
    dummy_hash: String,
}

impl PasswordHasher {
    /// Hash threads at the default [`HashPriority`].
    pub fn new(cost: HashCost, permits: usize, max_wait: Duration) -> Result<Self, CoreError> {
        Self::with_priority(cost, permits, max_wait, HashPriority::default())
    }

    pub fn with_priority(
        cost: HashCost,
        permits: usize,
        max_wait: Duration,
        priority: HashPriority,
    ) -> Result<Self, CoreError> {
        let mut random = [0u8; 24];
        OsRng.unwrap_err().try_fill_bytes(&mut random).unwrap_or(());
        let dummy = Password(SecretString::from(hex::encode(random)));
        let dummy_hash = hash_blocking(cost, &dummy, &mut Vec::new())?;
        let permits = permits.max(1);
        let scheduling = HashScheduling::start(permits, priority, PROMOTE_AFTER);
        let jobs = start_threads(&scheduling, permits)?;
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(permits * SLOTS_PER_THREAD)),
                jobs,
                _scheduling: scheduling,
                cost,
                max_wait,
                dummy_hash,
            }),
        })
    }

    /// One hash at the configured cost, off the async runtime.
    pub async fn hash(&self, password: &Password) -> Result<String, CoreError> {
        let cost = self.inner.cost;
        let password = password.clone();
        self.run(move |memory| hash_blocking(cost, &password, memory))
            .await?
    }

    /// Verifies against `stored`, or against the dummy hash when there is no stored hash, so
    /// both cases take the same time; the dummy never matches.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<PasswordCheck, CoreError> {
        let real = stored.is_some();
        let stored = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let password = password.clone();
        let cost = self.inner.cost;
        let check = self
            .run(move |memory| verify_blocking(cost, &password, &stored, memory))
            .await?;
        Ok(PasswordCheck {
            matches: check.matches && real,
            needs_rehash: check.needs_rehash && real,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let slots = Arc::clone(&self.inner.slots);
        let slot = tokio::time::timeout(self.inner.max_wait, slots.acquire_owned())
            .await
            .map_err(|_| CoreError::RateLimited {
                retry_after: Duration::from_secs(1),
            })?
            .map_err(|e| CoreError::Internal(e.into()))?;
        let (answer_tx, answer_rx) = oneshot::channel();
        let job = Job {
            slot,
            work: Box::new(move |memory| {
                // The caller may be gone (a cancelled RPC); the hash was still done.
                let _ = answer_tx.send(work(memory));
            }),
        };
        self.inner
            .jobs
            .send(job)
            .map_err(|_| CoreError::Internal("the password hash threads stopped".into()))?;
        answer_rx
            .await
            .map_err(|_| CoreError::Internal("a password hash thread failed".into()))
    }
}

/// One hash for a hash thread, with the slot it holds until it is done.
struct Job {
    slot: OwnedSemaphorePermit,
    work: HashWork,
}

/// A hash to run in the thread's argon2 memory; it sends its own answer.
type HashWork = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Starts `count` hash threads sharing one queue; they end when its sender is dropped.
fn start_threads(
    scheduling: &HashScheduling,
    count: usize,
) -> Result<mpsc::Sender<Job>, CoreError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..count {
        let rx = Arc::clone(&rx);
        let scheduling = scheduling
            .thread(i)
            .ok_or_else(|| CoreError::Internal("no scheduling slot for a hash thread".into()))?;
        std::thread::Builder::new()
            .name(format!("twostep-argon2-{i}"))
            .spawn(move || hash_thread(&rx, &scheduling))
            .map_err(|e| CoreError::Internal(e.into()))?;
    }
    Ok(tx)
}

fn hash_thread(jobs: &Mutex<mpsc::Receiver<Job>>, scheduling: &HashThreadScheduling) {
    scheduling.enter();
    let mut memory = Vec::new();
    loop {
        // The lock is held only while waiting for the next job, never during a hash.
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        scheduling.hash_starts();
        (job.work)(&mut memory);
        scheduling.hash_ends();
        drop(job.slot);
    }
}

fn hash_blocking(
    cost: HashCost,
    password: &Password,
    memory: &mut Vec<Block>,
) -> Result<String, CoreError> {
    let internal = |e: &dyn fmt::Display| CoreError::Internal(e.to_string().into());
    let mut salt = [0u8; 16];
    OsRng.unwrap_err().try_fill_bytes(&mut salt).unwrap_or(());
    let salt = SaltString::encode_b64(&salt).map_err(|e| internal(&e))?;
    let params = Params::new(cost.m_kib, cost.t, cost.p, Some(32)).map_err(|e| internal(&e))?;
    let hash = hash_in(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        password.bytes(),
        salt.as_salt(),
        memory,
    )
    .map_err(|e| internal(&e))?;
    Ok(hash.to_string())
}

/// What argon2's `PasswordHasher::hash_password_customized` computes, in `memory` (grown to
/// the parameters' size when it is smaller) instead of a fresh allocation.
fn hash_in<'a>(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut Vec<Block>,
) -> Result<PasswordHash<'a>, argon2::password_hash::Error> {
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let output = Output::init_with(output_len, |out| {
        Ok(argon2.hash_password_into_with_memory(
            password,
            salt_bytes,
            out,
            &mut memory[..blocks],
        )?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

fn verify_blocking(
    cost: HashCost,
    password: &Password,
    stored: &str,
    memory: &mut Vec<Block>,
) -> PasswordCheck {
    let no = PasswordCheck {
        matches: false,
        needs_rehash: false,
    };
    let Ok(parsed) = PasswordHash::new(stored) else {
        return no;
    };
    // Verification uses the algorithm and parameters recorded in the hash itself.
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return no;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let weaker = algorithm != Algorithm::Argon2id
        || params.m_cost() < cost.m_kib
        || params.t_cost() < cost.t;
    // Output's equality is constant-time.
    let matches = hash_in(algorithm, version, params, password.bytes(), salt, memory)
        .is_ok_and(|computed| computed.hash == Some(expected));
    PasswordCheck {
        matches,
        needs_rehash: matches && weaker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashCost {
        HashCost {
            m_kib: 1024,
            t: 1,
            p: 1,
        }
    }

    #[tokio::test]
    async fn r21_hashes_are_argon2id_phc_with_random_salt() {
        let hasher = PasswordHasher::new(HashCost::default(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::new_checked("correct horse battery staple", 12).unwrap();
        let a = hasher.hash(&pw).await.unwrap();
        let b = hasher.hash(&pw).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        let check = hasher.verify(&pw, Some(&a)).await.unwrap();
        assert_eq!(
            check,
            PasswordCheck {
                matches: true,
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn weaker_hashes_are_flagged_for_rehash() {
        let weak = PasswordHasher::new(cheap(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("whatever it is").unwrap();
        let old = weak.hash(&pw).await.unwrap();
        let strong = PasswordHasher::new(
            HashCost {
                m_kib: 2048,
                t: 1,
                p: 1,
            },
            1,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            strong.verify(&pw, Some(&old)).await.unwrap(),
            PasswordCheck {
                matches: true,
                needs_rehash: true
            }
        );
        let wrong = Password::for_login("something else").unwrap();
        assert_eq!(
            strong.verify(&wrong, Some(&old)).await.unwrap(),
            PasswordCheck {
                matches: false,
                needs_rehash: false
            }
        );
    }

    /// The hashes made in the pooled memory are argon2's own, both ways.
    #[tokio::test]
    async fn pooled_hashes_match_argon2s_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("correct horse battery staple").unwrap();
        let ours = hasher.hash(&pw).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(pw.bytes(), &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let params = Params::new(1024, 1, 1, Some(32)).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(pw.bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify(&pw, Some(&theirs)).await.unwrap().matches);
        let wrong = Password::for_login("correct horse battery stapler").unwrap();
        assert!(!hasher.verify(&wrong, Some(&theirs)).await.unwrap().matches);
        // An argon2i hash with more memory than the pool's still verifies, and wants a rehash.
        let heavier = Params::new(2048, 1, 1, Some(32)).unwrap();
        let old = Argon2::new(Algorithm::Argon2i, Version::V0x13, heavier)
            .hash_password(pw.bytes(), &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            hasher.verify(&pw, Some(&old)).await.unwrap(),
            PasswordCheck {
                matches: true,
                needs_rehash: true
            }
        );
    }

    /// The hash threads run below the async workers' priority (S5: code traffic preempts them).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hash_threads_run_at_a_lower_priority() {
        let hasher = PasswordHasher::new(cheap(), 2, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("anything at all").unwrap();
        hasher.hash(&pw).await.unwrap();
        // The thread that did not hash may not have run yet: wait (bounded) for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let nices = loop {
            let nices = hash_thread_nices();
            if nices.len() >= 2 && nices.iter().all(|n| n == "10")
                || std::time::Instant::now() > deadline
            {
                break nices;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(nices.len() >= 2, "{nices:?}");
        assert!(nices.iter().all(|n| n == "10"), "{nices:?}");
    }

    /// The nice value of each hash thread of this process.
    #[cfg(target_os = "linux")]
    fn hash_thread_nices() -> Vec<String> {
        let mut nices = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.trim().starts_with("twostep-argon2") {
                let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
                // Field 19 is the nice value; the fields after the ")" of comm start at 3.
                if let Some((_, after)) = stat.rsplit_once(')') {
                    nices.extend(after.split_whitespace().nth(16).map(str::to_owned));
                }
            }
        }
        nices
    }

    /// One hash runs and one waits per thread; a caller beyond those gets `RateLimited`
    /// after the bounded wait, and the queued one runs as soon as the thread is free.
    #[tokio::test]
    async fn a_caller_beyond_the_slots_is_refused_after_the_bounded_wait() {
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_millis(100)).unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let running = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run(move |_| release_rx.recv().is_ok()).await })
        };
        let queued = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run(|_| true).await })
        };
        // Both slots taken (the first job blocks its thread until released).
        while hasher.inner.slots.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pw = Password::for_login("anything at all").unwrap();
        let refused = hasher.hash(&pw).await.unwrap_err();
        assert!(
            matches!(refused, CoreError::RateLimited { .. }),
            "{refused:?}"
        );
        release_tx.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert!(queued.await.unwrap().unwrap());
        assert!(hasher.hash(&pw).await.is_ok());
    }

    #[tokio::test]
    async fn an_unknown_user_is_checked_against_the_dummy_and_never_matches() {
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_secs(5)).unwrap();
        let pw = Password::for_login("anything at all").unwrap();
        assert!(!hasher.verify(&pw, None).await.unwrap().matches);
    }

    #[test]
    fn length_rules_count_code_points_and_bound_bytes() {
        assert_eq!(
            Password::new_checked("short", 12).unwrap_err(),
            PasswordError::TooShort(12)
        );
        assert!(Password::new_checked(&"😀".repeat(12), 12).is_ok());
        assert!(Password::new_checked(&"a".repeat(128), 12).is_ok());
        assert_eq!(
            Password::new_checked(&"a".repeat(1025), 12).unwrap_err(),
            PasswordError::TooLong
        );
    }
}
