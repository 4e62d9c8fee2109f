//! Rate limits: sliding windows, exact under concurrency, all or nothing.

use std::time::Duration;

use futures::future::join_all;
use twostep_core::ports::{Limit, RateDecision};

use crate::backend::Backend;

fn limit(key: &str, max: u32, window_secs: u64) -> Limit {
    Limit {
        key: key.to_owned(),
        max,
        window: Duration::from_secs(window_secs),
    }
}

pub async fn limits_allow_exactly_max_under_concurrency(b: &Backend) {
    let now = b.now();
    let tasks = (0..100).map(|_| {
        let store = b.store.clone();
        tokio::spawn(async move {
            store
                .check_limits("ip:10.0.0.1", &[limit("send", 10, 60)], now)
                .await
                .unwrap()
        })
    });
    let decisions: Vec<RateDecision> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let allowed = decisions
        .iter()
        .filter(|d| **d == RateDecision::Allowed)
        .count();
    assert_eq!(allowed, 10, "{decisions:?}");
    for d in &decisions {
        if let RateDecision::Denied {
            limit_index,
            retry_after,
        } = d
        {
            assert_eq!(*limit_index, 0);
            assert!(*retry_after > Duration::ZERO && *retry_after <= Duration::from_secs(60));
        }
    }
}

pub async fn limits_slide_with_the_window(b: &Backend) {
    let l = [limit("k", 2, 60)];
    let check = |b: &Backend| {
        let store = b.store.clone();
        let now = b.now();
        let l = l.clone();
        async move { store.check_limits("s", &l, now).await.unwrap() }
    };
    assert_eq!(check(b).await, RateDecision::Allowed); // t = 0
    b.advance(chrono::Duration::seconds(30));
    assert_eq!(check(b).await, RateDecision::Allowed); // t = 30
    b.advance(chrono::Duration::seconds(10));
    assert_eq!(
        check(b).await,
        RateDecision::Denied {
            limit_index: 0,
            retry_after: Duration::from_secs(20)
        },
        "t = 40: the hit of t = 0 leaves the window at t = 60"
    );
    b.advance(chrono::Duration::seconds(20));
    assert_eq!(
        check(b).await,
        RateDecision::Allowed,
        "t = 60: the first hit has left"
    );
    assert_eq!(
        check(b).await,
        RateDecision::Denied {
            limit_index: 0,
            retry_after: Duration::from_secs(30)
        },
        "t = 60: hits of t = 30 and t = 60 remain"
    );
}

pub async fn limits_are_all_or_nothing(b: &Backend) {
    let now = b.now();
    let both = [limit("wide", 5, 3600), limit("narrow", 1, 60)];
    assert_eq!(
        b.store.check_limits("num", &both, now).await.unwrap(),
        RateDecision::Allowed
    );
    for _ in 0..3 {
        let d = b.store.check_limits("num", &both, now).await.unwrap();
        assert_eq!(
            d,
            RateDecision::Denied {
                limit_index: 1,
                retry_after: Duration::from_secs(60)
            }
        );
    }
    // The denials counted nothing on "wide": it has 4 of its 5 hits left.
    let wide = [limit("wide", 5, 3600)];
    for _ in 0..4 {
        assert_eq!(
            b.store.check_limits("num", &wide, now).await.unwrap(),
            RateDecision::Allowed
        );
    }
    let d = b.store.check_limits("num", &wide, now).await.unwrap();
    assert_eq!(
        d,
        RateDecision::Denied {
            limit_index: 0,
            retry_after: Duration::from_secs(3600)
        }
    );
    // A limit of zero never allows; no limits at all always does.
    let d = b
        .store
        .check_limits("num", &[limit("zero", 0, 60)], now)
        .await
        .unwrap();
    assert!(
        matches!(d, RateDecision::Denied { limit_index: 0, .. }),
        "{d:?}"
    );
    assert_eq!(
        b.store.check_limits("num", &[], now).await.unwrap(),
        RateDecision::Allowed
    );
}

pub async fn limits_are_separate_per_scope_and_key(b: &Backend) {
    let now = b.now();
    let one = |key: &str| [limit(key, 1, 60)];
    assert_eq!(
        b.store.check_limits("a", &one("k"), now).await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        b.store.check_limits("b", &one("k"), now).await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        b.store.check_limits("a", &one("j"), now).await.unwrap(),
        RateDecision::Allowed
    );
    // Braces in a scope or key neither break the hash tag nor merge counters.
    assert_eq!(
        b.store.check_limits("x}:k", &one("y"), now).await.unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        b.store.check_limits("x", &one("k}:y"), now).await.unwrap(),
        RateDecision::Allowed
    );
    let d = b.store.check_limits("a", &one("k"), now).await.unwrap();
    assert!(matches!(d, RateDecision::Denied { .. }));
}
