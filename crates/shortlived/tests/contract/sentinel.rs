//! Redis behind Sentinels, on private disposable servers (`TWOSTEP_TEST_REDIS_SERVER`): a
//! primary, a replica and one Sentinel. The store finds the primary through the Sentinel,
//! and after a failover, forced or because the primary died, it serves from the new primary
//! by itself; meanwhile every call fails as unavailable, never as a bug.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis::Commands;
use twostep_core::challenge::Challenge;
use twostep_core::clock::{Clock, ManualClock};
use twostep_core::ids::SessionId;
use twostep_core::ports::{
    Revocation, RevocationListener, SessionEvents, ShortLivedStore, StoreError, VerifyOutcome,
};
use twostep_shortlived::{RedisConfig, RedisStore};

use crate::disposable::{Server, free_port};
use crate::fixtures::{challenge, mac};

const SERVICE: &str = "twostep";
const TIMEOUT: Duration = Duration::from_millis(500);

fn conn(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(1))
        .unwrap()
}

/// Polls `ready` every 50 ms until it holds; panics naming `what` after `within`.
fn wait_for(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn replicating(port: u16) -> bool {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut conn(port))
        .unwrap_or_default();
    info.contains("master_link_status:up")
}

/// The primary's port the Sentinel names now.
fn named_primary(sentinel: u16) -> Option<u16> {
    let addr: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(SERVICE)
        .query(&mut conn(sentinel))
        .ok()?;
    addr.and_then(|(_, port)| port.parse().ok())
}

/// Replicas the Sentinel knows of and considers fit (no down flags).
fn fit_replicas(sentinel: u16) -> usize {
    let replicas: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
        .arg("replicas")
        .arg(SERVICE)
        .query(&mut conn(sentinel))
        .unwrap_or_default();
    replicas
        .iter()
        .filter(|r| r.get("flags").is_some_and(|f| f == "slave"))
        .count()
}

fn holds_key(port: u16, prefix: &str, id: &str) -> bool {
    let keys: Vec<String> = conn(port).keys(format!("{prefix}*")).unwrap();
    keys.iter().any(|k| k.contains(id))
}

