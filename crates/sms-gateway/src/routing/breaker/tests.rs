use std::time::Duration;

use chrono::{TimeDelta, Utc};

use super::{Breaker, BreakerPolicy, BreakerState, Refusal};

fn breaker() -> Breaker {
    Breaker::new(BreakerPolicy {
        failure_threshold: 2,
        cool_down: Duration::from_secs(30),
    })
}

#[test]
fn opens_after_threshold_consecutive_failures_only() {
    let b = breaker();
    let now = Utc::now();
    b.try_acquire(now).unwrap().failure(now);
    b.try_acquire(now).unwrap().success();
    b.try_acquire(now).unwrap().failure(now);
    assert_eq!(b.state(now), BreakerState::Closed);
    b.try_acquire(now).unwrap().failure(now);
    assert_eq!(b.state(now), BreakerState::Open);
    assert_eq!(
        b.try_acquire(now).unwrap_err(),
        Refusal::OpenUntil(now + TimeDelta::seconds(30))
    );
}

#[test]
fn half_open_admits_one_probe_and_a_dropped_probe_frees_the_slot() {
    let b = breaker();
    let now = Utc::now();
    b.try_acquire(now).unwrap().failure(now);
    b.try_acquire(now).unwrap().failure(now);
    let later = now + TimeDelta::seconds(31);
    assert_eq!(b.state(later), BreakerState::HalfOpen);
    let probe = b.try_acquire(later).unwrap();
    assert_eq!(b.try_acquire(later).unwrap_err(), Refusal::ProbeInFlight);
    drop(probe);
    let probe = b.try_acquire(later).unwrap();
    probe.failure(later);
    assert_eq!(b.state(later), BreakerState::Open);
}
