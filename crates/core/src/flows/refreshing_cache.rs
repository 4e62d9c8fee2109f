//! [`RefreshingCache`]: values read from the database, kept in the process, and read again
//! by **one** background task once they are old, instead of by every request that finds
//! them old (the tenant cache and the API-key cache are two of these).
//!
//! Why: with a plain TTL, every request in flight when an entry expires reads it from the
//! database at once: a stampede every few seconds. And on a core kept busy by Redis-only
//! work (the refusals of an abuse burst), those requests waited behind the database's
//! scheduling for up to a second (issue 7: S2 pinned, found 2026-12-07). Here a value older
//! than `refresh_after` is still served, until it is `served_for` old, while one spawned task
//! reads it again; only a value never read, or older than `served_for` (its refreshes failed:
//! the database is down), is read on the request's path, so an outage still shows. Even
//! then it is read **once**: the requests that find it missing together wait for one read
//! (in a task of its own, so a caller that gives up does not leave the others waiting), and
//! all get its answer, its error included.
//!
//! A [`put`](RefreshingCache::put) or [`remove`](RefreshingCache::remove) made here wins over
//! a refresh or a read already running: each stored value has a generation, and a refresh
//! stores its read only over the generation it started from; a read of a missing value stores
//! its answer only while no put or remove came since it began (a key revoked here stays
//! revoked).

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::ports::RepoError;

/// The wait after a failed refresh before the next one (a down database is not asked once
/// per request).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Cheap to clone: clones share the entries.
pub struct RefreshingCache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for RefreshingCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<K, V> {
    what: &'static str,
    entries: RwLock<HashMap<K, Entry<V>>>,
    /// The reads of missing values running now, one per key. Lock order: `loads`, then
    /// `entries`.
    loads: Mutex<HashMap<K, Load<V>>>,
    generations: AtomicU64,
    refresh_after: Duration,
    served_for: Duration,
    max_entries: usize,
}

struct Entry<V> {
    value: Arc<V>,
    read_at: Instant,
    generation: u64,
    refresh: Mutex<Refresh>,
}

#[derive(Default)]
struct Refresh {
    running: bool,
    not_before: Option<Instant>,
}

/// One read of a missing value: its number (a put or remove since drops it from `loads`, and
/// then the read stores nothing) and where its answer is published.
struct Load<V> {
    ticket: u64,
    answer: watch::Receiver<Option<Answer<V>>>,
}

/// A read's answer, for every request waiting on it. `RepoError` holds a boxed source that
/// cannot be cloned, so the waiters get its kind and its sources' text.
enum Answer<V> {
    Found(Option<Arc<V>>),
    Failed { unavailable: bool, sources: String },
}

impl<V> Clone for Answer<V> {
    fn clone(&self) -> Self {
        match self {
            Self::Found(value) => Self::Found(value.clone()),
            Self::Failed {
                unavailable,
                sources,
            } => Self::Failed {
                unavailable: *unavailable,
                sources: sources.clone(),
            },
        }
    }
}

/// What a request finds.
enum Found<V> {
    Fresh(Arc<V>),
    /// Old but servable; `Some(generation)` when this request is to start its refresh.
    Old(Arc<V>, Option<u64>),
    Missing,
}

impl<V> Answer<V> {
    fn of(read: &Result<Option<Arc<V>>, RepoError>) -> Self {
        match read {
            Ok(value) => Self::Found(value.clone()),
            Err(e) => {
                let mut sources = Vec::new();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    sources.push(s.to_string());
                    source = s.source();
                }
                Self::Failed {
                    // A read conflicts with nothing: anything but unavailable is internal.
                    unavailable: matches!(e, RepoError::Unavailable(_)),
                    sources: sources.join(": "),
                }
            }
        }
    }

    fn into_result(self) -> Result<Option<Arc<V>>, RepoError> {
        match self {
            Self::Found(value) => Ok(value),
            Self::Failed {
                unavailable: true,
                sources,
            } => Err(RepoError::Unavailable(sources.into())),
            Self::Failed { sources, .. } => Err(RepoError::Internal(sources.into())),
        }
    }
}

