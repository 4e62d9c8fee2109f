//! The `SessionEvents` contract on its three transports: in-process, a standalone Redis
//! (`TWOSTEP_TEST_REDIS_URL`) and a Redis Cluster (`TWOSTEP_TEST_REDIS_CLUSTER_URL`): every
//! subscribed instance hears every revocation, in order, once subscribed; a subscription that
//! breaks says so (`lost`) before anything can be missed, and comes back (`resumed`).
//!
//! Waits are bounded polls that fail the test when they run out; nothing asserts a time.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test with its location"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use twostep_core::ids::{FamilyId, SessionId, TenantId, UserId};
use twostep_core::ports::{Revocation, RevocationListener, SessionEvents};
use twostep_shortlived::{MemorySessionEvents, RedisConfig, RedisSessionEvents, RedisStore};
use uuid::Uuid;

/// What a listener heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Revoked(Revocation),
    Lost,
    Resumed,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Heard>>);

impl Recorder {
    fn heard(&self) -> Vec<Heard> {
        self.0.lock().unwrap().clone()
    }

    fn revocations(&self) -> Vec<Revocation> {
        self.heard()
            .into_iter()
            .filter_map(|h| match h {
                Heard::Revoked(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn count(&self, what: &Heard) -> usize {
        self.heard().iter().filter(|h| *h == what).count()
    }

    /// Polls until `done` holds (at most 15 s, generous for a loaded debug build).
    async fn wait_for(&self, what: &str, done: impl Fn(&Self) -> bool) {
        for _ in 0..1500 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never heard {what}; heard {:?}", self.heard());
    }
}

impl RevocationListener for Recorder {
    fn revoked(&self, revocation: &Revocation) {
        self.0.lock().unwrap().push(Heard::Revoked(*revocation));
    }
    fn lost(&self) {
        self.0.lock().unwrap().push(Heard::Lost);
    }
    fn resumed(&self) {
        self.0.lock().unwrap().push(Heard::Resumed);
    }
}

fn env(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: run the Redis tests through scripts/test, e.g. \
             `scripts/test --services-only -- cargo test -p twostep-shortlived`"
        ),
    }
}

/// Two "instances" of one deployment: separate stores (and connections) with one prefix.
async fn two_instances(var: &str) -> (RedisSessionEvents, RedisSessionEvents) {
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    let mut pair = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(RedisConfig {
            url: env(var),
            sentinel_password: None,
            key_prefix: prefix.clone(),
            command_timeout: Duration::from_secs(3),
        })
        .await
        .unwrap();
        pair.push(store.session_events());
    }
    let b = pair.pop().unwrap();
    let a = pair.pop().unwrap();
    (a, b)
}

fn samples() -> Vec<Revocation> {
    vec![
        Revocation::Session(SessionId::random()),
        Revocation::Family(FamilyId::random()),
        Revocation::User {
            tenant: TenantId::random(),
            user: UserId::random(),
        },
    ]
}

async fn every_instance_hears_every_revocation_in_order(
    a: Arc<dyn SessionEvents>,
    b: Arc<dyn SessionEvents>,
) {
    let heard_a = Arc::new(Recorder::default());
    let heard_b = Arc::new(Recorder::default());
    a.subscribe(heard_a.clone());
    b.subscribe(heard_b.clone());
    for r in [&heard_a, &heard_b] {
        r.wait_for("resumed", |r| r.count(&Heard::Resumed) == 1)
            .await;
    }
    let sent = samples();
    for rev in &sent {
        a.publish(rev).await.unwrap();
    }
    for r in [&heard_a, &heard_b] {
        r.wait_for("every revocation", |r| r.revocations().len() >= sent.len())
            .await;
        assert_eq!(r.revocations(), sent);
        assert_eq!(r.count(&Heard::Lost), 0);
    }
}

#[tokio::test]
async fn memory_delivers_every_revocation_in_order() {
    let events: Arc<dyn SessionEvents> = Arc::new(MemorySessionEvents::new());
    every_instance_hears_every_revocation_in_order(events.clone(), events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_delivers_every_revocation_to_every_instance_in_order() {
    let (a, b) = two_instances("TWOSTEP_TEST_REDIS_URL").await;
    every_instance_hears_every_revocation_in_order(Arc::new(a), Arc::new(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_delivers_every_revocation_to_every_instance_in_order() {
    let (a, b) = two_instances("TWOSTEP_TEST_REDIS_CLUSTER_URL").await;
    every_instance_hears_every_revocation_in_order(Arc::new(a), Arc::new(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_deployments_prefixes_are_not_heard() {
    let (a, _) = two_instances("TWOSTEP_TEST_REDIS_URL").await;
    let (other, _) = two_instances("TWOSTEP_TEST_REDIS_URL").await;
    let heard = Arc::new(Recorder::default());
    a.subscribe(heard.clone());
    heard
        .wait_for("resumed", |r| r.count(&Heard::Resumed) == 1)
        .await;
    let theirs = Revocation::Session(SessionId::random());
    let ours = Revocation::Session(SessionId::random());
    other.publish(&theirs).await.unwrap();
    a.publish(&ours).await.unwrap();
    heard
        .wait_for("ours", |r| !r.revocations().is_empty())
        .await;
    assert_eq!(heard.revocations(), vec![ours]);
}

/// The subscriber's connection is killed by Redis (as on a restart or a network cut): the
/// listener hears `lost` before anything could be missed, then `resumed` once subscribed
/// again, and revocations flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscription_is_reported_lost_then_resumes() {
    let url = env("TWOSTEP_TEST_REDIS_URL");
    let (a, b) = two_instances("TWOSTEP_TEST_REDIS_URL").await;
    let heard = Arc::new(Recorder::default());
    b.subscribe(heard.clone());
    heard
        .wait_for("resumed", |r| r.count(&Heard::Resumed) == 1)
        .await;

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    // Every subscriber of this Redis: other suites' subscribers resubscribe the same way.
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .unwrap();
    heard.wait_for("lost", |r| r.count(&Heard::Lost) == 1).await;
    heard
        .wait_for("resumed again", |r| r.count(&Heard::Resumed) == 2)
        .await;
    let heard_so_far = heard.heard();
    let lost_at = heard_so_far.iter().position(|h| *h == Heard::Lost).unwrap();
    let resumed_at = heard_so_far
        .iter()
        .rposition(|h| *h == Heard::Resumed)
        .unwrap();
    assert!(lost_at < resumed_at, "{heard_so_far:?}");

    let rev = Revocation::Family(FamilyId::random());
    a.publish(&rev).await.unwrap();
    heard
        .wait_for("the revocation", |r| r.revocations() == vec![rev])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_an_unreachable_redis_never_resumes() {
    // A port nothing listens on: the cache behind this listener must stay bypassed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = RedisStore::connect(RedisConfig {
        url: format!("redis://127.0.0.1:{port}"),
        sentinel_password: None,
        key_prefix: "test:".to_owned(),
        command_timeout: Duration::from_millis(200),
    })
    .await
    .unwrap();
    let events = store.session_events();
    let heard = Arc::new(Recorder::default());
    events.subscribe(heard.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(heard.count(&Heard::Resumed), 0);
    assert!(
        events
            .publish(&Revocation::Session(SessionId::random()))
            .await
            .is_err()
    );
}
