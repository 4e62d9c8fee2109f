use std::sync::atomic::{AtomicBool, AtomicUsize};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::*;
use crate::ports::TenantUpdate;
use crate::tenant::Policy;

/// A tenant store that counts reads, answers what `stored` holds (or fails when `failing`),
/// and lets a read finish only when the test adds a permit to `gate`.
struct Repo {
    stored: Mutex<Option<Tenant>>,
    failing: AtomicBool,
    reads: AtomicUsize,
    gate: Semaphore,
}

impl Repo {
    fn new(tenant: &Tenant, gated: bool) -> Arc<Self> {
        Arc::new(Self {
            stored: Mutex::new(Some(tenant.clone())),
            failing: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
            gate: Semaphore::new(if gated { 0 } else { Semaphore::MAX_PERMITS }),
        })
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn store(&self, tenant: Option<Tenant>) {
        *self.stored.lock().unwrap() = tenant;
    }
}

fn unused() -> RepoError {
    RepoError::Internal("not used by the cache".into())
}

#[async_trait]
impl TenantRepo for Repo {
    async fn create(&self, _: &Tenant) -> Result<(), RepoError> {
        Err(unused())
    }
    async fn get(&self, _: TenantId) -> Result<Option<Tenant>, RepoError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.expect("gate open").forget();
        if self.failing.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable("database down".into()));
        }
        Ok(self.stored.lock().unwrap().clone())
    }
    async fn get_by_slug(&self, _: &str) -> Result<Option<Tenant>, RepoError> {
        Err(unused())
    }
    async fn list(&self, _: Option<TenantId>, _: u32) -> Result<Vec<Tenant>, RepoError> {
        Err(unused())
    }
    async fn update_policy(
        &self,
        _: TenantId,
        _: &Policy,
        _: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError> {
        Err(unused())
    }
    async fn update(
        &self,
        _: TenantId,
        _: &TenantUpdate<'_>,
        _: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError> {
        Err(unused())
    }
}

fn tenant(name: &str) -> Tenant {
    Tenant {
        id: TenantId::random(),
        slug: "t".into(),
        name: name.into(),
        app_name: "T".into(),
        policy: Policy::default(),
        created_at: Utc::now(),
    }
}

fn renamed(t: &Tenant, name: &str) -> Tenant {
    Tenant {
        name: name.into(),
        ..t.clone()
    }
}

/// Every copy is old at once and servable for an hour: each get past the first finds a
/// stale copy, without the test sleeping.
fn always_stale() -> TenantCache {
    TenantCache::new(Duration::ZERO, Duration::from_secs(3600))
}

async fn name(cache: &TenantCache, repo: &Arc<dyn TenantRepo>, id: TenantId) -> Option<String> {
    let found = cache.get(repo, id).await.expect("read");
    found.map(|t| t.name.clone())
}

/// Lets the spawned refresh run until `done` holds (the runtime has one thread).
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the refresh did not get there");
}

#[tokio::test]
async fn a_fresh_copy_is_served_without_reading_again() {
    let t = tenant("one");
    let repo = Repo::new(&t, false);
    let dyn_repo: Arc<dyn TenantRepo> = repo.clone();
    let cache = TenantCache::default();
    for _ in 0..100 {
        assert_eq!(name(&cache, &dyn_repo, t.id).await.as_deref(), Some("one"));
    }
    assert_eq!(repo.reads(), 1);
}

#[tokio::test]
async fn an_old_copy_is_served_at_once_while_one_refresh_reads_the_new_one() {
    let t = tenant("old");
    let repo = Repo::new(&t, true);
    let dyn_repo: Arc<dyn TenantRepo> = repo.clone();
    let cache = always_stale();
    cache.put(t.clone());
    repo.store(Some(renamed(&t, "new")));

    // The refresh is held at the gate: every request still gets its answer, and only one
    // read is started however many requests find the copy old.
    for _ in 0..50 {
        assert_eq!(name(&cache, &dyn_repo, t.id).await.as_deref(), Some("old"));
    }
    until(|| repo.reads() == 1).await;
    tokio::task::yield_now().await;
    assert_eq!(repo.reads(), 1, "one refresh at a time");

    repo.gate.add_permits(1);
    until(|| cache.find_name(t.id).as_deref() == Some("new")).await;
}