/// Creates challenges until one is written on the server on `port`; every failure before
/// must be `Unavailable`, each within a bounded time. Returns how long that took.
async fn create_until_written_on(
    port: u16,
    prefix: &str,
    store: &RedisStore,
    clock: &ManualClock,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    let (mut unavailable, mut elsewhere) = (0, 0);
    loop {
        let c = challenge(clock.now());
        let t = Instant::now();
        match store.create_challenge(&c).await {
            Ok(()) if holds_key(port, prefix, &c.id.to_string()) => {
                eprintln!(
                    "{unavailable} calls unavailable and {elsewhere} written elsewhere before"
                );
                return start.elapsed();
            }
            Ok(()) => elsewhere += 1,
            Err(StoreError::Unavailable(_)) => {
                assert!(t.elapsed() < TIMEOUT * 3, "a call took {:?}", t.elapsed());
                unavailable += 1;
            }
            Err(e) => panic!("a failover must read as unavailable, got {e:?}"),
        }
        assert!(
            start.elapsed() < within,
            "not written on the new primary {within:?} after it was named \
             ({unavailable} unavailable, {elsewhere} written elsewhere)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A primary `a` (demotable or not), its replica `b`, and a Sentinel that sees both; a store
/// through the Sentinel, holding one challenge written on `a` and replicated to `b`.
struct Deployment {
    a: Server,
    b: Server,
    sentinel: Server,
    dir: std::path::PathBuf,
    prefix: String,
    store: RedisStore,
    clock: ManualClock,
    first: Challenge,
}

impl Deployment {
    async fn start(demotable: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("twostep-sentinel-{}", uuid::Uuid::new_v4()));
        let a = if demotable {
            Server::start(free_port(), dir.join("a"))
        } else {
            Server::undemotable(free_port(), dir.join("a"))
        };
        let b = Server::replica_of(a.port, free_port(), dir.join("b"));
        wait_for("b replicates a", Duration::from_secs(10), || {
            replicating(b.port)
        });
        let sentinel = Server::sentinel(SERVICE, a.port, free_port(), dir.join("s"));
        wait_for("the sentinel sees b", Duration::from_secs(15), || {
            fit_replicas(sentinel.port) == 1
        });
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let store = RedisStore::connect(RedisConfig {
            url: format!("redis+sentinel://127.0.0.1:{}/{SERVICE}", sentinel.port),
            sentinel_password: None,
            key_prefix: prefix.clone(),
            command_timeout: TIMEOUT,
        })
        .await
        .unwrap();
        let clock = ManualClock::starting_now();
        let first = challenge(clock.now());
        store.create_challenge(&first).await.unwrap();
        assert!(
            holds_key(a.port, &prefix, &first.id.to_string()),
            "written on the primary the sentinel names"
        );
        let synced: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(2000)
            .query(&mut conn(a.port))
            .unwrap();
        assert_eq!(synced, 1, "b has the first challenge");
        Self {
            a,
            b,
            sentinel,
            dir,
            prefix,
            store,
            clock,
            first,
        }
    }

    fn wait_until_named(&self, port: u16) {
        wait_for(
            "the sentinel names the new primary",
            Duration::from_secs(40),
            || named_primary(self.sentinel.port) == Some(port),
        );
    }

    /// The store writes on `port` within a few seconds, and serves the challenge written
    /// before the failover.
    async fn assert_follows_to(&self, port: u16, what: &str) {
        let took = create_until_written_on(
            port,
            &self.prefix,
            &self.store,
            &self.clock,
            Duration::from_secs(10),
        )
        .await;
        eprintln!("{what}: writing on the new primary {took:?} after it was named");
        let outcome = self
            .store
            .verify_challenge(self.first.id, mac(1), self.clock.now())
            .await
            .unwrap();
        assert!(
            matches!(outcome, VerifyOutcome::Verified(_)),
            "{what}: what was replicated before the failover is served: {outcome:?}"
        );
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.sentinel.kill();
        self.a.kill();
        self.b.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Counts what a revocation subscription hears.
#[derive(Default)]
struct Heard {
    revoked: AtomicUsize,
    lost: AtomicUsize,
    resumed: AtomicUsize,
}

impl RevocationListener for Heard {
    fn revoked(&self, _: &Revocation) {
        self.revoked.fetch_add(1, Ordering::SeqCst);
    }
    fn lost(&self) {
        self.lost.fetch_add(1, Ordering::SeqCst);
    }
    fn resumed(&self) {
        self.resumed.fetch_add(1, Ordering::SeqCst);
    }
}

async fn wait_async(what: &str, within: Duration, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const WITHIN: Duration = Duration::from_secs(15);

/// A revocation subscription through the store, once it is subscribed.
async fn subscribed(store: &RedisStore) -> Arc<Heard> {
    let heard = Arc::new(Heard::default());
    store.session_events().subscribe(heard.clone());
    wait_async("subscribed", WITHIN, || {
        heard.resumed.load(Ordering::SeqCst) == 1
    })
    .await;
    heard
}

/// After a failover: the subscription was lost and came back, and a revocation published
/// (through the new primary) is heard.
async fn assert_revocations_follow(store: &RedisStore, heard: &Heard) {
    wait_async("the subscription says it was lost", WITHIN, || {
        heard.lost.load(Ordering::SeqCst) == 1
    })
    .await;
    wait_async("subscribed again", WITHIN, || {
        heard.resumed.load(Ordering::SeqCst) == 2
    })
    .await;
    store
        .session_events()
        .publish(&Revocation::Session(SessionId::random()))
        .await
        .unwrap();
    wait_async("the revocation is heard", WITHIN, || {
        heard.revoked.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_sentinels_when_the_primary_dies() {
    let mut d = Deployment::start(true).await;
    let heard = subscribed(&d.store).await;
    d.a.kill();
    d.wait_until_named(d.b.port);
    d.assert_follows_to(d.b.port, "dead primary").await;
    assert_revocations_follow(&d.store, &heard).await;
}

/// A primary the Sentinels have replaced but could not demote (cut off from them, not from
/// us) still takes writes: the store must leave it because the Sentinels name another, not
/// because it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_a_primary_the_sentinels_no_longer_name() {
    let d = Deployment::start(false).await;
    let heard = subscribed(&d.store).await;
    let _: String = redis::cmd("SENTINEL")
        .arg("failover")
        .arg(SERVICE)
        .query(&mut conn(d.sentinel.port))
        .unwrap();
    d.wait_until_named(d.b.port);
    d.assert_follows_to(d.b.port, "replaced primary").await;
    // The subscriber's connection is its own: it leaves the replaced primary too.
    assert_revocations_follow(&d.store, &heard).await;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn(d.a.port)).unwrap();
    assert!(
        format!("{:?}", role.first()).contains("master"),
        "a is still a primary, taking writes nobody else sees"
    );
}
