//! Account failure counters, single-use tickets, ping.

use std::time::Duration;

use futures::future::join_all;
use twostep_core::token::TokenHash;

use crate::backend::Backend;
use crate::fixtures::{challenge, mac, secs};

fn account() -> String {
    format!("user:{}", uuid::Uuid::new_v4())
}

pub async fn r09_failure_counter_survives_challenges_and_clears(b: &Backend) {
    let (who, other) = (account(), account());
    let window = Duration::from_secs(3600);
    for n in 1..=3 {
        assert_eq!(b.store.record_failure(&who, window).await.unwrap(), n);
    }
    assert_eq!(b.store.failure_count(&other).await.unwrap(), 0);

    // New challenges and resends never touch it.
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();
    b.advance(secs(60));
    b.store
        .resend_challenge(c.id, mac(2), b.now(), b.now() + secs(300), None)
        .await
        .unwrap();
    b.store
        .verify_challenge(c.id, mac(2), b.now())
        .await
        .unwrap();
    assert_eq!(b.store.failure_count(&who).await.unwrap(), 3);

    // Concurrent failures are all counted.
    let tasks = (0..20).map(|_| {
        let store = b.store.clone();
        let who = who.clone();
        tokio::spawn(async move { store.record_failure(&who, window).await.unwrap() })
    });
    let mut counts: Vec<u32> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (4..=23).collect::<Vec<_>>());

    b.store.clear_failures(&who).await.unwrap();
    assert_eq!(b.store.failure_count(&who).await.unwrap(), 0);
    assert_eq!(b.store.record_failure(&who, window).await.unwrap(), 1);
    b.store.clear_failures(&other).await.unwrap();
}

/// The failure window is measured on the store's clock in memory and as a real TTL in Redis,
/// so this case moves both.
pub async fn failure_counter_expires_after_its_window(b: &Backend) {
    let who = account();
    let window = Duration::from_millis(300);
    assert_eq!(b.store.record_failure(&who, window).await.unwrap(), 1);
    assert_eq!(b.store.record_failure(&who, window).await.unwrap(), 2);
    b.advance(secs(1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.store.failure_count(&who).await.unwrap(), 0);
    assert_eq!(b.store.record_failure(&who, window).await.unwrap(), 1);
}

fn ticket() -> TokenHash {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenHash::from_bytes(bytes)
}

pub async fn tickets_work_once_under_concurrency(b: &Backend) {
    let hash = ticket();
    let now = b.now();
    b.store
        .put_ticket(hash, "user=42;device=d1", now + secs(300), now)
        .await
        .unwrap();
    let tasks = (0..20).map(|_| {
        let store = b.store.clone();
        tokio::spawn(async move { store.take_ticket(hash, now).await.unwrap() })
    });
    let taken: Vec<Option<String>> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let got: Vec<&String> = taken.iter().flatten().collect();
    assert_eq!(got, [&"user=42;device=d1".to_owned()], "{taken:?}");
    assert_eq!(b.store.take_ticket(hash, now).await.unwrap(), None);
    assert_eq!(b.store.take_ticket(ticket(), now).await.unwrap(), None);
}

/// Peeking shows a live ticket as often as asked and spends nothing; it sees no expired,
/// taken or unknown ticket; and a take after any number of peeks still works exactly once.
pub async fn tickets_can_be_peeked_without_spending_them(b: &Backend) {
    let (hash, short) = (ticket(), ticket());
    let now = b.now();
    b.store
        .put_ticket(hash, "kind=registration", now + secs(300), now)
        .await
        .unwrap();
    b.store
        .put_ticket(short, "s", now + secs(5), now)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            b.store.peek_ticket(hash, now).await.unwrap().as_deref(),
            Some("kind=registration")
        );
    }
    assert_eq!(b.store.peek_ticket(ticket(), now).await.unwrap(), None);
    b.advance(secs(5));
    let later = b.now();
    assert_eq!(
        b.store.peek_ticket(short, later).await.unwrap(),
        None,
        "expired"
    );

    let tasks = (0..10).map(|i| {
        let store = b.store.clone();
        tokio::spawn(async move {
            if i % 2 == 0 {
                store.peek_ticket(hash, later).await.unwrap();
                None
            } else {
                store.take_ticket(hash, later).await.unwrap()
            }
        })
    });
    let taken: Vec<String> = join_all(tasks)
        .await
        .into_iter()
        .filter_map(Result::unwrap)
        .collect();
    assert_eq!(taken, ["kind=registration"]);
    assert_eq!(
        b.store.peek_ticket(hash, later).await.unwrap(),
        None,
        "taken"
    );
}

pub async fn tickets_expire(b: &Backend) {
    let (a, gone, late) = (ticket(), ticket(), ticket());
    let now = b.now();
    b.store
        .put_ticket(a, "a", now + secs(10), now)
        .await
        .unwrap();
    b.store.put_ticket(gone, "g", now, now).await.unwrap();
    b.store
        .put_ticket(late, "l", now + secs(10), now)
        .await
        .unwrap();
    assert_eq!(
        b.store.take_ticket(gone, now).await.unwrap(),
        None,
        "stored already expired"
    );
    b.advance(secs(9));
    assert_eq!(
        b.store.take_ticket(a, b.now()).await.unwrap().as_deref(),
        Some("a")
    );
    b.advance(secs(1));
    assert_eq!(
        b.store.take_ticket(late, b.now()).await.unwrap(),
        None,
        "at expiry"
    );
}

pub async fn ping_answers(b: &Backend) {
    b.store.ping().await.unwrap();
}
