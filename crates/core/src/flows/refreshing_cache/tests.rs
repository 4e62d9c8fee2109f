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
    let cache = never_old();
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

/// Starts `n` requests for the missing value; they run once the test yields.
fn requests(
    cache: &Cache,
    db: &Arc<Db>,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<Option<String>, RepoError>>> {
    (0..n)
        .map(|_| {
            let (cache, db) = (cache.clone(), Arc::clone(db));
            tokio::spawn(async move { get(&cache, &db).await })
        })
        .collect()
}

/// What each of `requests` got, in order.
async fn answers(
    requests: Vec<tokio::task::JoinHandle<Result<Option<String>, RepoError>>>,
) -> Vec<Option<String>> {
    let mut got = Vec::new();
    for request in requests {
        got.push(request.await.expect("request task").expect("read"));
    }
    got
}

/// A cache whose values are never old: what is missing is the only thing read.
fn never_old() -> Cache {
    Cache::new(
        "test value",
        Duration::from_secs(3600),
        Duration::from_secs(3600),
        100,
    )
}

#[tokio::test]
async fn requests_that_miss_a_value_together_wait_for_one_read() {
    let db = Db::new("cold", true);
    let cache = never_old();
    let waiting = requests(&cache, &db, 50);
    until(|| db.reads() == 1).await;
    let_tasks_run().await; // every request has found the read running, and waits on it
    assert_eq!(db.reads(), 1, "one read for all of them");

    db.gate.add_permits(1);
    for got in answers(waiting).await {
        assert_eq!(got.as_deref(), Some("cold"));
    }
    assert_eq!(db.reads(), 1);
    assert_eq!(cache.held().as_deref(), Some("cold"));
}

#[tokio::test]
async fn a_failed_read_fails_every_request_waiting_on_it_and_the_next_one_reads_again() {
    let db = Db::new("back", true);
    let cache = never_old();
    db.fail(true);
    let waiting = requests(&cache, &db, 10);
    until(|| db.reads() == 1).await;
    let_tasks_run().await;
    db.gate.add_permits(1);
    for request in waiting {
        let err = request.await.unwrap().expect_err("the read failed");
        // Still an outage (UNAVAILABLE), with what the database said.
        assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
        assert!(
            std::error::Error::source(&err)
                .is_some_and(|s| s.to_string().contains("database down")),
            "{err:?}"
        );
    }
    assert_eq!(db.reads(), 1);

    db.fail(false);
    db.gate.add_permits(1);
    assert_eq!(value(&cache, &db).await.as_deref(), Some("back"));
    assert_eq!(db.reads(), 2);
}

#[tokio::test]
async fn a_request_that_gives_up_does_not_stop_the_read_the_others_wait_on() {
    let db = Db::new("still read", true);
    let cache = never_old();
    let first = requests(&cache, &db, 1);
    until(|| db.reads() == 1).await;
    let others = requests(&cache, &db, 5);
    let_tasks_run().await;
    first[0].abort(); // its caller went away
    let_tasks_run().await;

    db.gate.add_permits(1);
    for got in answers(others).await {
        assert_eq!(got.as_deref(), Some("still read"));
    }
    assert_eq!(db.reads(), 1);
}

#[tokio::test]
async fn a_remove_during_a_cold_read_is_not_undone_by_it() {
    let db = Db::new("revoked meanwhile", true);
    let cache = never_old();
    let waiting = requests(&cache, &db, 3);
    until(|| db.reads() == 1).await;

    cache.remove(KEY); // the key revoked here while its first use read it
    db.gate.add_permits(1);
    // They asked before the revocation: they get what was read then …
    for got in answers(waiting).await {
        assert_eq!(got.as_deref(), Some("revoked meanwhile"));
    }
    // … but it is not kept: the next request reads again.
    assert_eq!(cache.held(), None);
    db.store(None);
    db.gate.add_permits(1);
    assert_eq!(value(&cache, &db).await, None);
    assert_eq!(db.reads(), 2);
}

#[tokio::test]
async fn a_put_during_a_cold_read_wins_over_it() {
    let db = Db::new("read before", true);
    let cache = never_old();
    let waiting = requests(&cache, &db, 1);
    until(|| db.reads() == 1).await;

    cache.put(KEY, "changed here".into());
    db.gate.add_permits(1);
    answers(waiting).await;
    assert_eq!(cache.held().as_deref(), Some("changed here"));
    assert_eq!(value(&cache, &db).await.as_deref(), Some("changed here"));
    assert_eq!(db.reads(), 1);
}

#[tokio::test]
async fn a_read_that_panics_fails_its_waiters_and_the_next_request_reads_again() {
    let cache = never_old();
    let panicking = cache
        .get(KEY, |_| async {
            panic!("a bug in a read (this panic is expected)")
        })
        .await;
    let err = panicking.expect_err("its task ended without an answer");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");

    let db = Db::new("read again", false);
    assert_eq!(value(&cache, &db).await.as_deref(), Some("read again"));
    assert_eq!(db.reads(), 1);
}