#[tokio::test]
async fn a_put_during_a_refresh_is_not_overwritten_by_what_the_refresh_read() {
    let t = tenant("before");
    let repo = Repo::new(&t, true);
    let dyn_repo: Arc<dyn TenantRepo> = repo.clone();
    let cache = always_stale();
    cache.put(t.clone());
    assert_eq!(
        name(&cache, &dyn_repo, t.id).await.as_deref(),
        Some("before")
    );
    until(|| repo.reads() == 1).await; // the refresh has read "before" … and waits

    cache.put(renamed(&t, "changed here")); // an admin change through this instance
    repo.gate.add_permits(1);
    until(|| repo.gate.available_permits() == 0).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(cache.find_name(t.id).as_deref(), Some("changed here"));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_copy_and_waits_before_trying_again() {
    let t = tenant("kept");
    let repo = Repo::new(&t, false);
    let dyn_repo: Arc<dyn TenantRepo> = repo.clone();
    let cache = always_stale();
    cache.put(t.clone());
    repo.failing.store(true, Ordering::SeqCst);

    assert_eq!(name(&cache, &dyn_repo, t.id).await.as_deref(), Some("kept"));
    until(|| cache.refresh_running(t.id) == Some(false)).await;
    assert_eq!(repo.reads(), 1);
    // Within RETRY_AFTER of the failure, requests are served and the database not asked.
    for _ in 0..50 {
        assert_eq!(name(&cache, &dyn_repo, t.id).await.as_deref(), Some("kept"));
        tokio::task::yield_now().await; // a refresh spawned here would run and read
    }
    assert_eq!(repo.reads(), 1);
}

#[tokio::test]
async fn past_its_serving_time_a_copy_is_read_on_the_request_and_an_outage_shows() {
    let t = tenant("gone stale");
    let repo = Repo::new(&t, false);
    let dyn_repo: Arc<dyn TenantRepo> = repo.clone();
    let cache = TenantCache::new(Duration::ZERO, Duration::ZERO);
    cache.put(t.clone());
    repo.failing.store(true, Ordering::SeqCst);
    let err = cache
        .get(&dyn_repo, t.id)
        .await
        .expect_err("read on the request");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");

    repo.failing.store(false, Ordering::SeqCst);
    repo.store(Some(renamed(&t, "back")));
    assert_eq!(name(&cache, &dyn_repo, t.id).await.as_deref(), Some("back"));
}

#[tokio::test]
async fn a_tenant_deleted_meanwhile_is_dropped_by_its_refresh() {
    let t = tenant("deleted");
    let repo = Repo::new(&t, false);
    let dyn_repo: Arc<dyn TenantRepo> = repo.clone();
    let cache = always_stale();
    cache.put(t.clone());
    repo.store(None);
    assert_eq!(
        name(&cache, &dyn_repo, t.id).await.as_deref(),
        Some("deleted")
    );
    until(|| cache.find_name(t.id).is_none()).await;
    assert_eq!(name(&cache, &dyn_repo, t.id).await, None);
}

impl TenantCache {
    fn find_name(&self, id: TenantId) -> Option<String> {
        let entries = self.inner.entries.read().unwrap();
        entries.get(&id).map(|e| e.tenant.name.clone())
    }

    fn refresh_running(&self, id: TenantId) -> Option<bool> {
        let entries = self.inner.entries.read().unwrap();
        entries.get(&id).map(|e| e.refresh.lock().unwrap().running)
    }
}
