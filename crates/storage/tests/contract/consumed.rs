//! The ledger of accepted codes (R39 a).

use chrono::Utc;
use twostep_core::ids::{ChallengeId, TenantId};
use twostep_core::ports::ConsumedChallenges;
use twostep_storage::Database;

contract!(
    r39_a_challenge_is_recorded_as_consumed_once,
    concurrent_records_let_exactly_one_through
);

async fn r39_a_challenge_is_recorded_as_consumed_once(db: Database) {
    let ledger = db.consumed_challenges();
    let (tenant, challenge) = (TenantId::random(), ChallengeId::random());
    assert!(ledger.record(tenant, challenge, Utc::now()).await.unwrap());
    assert!(
        !ledger.record(tenant, challenge, Utc::now()).await.unwrap(),
        "a replay must be refused"
    );
    assert!(
        ledger
            .record(tenant, ChallengeId::random(), Utc::now())
            .await
            .unwrap()
    );
}

async fn concurrent_records_let_exactly_one_through(db: Database) {
    let ledger = db.consumed_challenges();
    let (tenant, challenge) = (TenantId::random(), ChallengeId::random());
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.record(tenant, challenge, Utc::now()).await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.unwrap());
    }
    assert_eq!(firsts, 1);
}
