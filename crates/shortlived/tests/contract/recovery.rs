//! R38 and self-recovery on a private, disposable standalone Redis
//! (`TWOSTEP_TEST_REDIS_SERVER`): the store fails closed within its timeout while Redis is
//! down, can be built while Redis is down, and serves again when Redis returns, with no
//! restart (and no script cache on the new server: NOSCRIPT is handled).

use std::time::{Duration, Instant};

use twostep_core::clock::{Clock, ManualClock};
use twostep_core::ports::{Limit, ShortLivedStore, StoreError, VerifyOutcome};
use twostep_shortlived::{RedisConfig, RedisStore};

use crate::disposable::{Server, free_port};
use crate::fixtures::{challenge, mac};

const TIMEOUT: Duration = Duration::from_millis(500);

async fn store(port: u16) -> RedisStore {
    let config = RedisConfig {
        url: format!("redis://127.0.0.1:{port}"),
        sentinel_password: None,
        key_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
        command_timeout: TIMEOUT,
    };
    RedisStore::connect(config).await.unwrap()
}

#[track_caller]
pub(crate) fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    res: Result<T, StoreError>,
    took: Duration,
) {
    assert!(
        matches!(res, Err(StoreError::Unavailable(_))),
        "{what}: {res:?}"
    );
    assert!(took < Duration::from_millis(1200), "{what} took {took:?}");
}

/// Calls `ping` until it succeeds; returns how long that took.
async fn wait_until_serving(store: &RedisStore, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if store.ping().await.is_ok() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "not serving {within:?} after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r38_fails_closed_while_redis_is_down_and_recovers_without_restart() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("twostep-recovery-{}", uuid::Uuid::new_v4()));
    let mut server = Server::start(port, dir.join("a"));
    let clock = ManualClock::starting_now();
    let store = store(port).await;

    let before = challenge(clock.now());
    store.create_challenge(&before).await.unwrap();
    let outcome = store
        .verify_challenge(before.id, mac(9), clock.now())
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        VerifyOutcome::Rejected {
            attempts_left: 4,
            ..
        }
    ));

    server.kill();
    for _ in 0..3 {
        let t = Instant::now();
        let res = store.verify_challenge(before.id, mac(1), clock.now()).await;
        assert_unavailable("verify", res, t.elapsed());
        let t = Instant::now();
        let res = store.create_challenge(&challenge(clock.now())).await;
        assert_unavailable("create", res, t.elapsed());
        let limit = Limit {
            key: "k".into(),
            max: 5,
            window: Duration::from_secs(60),
        };
        let t = Instant::now();
        let res = store.check_limits("s", &[limit], clock.now()).await;
        assert_unavailable("check_limits", res, t.elapsed());
        let t = Instant::now();
        assert_unavailable("ping", store.ping().await, t.elapsed());
    }
    // A store can be built while Redis is down; it fails closed too.
    let built_while_down = store_while_down(port).await;

    let restarted = Server::start(port, dir.join("b"));
    let took = wait_until_serving(&store, Duration::from_secs(5)).await;
    eprintln!("the running store served again {took:?} after Redis returned");
    wait_until_serving(&built_while_down, Duration::from_secs(5)).await;

    // The new server has neither the data nor the scripts: NOSCRIPT is handled.
    for s in [&store, &built_while_down] {
        let c = challenge(clock.now());
        s.create_challenge(&c).await.unwrap();
        let outcome = s.verify_challenge(c.id, mac(1), clock.now()).await.unwrap();
        assert!(matches!(outcome, VerifyOutcome::Verified(_)), "{outcome:?}");
    }
    let outcome = store
        .verify_challenge(before.id, mac(1), clock.now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        VerifyOutcome::NotFound,
        "the old server's data is gone"
    );
    drop(restarted);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn store_while_down(port: u16) -> RedisStore {
    let s = store(port).await;
    let t = Instant::now();
    assert_unavailable(
        "ping of a store built while down",
        s.ping().await,
        t.elapsed(),
    );
    s
}
