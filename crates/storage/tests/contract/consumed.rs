//! The ledger of accepted codes (R39 a).

use std::time::Duration;

use chrono::Utc;
use twostep_core::ids::{ChallengeId, TenantId, UserId};
use twostep_core::ports::{Admission, ConsumedChallenges, Factor, LockRule, LockoutRepo};
use twostep_storage::Database;

contract!(
    r39_a_challenge_is_recorded_as_consumed_once,
    concurrent_records_let_exactly_one_through,
    r10_recording_ends_the_failure_run,
    r10_a_replay_ends_no_run,
    concurrent_records_that_end_a_run_let_exactly_one_through,
);

fn rule() -> LockRule {
    LockRule {
        soft_at: 5,
        hard_at: 10,
        first_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(3600),
        past_hard_lock: false,
    }
}

/// Counts `n` failures of `factor` for the account and returns the count stored.
async fn fail(db: &Database, t: TenantId, u: UserId, factor: Factor, n: u32) -> u32 {
    let mut last = 0;
    for _ in 0..n {
        match db.lockouts().admit(t, u, factor, &rule(), Utc::now()).await {
            Ok(Admission::Admitted { failures, .. }) => last = failures,
            other => panic!("not admitted: {other:?}"),
        }
    }
    last
}

async fn failures(db: &Database, t: TenantId, u: UserId, factor: Factor) -> u32 {
    let state = db.lockouts().get(t, u, factor).await.unwrap();
    state.map_or(0, |s| s.failures)
}

async fn r39_a_challenge_is_recorded_as_consumed_once(db: Database) {
    let ledger = db.consumed_challenges();
    let (tenant, challenge) = (TenantId::random(), ChallengeId::random());
    assert!(
        ledger
            .record(tenant, challenge, Utc::now(), None)
            .await
            .unwrap()
    );
    assert!(
        !ledger
            .record(tenant, challenge, Utc::now(), None)
            .await
            .unwrap(),
        "a replay must be refused"
    );
    assert!(
        ledger
            .record(tenant, ChallengeId::random(), Utc::now(), None)
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
            tokio::spawn(async move {
                ledger
                    .record(tenant, challenge, Utc::now(), None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.unwrap());
    }
    assert_eq!(firsts, 1);
}

async fn r10_recording_ends_the_failure_run(db: Database) {
    let (t, u) = (TenantId::random(), UserId::random());
    assert_eq!(fail(&db, t, u, Factor::Otp, 3).await, 3);
    assert_eq!(fail(&db, t, u, Factor::Password, 2).await, 2);
    let other = UserId::random();
    fail(&db, t, other, Factor::Otp, 1).await;

    let recorded = db
        .consumed_challenges()
        .record(t, ChallengeId::random(), Utc::now(), Some((u, Factor::Otp)))
        .await
        .unwrap();
    assert!(recorded);
    assert_eq!(failures(&db, t, u, Factor::Otp).await, 0, "the run ended");
    assert_eq!(
        failures(&db, t, u, Factor::Password).await,
        2,
        "only the factor's run ends"
    );
    assert_eq!(
        failures(&db, t, other, Factor::Otp).await,
        1,
        "only the account's run ends"
    );
}

async fn r10_a_replay_ends_no_run(db: Database) {
    let (t, u, challenge) = (TenantId::random(), UserId::random(), ChallengeId::random());
    let ledger = db.consumed_challenges();
    assert!(
        ledger
            .record(t, challenge, Utc::now(), Some((u, Factor::Otp)))
            .await
            .unwrap()
    );
    // Failures after the accepted code, then the same challenge presented again.
    assert_eq!(fail(&db, t, u, Factor::Otp, 2).await, 2);
    assert!(
        !ledger
            .record(t, challenge, Utc::now(), Some((u, Factor::Otp)))
            .await
            .unwrap(),
        "a replay must be refused"
    );
    assert_eq!(
        failures(&db, t, u, Factor::Otp).await,
        2,
        "a replay must not end the run"
    );
}

async fn concurrent_records_that_end_a_run_let_exactly_one_through(db: Database) {
    let ledger = db.consumed_challenges();
    let (t, u, challenge) = (TenantId::random(), UserId::random(), ChallengeId::random());
    fail(&db, t, u, Factor::Otp, 4).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                ledger
                    .record(t, challenge, Utc::now(), Some((u, Factor::Otp)))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        firsts += usize::from(task.await.unwrap());
    }
    assert_eq!(firsts, 1);
    assert_eq!(failures(&db, t, u, Factor::Otp).await, 0);
}
