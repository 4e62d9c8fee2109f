//! The durable account lockout ledger (R8–R11, R39 b).

use std::time::Duration;

use chrono::{DateTime, Utc};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{Admission, Factor, LockRule, LockoutRepo};
use twostep_storage::Database;

contract!(
    r09_failures_count_up_and_soft_lock_with_growing_delays,
    r10_clear_ends_the_run,
    r10_a_right_credential_admitted_ends_the_run_unless_locked,
    r08_concurrent_admissions_never_pass_the_hard_lock,
    backup_codes_pass_the_hard_lock_but_not_the_delay,
    counters_are_per_factor_and_per_tenant,
);

fn rule(soft_at: u32, hard_at: u32) -> LockRule {
    LockRule {
        soft_at,
        hard_at,
        first_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(3600),
        past_hard_lock: false,
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

async fn admitted(db: &Database, t: TenantId, u: UserId, r: &LockRule, now: DateTime<Utc>) -> u32 {
    match db
        .lockouts()
        .admit(t, u, Factor::Otp, r, now)
        .await
        .unwrap()
    {
        Admission::Admitted { failures, .. } => failures,
        Admission::Refused => panic!("refused at {now}"),
    }
}

async fn r09_failures_count_up_and_soft_lock_with_growing_delays(db: Database) {
    let repo = db.lockouts();
    let (t, u, r) = (TenantId::random(), UserId::random(), rule(3, 10));
    let now = t0();
    for n in 1..=2 {
        assert_eq!(admitted(&db, t, u, &r, now).await, n);
    }
    // The third failure reaches the soft lock: one minute.
    let third = repo.admit(t, u, Factor::Otp, &r, now).await.unwrap();
    assert_eq!(
        third,
        Admission::Admitted {
            failures: 3,
            locked_until: Some(now + chrono::Duration::seconds(60)),
            hard_locked: false
        }
    );
    assert_eq!(
        repo.admit(t, u, Factor::Otp, &r, now + chrono::Duration::seconds(59))
            .await
            .unwrap(),
        Admission::Refused
    );
    // A refused attempt is not counted.
    assert_eq!(
        repo.get(t, u, Factor::Otp).await.unwrap().unwrap().failures,
        3
    );
    let later = now + chrono::Duration::seconds(60);
    assert_eq!(admitted(&db, t, u, &r, later).await, 4);
    let state = repo.get(t, u, Factor::Otp).await.unwrap().unwrap();
    assert_eq!(
        state.locked_until,
        Some(later + chrono::Duration::seconds(120))
    );
}

async fn r10_clear_ends_the_run(db: Database) {
    let repo = db.lockouts();
    let (t, u, r) = (TenantId::random(), UserId::random(), rule(3, 10));
    for _ in 0..3 {
        admitted(&db, t, u, &r, t0()).await;
    }
    repo.clear(t, u, Factor::Otp).await.unwrap();
    assert_eq!(repo.get(t, u, Factor::Otp).await.unwrap(), None);
    assert_eq!(admitted(&db, t, u, &r, t0()).await, 1);
}

async fn r10_a_right_credential_admitted_ends_the_run_unless_locked(db: Database) {
    let repo = db.lockouts();
    let (t, u, r) = (TenantId::random(), UserId::random(), rule(3, 4));
    let now = t0();
    // Never failed: admitted, and the counter reads as cleared.
    assert!(
        repo.admit_success(t, u, Factor::Password, &r, now)
            .await
            .unwrap()
    );
    assert_eq!(repo.get(t, u, Factor::Password).await.unwrap(), None);
    // Two failures, then a right one: the run ends.
    for _ in 0..2 {
        repo.admit(t, u, Factor::Password, &r, now).await.unwrap();
    }
    assert!(
        repo.admit_success(t, u, Factor::Password, &r, now)
            .await
            .unwrap()
    );
    assert_eq!(repo.get(t, u, Factor::Password).await.unwrap(), None);
    let first = repo.admit(t, u, Factor::Password, &r, now).await.unwrap();
    assert!(
        matches!(first, Admission::Admitted { failures: 1, .. }),
        "{first:?}"
    );
    // Soft-locked (third failure): a right credential is refused and changes nothing.
    for _ in 0..2 {
        repo.admit(t, u, Factor::Password, &r, now).await.unwrap();
    }
    let soft = now + chrono::Duration::seconds(30);
    assert!(
        !repo
            .admit_success(t, u, Factor::Password, &r, soft)
            .await
            .unwrap()
    );
    assert_eq!(
        repo.get(t, u, Factor::Password)
            .await
            .unwrap()
            .unwrap()
            .failures,
        3
    );
    // After the delay, the fourth failure hard-locks; a right credential stays refused.
    let later = now + chrono::Duration::seconds(60);
    repo.admit(t, u, Factor::Password, &r, later).await.unwrap();
    let much_later = later + chrono::Duration::days(1);
    assert!(
        !repo
            .admit_success(t, u, Factor::Password, &r, much_later)
            .await
            .unwrap()
    );
    let state = repo.get(t, u, Factor::Password).await.unwrap().unwrap();
    assert_eq!(state.failures, 4);
    assert!(state.hard_locked_at.is_some());
    // Another tenant's right credential for the same user id touches nothing here.
    assert!(
        !repo
            .admit_success(TenantId::random(), u, Factor::Password, &r, much_later)
            .await
            .unwrap()
    );
    assert_eq!(
        repo.get(t, u, Factor::Password)
            .await
            .unwrap()
            .unwrap()
            .failures,
        4
    );
}

async fn r08_concurrent_admissions_never_pass_the_hard_lock(db: Database) {
    let (t, u) = (TenantId::random(), UserId::random());
    // No soft lock before the hard one, so only the hard lock stops them.
    let r = rule(5, 5);
    let r = LockRule {
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(1),
        ..r
    };
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let repo = db.lockouts();
            // Each attempt comes after the previous one's delay, so only the hard lock counts.
            let now = t0() + chrono::Duration::seconds(10 * i);
            tokio::spawn(async move { repo.admit(t, u, Factor::Otp, &r, now).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Admission::Admitted { .. }) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    let state = db.lockouts().get(t, u, Factor::Otp).await.unwrap().unwrap();
    assert_eq!(state.failures, 5);
    assert!(state.hard_locked_at.is_some());
}

async fn backup_codes_pass_the_hard_lock_but_not_the_delay(db: Database) {
    let repo = db.lockouts();
    let (t, u, r) = (TenantId::random(), UserId::random(), rule(2, 2));
    admitted(&db, t, u, &r, t0()).await;
    admitted(&db, t, u, &r, t0()).await;
    let much_later = t0() + chrono::Duration::days(2);
    assert_eq!(
        repo.admit(t, u, Factor::Otp, &r, much_later).await.unwrap(),
        Admission::Refused,
        "the hard lock outlives every delay"
    );
    let backup = LockRule {
        past_hard_lock: true,
        ..r
    };
    assert_eq!(
        repo.admit(t, u, Factor::Otp, &backup, t0()).await.unwrap(),
        Admission::Refused,
        "the soft-lock delay still applies to backup codes"
    );
    assert!(matches!(
        repo.admit(t, u, Factor::Otp, &backup, much_later)
            .await
            .unwrap(),
        Admission::Admitted { .. }
    ));
}

async fn counters_are_per_factor_and_per_tenant(db: Database) {
    let repo = db.lockouts();
    let (t, u, r) = (TenantId::random(), UserId::random(), rule(1, 1));
    admitted(&db, t, u, &r, t0()).await;
    assert!(matches!(
        repo.admit(t, u, Factor::Password, &r, t0()).await.unwrap(),
        Admission::Admitted { failures: 1, .. }
    ));
    assert_eq!(
        repo.get(TenantId::random(), u, Factor::Otp).await.unwrap(),
        None
    );
    // Clearing in another tenant's name changes nothing.
    repo.clear(TenantId::random(), u, Factor::Otp)
        .await
        .unwrap();
    assert!(repo.get(t, u, Factor::Otp).await.unwrap().is_some());
}
