//! [`TenantCache`]: the tenants' policies, read from the database at most once per
//! [`FRESH_FOR`] per tenant, and never on a request's path while a recent copy exists.
//!
//! Every code RPC needs its tenant's policy, and a database round trip per RPC would dominate
//! the hot path. A copy older than [`FRESH_FOR`] is still served, for up to [`SERVED_FOR`],
//! while one background task reads the tenant again (stale-while-revalidate). Why not read
//! it again on the request that finds it old: every request in flight at that moment found
//! it old too and went to the database at once, a stampede every few seconds; and on a core
//! kept busy by the Redis-only refusals of an abuse burst, those requests waited behind
//! the database's scheduling for up to a second (issue 7, S2 pinned). Only a tenant never
//! read, or whose copy is older than [`SERVED_FOR`] (the refresh kept failing: the database
//! is down), is read on the request's path, so an outage still shows as `UNAVAILABLE`.
//!
//! A policy change made through another instance takes effect here within [`FRESH_FOR`]
//! plus one database read; one made through this instance ([`TenantCache::put`]) at once,
//! and a refresh that read the tenant before that change does not overwrite it (each put
//! bumps the entry's generation, and a refresh stores only over the generation it started
//! from).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::ids::TenantId;
use crate::ports::{RepoError, TenantRepo};
use crate::tenant::Tenant;

/// How long a copy is served without asking the database again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// How long a copy is served at all: past [`FRESH_FOR`] only while its refresh runs or
/// after a failed one; past this, the request reads the tenant itself.
pub const SERVED_FOR: Duration = Duration::from_secs(15);
/// The wait after a failed refresh before the next one (a down database is not asked once
/// per request).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Cheap to clone: clones share the entries.
#[derive(Clone)]
pub struct TenantCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: RwLock<HashMap<TenantId, Entry>>,
    generations: AtomicU64,
    fresh_for: Duration,
    served_for: Duration,
}

struct Entry {
    tenant: Arc<Tenant>,
    read_at: Instant,
    generation: u64,
    refresh: Mutex<Refresh>,
}

#[derive(Default)]
struct Refresh {
    running: bool,
    not_before: Option<Instant>,
}

/// What a request finds in the cache.
enum Found {
    Fresh(Arc<Tenant>),
    /// Old but servable; `Some(generation)` when this request is to start its refresh.
    Stale(Arc<Tenant>, Option<u64>),
    Missing,
}

impl Default for TenantCache {
    fn default() -> Self {
        Self::new(FRESH_FOR, SERVED_FOR)
    }
}

impl TenantCache {
    /// A cache serving copies fresh for `fresh_for` and at all for `served_for` (at least
    /// `fresh_for`).
    pub fn new(fresh_for: Duration, served_for: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                entries: RwLock::default(),
                generations: AtomicU64::new(0),
                fresh_for,
                served_for: served_for.max(fresh_for),
            }),
        }
    }

    /// The tenant, from the cache when a copy is recent enough, else from `repo`; `None` when
    /// it does not exist. An old copy is served while a background task reads it again.
    pub async fn get(
        &self,
        repo: &Arc<dyn TenantRepo>,
        id: TenantId,
    ) -> Result<Option<Arc<Tenant>>, RepoError> {
        match self.find(id) {
            Found::Fresh(tenant) => Ok(Some(tenant)),
            Found::Stale(tenant, refresh) => {
                if let Some(generation) = refresh {
                    let (cache, repo) = (self.clone(), Arc::clone(repo));
                    tokio::spawn(async move { cache.refresh(&*repo, id, generation).await });
                }
                Ok(Some(tenant))
            }
            Found::Missing => match repo.get(id).await? {
                Some(tenant) => Ok(Some(self.put(tenant))),
                None => Ok(None),
            },
        }
    }

    /// Stores a tenant just read or just changed by this instance; it replaces any copy and
    /// wins over a refresh already running.
    pub fn put(&self, tenant: Tenant) -> Arc<Tenant> {
        let tenant = Arc::new(tenant);
        let entry = self.entry(Arc::clone(&tenant));
        self.write().insert(tenant.id, entry);
        tenant
    }

    fn find(&self, id: TenantId) -> Found {
        let entries = self
            .inner
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get(&id) else {
            return Found::Missing;
        };
        let age = entry.read_at.elapsed();
        if age < self.inner.fresh_for {
            return Found::Fresh(Arc::clone(&entry.tenant));
        }
        if age >= self.inner.served_for {
            return Found::Missing;
        }
        let mut refresh = entry.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        let due = !refresh.running && refresh.not_before.is_none_or(|t| Instant::now() >= t);
        if due {
            refresh.running = true;
        }
        Found::Stale(Arc::clone(&entry.tenant), due.then_some(entry.generation))
    }

    async fn refresh(&self, repo: &dyn TenantRepo, id: TenantId, generation: u64) {
        let read = repo.get(id).await;
        let mut entries = self.write();
        let Some(entry) = entries.get(&id).filter(|e| e.generation == generation) else {
            return; // put since: what it stored is newer than what this refresh read
        };
        match read {
            Ok(Some(tenant)) => {
                let entry = self.entry(Arc::new(tenant));
                entries.insert(id, entry);
            }
            Ok(None) => {
                entries.remove(&id);
            }
            Err(e) => {
                let mut refresh = entry.refresh.lock().unwrap_or_else(PoisonError::into_inner);
                refresh.running = false;
                refresh.not_before = Some(Instant::now() + RETRY_AFTER);
                tracing::warn!(tenant = %id, error = %e, "tenant policy not refreshed; serving the copy read before");
            }
        }
    }

    fn entry(&self, tenant: Arc<Tenant>) -> Entry {
        Entry {
            tenant,
            read_at: Instant::now(),
            generation: self.inner.generations.fetch_add(1, Ordering::Relaxed),
            refresh: Mutex::default(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TenantId, Entry>> {
        // Each entry is replaced whole, so a poisoned map is still consistent.
        self.inner
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
