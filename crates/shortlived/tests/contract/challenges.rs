//! Challenges: single use, attempt cap and burn, expiry, resend, round trip.

use std::time::Duration;

use futures::future::join_all;
use twostep_core::ids::ChallengeId;
use twostep_core::ports::{ResendOutcome, VerifyOutcome};

use crate::backend::Backend;
use crate::fixtures::{COOLDOWN, LIFETIME, challenge, mac, ms, secs, stored};

/// Runs `n` verifies of one challenge at once; `code(i)` is the MAC request `i` sends.
async fn verify_many(
    b: &Backend,
    id: ChallengeId,
    n: usize,
    code: impl Fn(usize) -> u8,
) -> Vec<VerifyOutcome> {
    let now = b.now();
    let tasks = (0..n).map(|i| {
        let store = b.store.clone();
        let candidate = mac(code(i));
        tokio::spawn(async move { store.verify_challenge(id, candidate, now).await.unwrap() })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn count(outcomes: &[VerifyOutcome], pred: impl Fn(&VerifyOutcome) -> bool) -> usize {
    outcomes.iter().filter(|o| pred(o)).count()
}

pub async fn r05_single_use_under_concurrency(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();

    let outcomes = verify_many(b, c.id, 50, |_| 1).await;
    let verified = count(&outcomes, |o| matches!(o, VerifyOutcome::Verified(_)));
    let not_found = count(&outcomes, |o| *o == VerifyOutcome::NotFound);
    assert_eq!(verified, 1, "{outcomes:?}");
    assert_eq!(not_found, 49, "{outcomes:?}");
    let Some(VerifyOutcome::Verified(got)) = outcomes
        .iter()
        .find(|o| matches!(o, VerifyOutcome::Verified(_)))
    else {
        unreachable!()
    };
    assert_eq!(*got, stored(&c));

    let later = b
        .store
        .verify_challenge(c.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(later, VerifyOutcome::NotFound);
    assert_eq!(b.store.get_challenge(c.id, b.now()).await.unwrap(), None);
    let unknown = b
        .store
        .verify_challenge(ChallengeId::random(), mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(unknown, VerifyOutcome::NotFound);
}

pub async fn r07_burn_after_the_last_wrong_attempt(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();
    for left in (0..5).rev() {
        let outcome = b
            .store
            .verify_challenge(c.id, mac(2), b.now())
            .await
            .unwrap();
        assert_eq!(
            outcome,
            VerifyOutcome::Rejected {
                attempts_left: left,
                user: c.user
            }
        );
    }
    let right = b
        .store
        .verify_challenge(c.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(
        right,
        VerifyOutcome::NotFound,
        "a burned challenge takes no code"
    );
    assert_eq!(b.store.get_challenge(c.id, b.now()).await.unwrap(), None);

    // The user is reported as stored, also when there is none.
    let mut anonymous = challenge(b.now());
    anonymous.user = None;
    b.store.create_challenge(&anonymous).await.unwrap();
    let outcome = b
        .store
        .verify_challenge(anonymous.id, mac(2), b.now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        VerifyOutcome::Rejected {
            attempts_left: 4,
            user: None
        }
    );
}

pub async fn r08_concurrent_wrong_codes_are_compared_at_most_max_attempts_times(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();

    let outcomes = verify_many(b, c.id, 200, |_| 2).await;
    let compared = count(&outcomes, |o| matches!(o, VerifyOutcome::Rejected { .. }));
    assert!(compared <= 5, "{compared} codes compared");
    assert_eq!(compared, 5, "every attempt of the budget is spent");
    assert_eq!(count(&outcomes, |o| *o == VerifyOutcome::NotFound), 195);
    let burned = count(&outcomes, |o| {
        matches!(
            o,
            VerifyOutcome::Rejected {
                attempts_left: 0,
                ..
            }
        )
    });
    assert_eq!(burned, 1);

    let right = b
        .store
        .verify_challenge(c.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(right, VerifyOutcome::NotFound);
}

pub async fn r08_right_code_among_wrong_ones_needs_one_of_the_first_evaluations(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();

    let outcomes = verify_many(b, c.id, 200, |i| if i == 99 { 1 } else { 2 }).await;
    let rejected = count(&outcomes, |o| matches!(o, VerifyOutcome::Rejected { .. }));
    let verified = count(&outcomes, |o| matches!(o, VerifyOutcome::Verified(_)));
    assert!(
        rejected + verified <= 5,
        "{} codes compared",
        rejected + verified
    );
    if verified == 0 {
        assert_eq!(rejected, 5);
        assert!(matches!(outcomes[99], VerifyOutcome::NotFound));
    } else {
        assert_eq!(verified, 1);
        assert!(matches!(outcomes[99], VerifyOutcome::Verified(_)));
    }
    let right = b
        .store
        .verify_challenge(c.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(right, VerifyOutcome::NotFound);
}

pub async fn r04_expiry_follows_the_callers_clock(b: &Backend) {
    let start = b.now();
    let (early, boundary, late) = (challenge(start), challenge(start), challenge(start));
    for c in [&early, &boundary, &late] {
        b.store.create_challenge(c).await.unwrap();
    }
    if let Some(ttl) = b.challenge_ttl_ms(late.id).await {
        let most = i64::try_from((LIFETIME + twostep_shortlived::TTL_MARGIN).as_millis()).unwrap();
        assert!(ttl > 0 && ttl <= most, "TTL {ttl} ms right after creation");
    }

    let lifetime = chrono::Duration::from_std(LIFETIME).unwrap();
    b.advance(lifetime - secs(1));
    let outcome = b
        .store
        .verify_challenge(early.id, mac(1), b.now())
        .await
        .unwrap();
    assert!(
        matches!(outcome, VerifyOutcome::Verified(_)),
        "1 s before expiry: {outcome:?}"
    );

    b.advance(secs(1));
    let outcome = b
        .store
        .verify_challenge(boundary.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::NotFound, "at expiry");

    b.advance(secs(1));
    let outcome = b
        .store
        .verify_challenge(late.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::NotFound, "1 s after expiry");
    assert_eq!(b.store.get_challenge(late.id, b.now()).await.unwrap(), None);
    let resend = b
        .store
        .resend_challenge(late.id, mac(3), b.now(), b.now() + lifetime, None)
        .await;
    assert_eq!(resend.unwrap(), ResendOutcome::NotFound);
}

pub async fn r14_resend_replaces_the_code_at_once(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();
    let outcome = b
        .store
        .verify_challenge(c.id, mac(9), b.now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        VerifyOutcome::Rejected {
            attempts_left: 4,
            user: c.user
        }
    );

    b.advance(chrono::Duration::from_std(COOLDOWN).unwrap());
    let now = b.now();
    let new_expiry = now + chrono::Duration::from_std(LIFETIME).unwrap();
    let ResendOutcome::Resent(resent) = b
        .store
        .resend_challenge(c.id, mac(2), now, new_expiry, None)
        .await
        .unwrap()
    else {
        panic!("resend after the cooldown must succeed");
    };
    assert_eq!(resent.sends, 2);
    assert_eq!(resent.attempts_left, 4, "a resend does not reset attempts");
    assert_eq!(
        resent.resend_at,
        ms(now) + chrono::Duration::from_std(COOLDOWN).unwrap()
    );
    assert_eq!(resent.expires_at, ms(new_expiry));
    assert_eq!(resent.code_mac, mac(2));
    assert_eq!(resent.created_at, ms(c.created_at));

    let old = b
        .store
        .verify_challenge(c.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(
        old,
        VerifyOutcome::Rejected {
            attempts_left: 3,
            user: c.user
        },
        "old code"
    );
    let new = b
        .store
        .verify_challenge(c.id, mac(2), b.now())
        .await
        .unwrap();
    let VerifyOutcome::Verified(got) = new else {
        panic!("new code: {new:?}")
    };
    assert_eq!((got.sends, got.attempts_left), (2, 3));
}

pub async fn resend_cooldown_reports_the_time_left(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();
    let expiry = b.now() + secs(600);

    let outcome = b
        .store
        .resend_challenge(c.id, mac(2), b.now(), expiry, None)
        .await
        .unwrap();
    assert_cooldown(&outcome, COOLDOWN);
    b.advance(secs(20));
    let outcome = b
        .store
        .resend_challenge(c.id, mac(2), b.now(), expiry, None)
        .await
        .unwrap();
    assert_cooldown(&outcome, COOLDOWN - Duration::from_secs(20));
    b.advance(secs(40));
    let outcome = b
        .store
        .resend_challenge(c.id, mac(2), b.now(), expiry, None)
        .await
        .unwrap();
    assert!(matches!(outcome, ResendOutcome::Resent(_)), "{outcome:?}");
    // The cooldown starts again from this resend.
    b.advance(secs(59));
    let outcome = b
        .store
        .resend_challenge(c.id, mac(3), b.now(), expiry, None)
        .await
        .unwrap();
    assert_cooldown(&outcome, Duration::from_secs(1));
    // A refused resend changed nothing: the code of the last successful one still works.
    let outcome = b
        .store
        .verify_challenge(c.id, mac(2), b.now())
        .await
        .unwrap();
    assert!(matches!(outcome, VerifyOutcome::Verified(_)), "{outcome:?}");
}

#[track_caller]
fn assert_cooldown(outcome: &ResendOutcome, expected: Duration) {
    let ResendOutcome::Cooldown { retry_after } = outcome else {
        panic!("expected a cooldown, got {outcome:?}");
    };
    let diff = retry_after.abs_diff(expected);
    assert!(
        diff <= Duration::from_millis(1),
        "retry_after {retry_after:?}, expected {expected:?}"
    );
}

pub async fn resend_send_cap_holds(b: &Backend) {
    let mut c = challenge(b.now());
    c.max_sends = 3;
    b.store.create_challenge(&c).await.unwrap();
    let step = chrono::Duration::from_std(COOLDOWN).unwrap();
    for sends in 2..=3 {
        b.advance(step);
        let outcome = b
            .store
            .resend_challenge(c.id, mac(2), b.now(), b.now() + secs(300), None)
            .await;
        let ResendOutcome::Resent(resent) = outcome.unwrap() else {
            panic!("send {sends}")
        };
        assert_eq!(resent.sends, sends);
    }
    // The cap is reported first, even while the cooldown would also refuse.
    let outcome = b
        .store
        .resend_challenge(c.id, mac(3), b.now(), b.now() + secs(300), None)
        .await;
    assert_eq!(outcome.unwrap(), ResendOutcome::SendCapReached);
    b.advance(step);
    let outcome = b
        .store
        .resend_challenge(c.id, mac(3), b.now(), b.now() + secs(300), None)
        .await;
    assert_eq!(outcome.unwrap(), ResendOutcome::SendCapReached);
    let outcome = b
        .store
        .verify_challenge(c.id, mac(2), b.now())
        .await
        .unwrap();
    assert!(
        matches!(outcome, VerifyOutcome::Verified(_)),
        "the last code sent still works"
    );
}

pub async fn resend_of_a_dead_challenge_is_not_found(b: &Backend) {
    let now = b.now();
    let outcome =
        b.store
            .resend_challenge(ChallengeId::random(), mac(2), now, now + secs(300), None);
    assert_eq!(outcome.await.unwrap(), ResendOutcome::NotFound);

    let mut c = challenge(now);
    c.attempts_left = 1;
    c.resend_at = now;
    b.store.create_challenge(&c).await.unwrap();
    let outcome = b.store.verify_challenge(c.id, mac(9), now).await.unwrap();
    assert_eq!(
        outcome,
        VerifyOutcome::Rejected {
            attempts_left: 0,
            user: c.user
        }
    );
    let outcome = b
        .store
        .resend_challenge(c.id, mac(2), now, now + secs(300), None)
        .await;
    assert_eq!(outcome.unwrap(), ResendOutcome::NotFound, "burned");

    let mut consumed = challenge(now);
    consumed.resend_at = now;
    b.store.create_challenge(&consumed).await.unwrap();
    b.store
        .verify_challenge(consumed.id, mac(1), now)
        .await
        .unwrap();
    let outcome = b
        .store
        .resend_challenge(consumed.id, mac(2), now, now + secs(300), None)
        .await;
    assert_eq!(outcome.unwrap(), ResendOutcome::NotFound, "consumed");
}

pub async fn get_challenge_round_trips_every_field(b: &Backend) {
    let mut full = challenge(b.now());
    full.decoy = true;
    full.purpose = twostep_core::challenge::Purpose::SecondFactor;
    full.context = "device=å→b; {tag} % \"quoted\" \n".repeat(20);
    full.attempts_left = 3;
    full.max_sends = 7;
    full.code_mac = twostep_core::otp::CodeMac::unmatchable();
    let mut bare = challenge(b.now());
    bare.user = None;
    bare.phone = None;
    bare.resend_cooldown = Duration::from_millis(1500);

    for c in [&full, &bare] {
        b.store.create_challenge(c).await.unwrap();
        let got = b.store.get_challenge(c.id, b.now()).await.unwrap();
        assert_eq!(got.as_ref(), Some(&stored(c)));
        // Reading changes nothing.
        let again = b.store.get_challenge(c.id, b.now()).await.unwrap();
        assert_eq!(again, got);
    }
    assert_eq!(
        b.store
            .get_challenge(ChallengeId::random(), b.now())
            .await
            .unwrap(),
        None
    );
    let outcome = b
        .store
        .verify_challenge(full.id, full.code_mac, b.now())
        .await
        .unwrap();
    assert_eq!(outcome, VerifyOutcome::Verified(stored(&full)));
}

pub async fn create_overwrites_an_existing_id(b: &Backend) {
    let first = challenge(b.now());
    b.store.create_challenge(&first).await.unwrap();
    b.store
        .verify_challenge(first.id, mac(9), b.now())
        .await
        .unwrap();
    let second = twostep_core::challenge::Challenge {
        code_mac: mac(5),
        ..first.clone()
    };
    b.store.create_challenge(&second).await.unwrap();
    let got = b
        .store
        .get_challenge(first.id, b.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        stored(&second),
        "attempts are those of the new challenge"
    );
    let outcome = b
        .store
        .verify_challenge(first.id, mac(1), b.now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        VerifyOutcome::Rejected {
            attempts_left: 4,
            user: first.user
        }
    );
}

/// R15: the flow passes the escalating wait; the store applies it in the same step, and the
/// next resend is refused until it has passed.
pub async fn r15_resend_applies_the_callers_backoff(b: &Backend) {
    let c = challenge(b.now());
    b.store.create_challenge(&c).await.unwrap();
    b.advance(chrono::Duration::from_std(COOLDOWN).unwrap());
    let now = b.now();
    let wait = Duration::from_secs(150);
    let ResendOutcome::Resent(resent) = b
        .store
        .resend_challenge(c.id, mac(2), now, now + secs(300), Some(wait))
        .await
        .unwrap()
    else {
        panic!("resend after the cooldown must succeed");
    };
    assert_eq!(resent.resend_at, ms(now) + secs(150));
    b.advance(chrono::Duration::from_std(COOLDOWN).unwrap());
    let early = b
        .store
        .resend_challenge(c.id, mac(3), b.now(), b.now() + secs(300), Some(wait))
        .await
        .unwrap();
    assert_eq!(
        early,
        ResendOutcome::Cooldown {
            retry_after: Duration::from_secs(150) - COOLDOWN
        }
    );
}