impl<K, V> RefreshingCache<K, V>
where
    K: Copy + Eq + Hash + Display + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A cache of `what` (for log lines) that starts a refresh once a value is
    /// `refresh_after` old and serves it until it is `served_for` old (at least
    /// `refresh_after`), holding at most `max_entries`.
    pub fn new(
        what: &'static str,
        refresh_after: Duration,
        served_for: Duration,
        max_entries: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                what,
                entries: RwLock::default(),
                loads: Mutex::default(),
                generations: AtomicU64::new(0),
                refresh_after,
                served_for: served_for.max(refresh_after),
                max_entries: max_entries.max(1),
            }),
        }
    }

    /// The value of `key`: from the cache while it is recent enough, else read by `load`
    /// (`Ok(None)`: it does not exist). An old value is served while `load` runs in a task of
    /// its own and its answer replaces it; a missing one is awaited, and requests that miss
    /// it together share one `load`.
    pub async fn get<F, Fut>(&self, key: K, load: F) -> Result<Option<Arc<V>>, RepoError>
    where
        F: FnOnce(K) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, RepoError>> + Send + 'static,
    {
        match self.find(key) {
            Found::Fresh(value) => Ok(Some(value)),
            Found::Old(value, refresh) => {
                if let Some(generation) = refresh {
                    let cache = self.clone();
                    tokio::spawn(async move { cache.refresh(key, generation, load(key)).await });
                }
                Ok(Some(value))
            }
            Found::Missing => self.load_once(key, load).await,
        }
    }

    /// Stores a value just read or just changed here; it replaces any older one and wins
    /// over a refresh or read already running.
    pub fn put(&self, key: K, value: V) -> Arc<V> {
        let value = Arc::new(value);
        let mut loads = self.loads();
        loads.remove(&key);
        self.insert(key, Arc::clone(&value));
        value
    }

    /// Forgets `key`; a refresh or read already running does not bring it back.
    pub fn remove(&self, key: K) {
        let mut loads = self.loads();
        loads.remove(&key);
        self.write().remove(&key);
    }

    /// Waits for the one read of missing `key`, starting it unless one runs.
    async fn load_once<F, Fut>(&self, key: K, load: F) -> Result<Option<Arc<V>>, RepoError>
    where
        F: FnOnce(K) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, RepoError>> + Send + 'static,
    {
        let mut answer = {
            let mut loads = self.loads();
            if let Some(value) = self.servable(key) {
                return Ok(Some(value)); // a read that ended since stored it
            }
            // A read whose task ended without answering (it panicked) is started again.
            let running = loads
                .get(&key)
                .filter(|load| load.answer.has_changed().is_ok());
            match running {
                Some(running) => running.answer.clone(),
                None => {
                    let (publish, answer) = watch::channel(None);
                    let ticket = self.inner.generations.fetch_add(1, Ordering::Relaxed);
                    loads.insert(
                        key,
                        Load {
                            ticket,
                            answer: answer.clone(),
                        },
                    );
                    let cache = self.clone();
                    let read = load(key);
                    tokio::spawn(async move {
                        let read = read.await;
                        let read = cache.store_load(key, ticket, read);
                        // Nobody waiting is fine: every caller gave up.
                        let _ = publish.send(Some(Answer::of(&read)));
                    });
                    answer
                }
            }
        };
        let answer = answer
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|done| done.clone());
        match answer {
            Some(answer) => answer.into_result(),
            // Its task ended without answering: it panicked, or the runtime is stopping.
            None => Err(RepoError::Unavailable(
                format!(
                    "the read of this {} stopped before it answered",
                    self.inner.what
                )
                .into(),
            )),
        }
    }

    /// Stores what the read numbered `ticket` found, unless a put or remove came since.
    fn store_load(
        &self,
        key: K,
        ticket: u64,
        read: Result<Option<V>, RepoError>,
    ) -> Result<Option<Arc<V>>, RepoError> {
        let mut loads = self.loads();
        let still_current = loads.get(&key).is_some_and(|l| l.ticket == ticket);
        if still_current {
            loads.remove(&key); // failed or not: the next request that misses reads again
        }
        let value = read?.map(Arc::new);
        if let Some(value) = value.as_ref().filter(|_| still_current) {
            self.insert(key, Arc::clone(value));
        }
        Ok(value)
    }

    /// Stores `value`, read or changed just now, making room first.
    fn insert(&self, key: K, value: Arc<V>) {
        let entry = self.entry(value);
        let mut entries = self.write();
        self.make_room(&mut entries);
        entries.insert(key, entry);
    }

    /// The value of `key` if it may be served, starting nothing.
    fn servable(&self, key: K) -> Option<Arc<V>> {
        let entries = self
            .inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&key)
            .filter(|e| e.read_at.elapsed() < self.inner.served_for)
            .map(|e| Arc::clone(&e.value))
    }

    fn find(&self, key: K) -> Found<V> {
        let entries = self
            .inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get(&key) else {
            return Found::Missing;
        };
        let age = entry.read_at.elapsed();
        if age < self.inner.refresh_after {
            return Found::Fresh(Arc::clone(&entry.value));
        }
        if age >= self.inner.served_for {
            return Found::Missing;
        }
        let mut refresh = entry.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        let due = !refresh.running && refresh.not_before.is_none_or(|t| Instant::now() >= t);
        if due {
            refresh.running = true;
        }
        Found::Old(Arc::clone(&entry.value), due.then_some(entry.generation))
    }

    async fn refresh(
        &self,
        key: K,
        generation: u64,
        read: impl Future<Output = Result<Option<V>, RepoError>>,
    ) {
        let read = read.await;
        let mut entries = self.write();
        let Some(entry) = entries.get(&key).filter(|e| e.generation == generation) else {
            return; // put or removed since: that is newer than what this refresh read
        };
        match read {
            Ok(Some(value)) => {
                let entry = self.entry(Arc::new(value));
                entries.insert(key, entry);
            }
            Ok(None) => {
                entries.remove(&key);
            }
            Err(e) => {
                let mut refresh = entry.refresh.lock().unwrap_or_else(PoisonError::into_inner);
                refresh.running = false;
                refresh.not_before = Some(Instant::now() + RETRY_AFTER);
                tracing::warn!(what = self.inner.what, key = %key, error = %e, "not read again; serving the copy read before");
            }
        }
    }

    fn entry(&self, value: Arc<V>) -> Entry<V> {
        Entry {
            value,
            read_at: Instant::now(),
            generation: self.inner.generations.fetch_add(1, Ordering::Relaxed),
            refresh: Mutex::default(),
        }
    }

    /// Past `max_entries`, values too old to serve go first, then everything.
    fn make_room(&self, entries: &mut HashMap<K, Entry<V>>) {
        if entries.len() < self.inner.max_entries {
            return;
        }
        let served_for = self.inner.served_for;
        entries.retain(|_, e| e.read_at.elapsed() < served_for);
        if entries.len() >= self.inner.max_entries {
            entries.clear();
        }
    }

    fn loads(&self) -> MutexGuard<'_, HashMap<K, Load<V>>> {
        // Entries are inserted and removed whole, so a poisoned map is still consistent.
        self.inner
            .loads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<K, Entry<V>>> {
        // Each entry is replaced whole, so a poisoned map is still consistent.
        self.inner
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
