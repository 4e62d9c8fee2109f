use std::sync::atomic::{AtomicBool, AtomicUsize};

use tokio::sync::Semaphore;

use super::*;

/// What the database holds for one key: counts reads, answers `value` (or fails when
/// `failing`), and lets a read finish only when the test adds a permit to `gate`.
struct Db {
    value: Mutex<Option<String>>,
    failing: AtomicBool,
    reads: AtomicUsize,
    gate: Semaphore,
}

impl Db {
    fn new(value: &str, gated: bool) -> Arc<Self> {
        Arc::new(Self {
            value: Mutex::new(Some(value.to_owned())),
            failing: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
            gate: Semaphore::new(if gated { 0 } else { Semaphore::MAX_PERMITS }),
        })
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn store(&self, value: Option<&str>) {
        *self.value.lock().unwrap() = value.map(str::to_owned);
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    async fn read(&self) -> Result<Option<String>, RepoError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.expect("gate open").forget();
        if self.failing.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable("database down".into()));
        }
        Ok(self.value.lock().unwrap().clone())
    }
}

type Cache = RefreshingCache<u32, String>;

const KEY: u32 = 7;

/// Every value is old at once and servable for an hour: each get past the first finds an
/// old value, without the test sleeping.
fn always_old() -> Cache {
    Cache::new("test value", Duration::ZERO, Duration::from_secs(3600), 100)
}

async fn get(cache: &Cache, db: &Arc<Db>) -> Result<Option<String>, RepoError> {
    let db = Arc::clone(db);
    let found = cache
        .get(KEY, move |_| async move { db.read().await })
        .await?;
    Ok(found.map(|v| (*v).clone()))
}

async fn value(cache: &Cache, db: &Arc<Db>) -> Option<String> {
    get(cache, db).await.expect("read")
}

/// Lets spawned refreshes run until `done` holds (the runtime has one thread).
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the refresh did not get there");
}

async fn let_tasks_run() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

impl Cache {
    fn held(&self) -> Option<String> {
        let entries = self.inner.entries.read().unwrap();
        entries.get(&KEY).map(|e| (*e.value).clone())
    }

    fn refresh_running(&self) -> Option<bool> {
        let entries = self.inner.entries.read().unwrap();
        entries.get(&KEY).map(|e| e.refresh.lock().unwrap().running)
    }
}

#[tokio::test]
async fn a_recent_value_is_served_without_reading_again() {
    let db = Db::new("one", false);
    let cache = Cache::new(
        "test value",
        Duration::from_secs(3600),
        Duration::from_secs(3600),
        100,
    );
    for _ in 0..100 {
        assert_eq!(value(&cache, &db).await.as_deref(), Some("one"));
    }
    assert_eq!(db.reads(), 1);
}

#[tokio::test]
async fn an_old_value_is_served_at_once_while_one_refresh_reads_the_new_one() {
    let db = Db::new("old", true);
    let cache = always_old();
    cache.put(KEY, "old".into());
    db.store(Some("new"));

    // The refresh is held at the gate: every request still gets its answer, and only one
    // read is started however many requests find the value old.
    for _ in 0..50 {
        assert_eq!(value(&cache, &db).await.as_deref(), Some("old"));
        tokio::task::yield_now().await;
    }
    assert_eq!(db.reads(), 1, "one refresh at a time");

    db.gate.add_permits(1);
    until(|| cache.held().as_deref() == Some("new")).await;
}

#[tokio::test]
async fn a_put_during_a_refresh_is_not_overwritten_by_what_the_refresh_read() {
    let db = Db::new("before", true);
    let cache = always_old();
    cache.put(KEY, "before".into());
    assert_eq!(value(&cache, &db).await.as_deref(), Some("before"));
    until(|| db.reads() == 1).await; // the refresh reads "before" … and waits

    cache.put(KEY, "changed here".into());
    db.gate.add_permits(1);
    let_tasks_run().await;
    assert_eq!(cache.held().as_deref(), Some("changed here"));
}

#[tokio::test]
async fn a_remove_during_a_refresh_is_not_undone_by_the_refresh() {
    let db = Db::new("revoked later", true);
    let cache = always_old();
    cache.put(KEY, "revoked later".into());
    assert_eq!(value(&cache, &db).await.as_deref(), Some("revoked later"));
    until(|| db.reads() == 1).await;

    cache.remove(KEY); // an API key revoked through this instance
    db.gate.add_permits(1);
    let_tasks_run().await;
    assert_eq!(cache.held(), None);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_value_and_waits_before_trying_again() {
    let db = Db::new("kept", false);
    let cache = always_old();
    cache.put(KEY, "kept".into());
    db.fail(true);

    assert_eq!(value(&cache, &db).await.as_deref(), Some("kept"));
    until(|| cache.refresh_running() == Some(false)).await;
    assert_eq!(db.reads(), 1);
    // Within RETRY_AFTER of the failure, requests are served and the database not asked.
    for _ in 0..50 {
        assert_eq!(value(&cache, &db).await.as_deref(), Some("kept"));
        tokio::task::yield_now().await; // a refresh spawned here would run and read
    }
    assert_eq!(db.reads(), 1);
}

#[tokio::test]
async fn past_its_serving_time_a_value_is_read_on_the_request_and_an_outage_shows() {
    let db = Db::new("too old", false);
    let cache = Cache::new("test value", Duration::ZERO, Duration::ZERO, 100);
    cache.put(KEY, "too old".into());
    db.fail(true);
    let err = get(&cache, &db).await.expect_err("read on the request");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");

    db.fail(false);
    db.store(Some("back"));
    assert_eq!(value(&cache, &db).await.as_deref(), Some("back"));
}

#[tokio::test]
async fn a_value_deleted_meanwhile_is_dropped_by_its_refresh() {
    let db = Db::new("deleted", false);
    let cache = always_old();
    cache.put(KEY, "deleted".into());
    db.store(None);
    assert_eq!(value(&cache, &db).await.as_deref(), Some("deleted"));
    until(|| cache.held().is_none()).await;
    assert_eq!(value(&cache, &db).await, None);
}

#[tokio::test]
async fn the_cache_holds_at_most_its_bound() {
    let cache: Cache = RefreshingCache::new("test value", Duration::ZERO, Duration::ZERO, 3);
    for key in 0..10 {
        cache.put(key, key.to_string());
        assert!(cache.inner.entries.read().unwrap().len() <= 3);
    }
}
