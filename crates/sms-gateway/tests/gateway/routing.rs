//! The router over scripted providers: failover order, retries with backoff, the stop on a
//! number error, circuit breakers (open, half-open probe, close) and country routes. Tokio's
//! clock is paused, so backoff sleeps take no real time and their length is measurable;
//! the breakers run on a `ManualClock`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use twostep_core::clock::ManualClock;
use twostep_core::phone::Region;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};
use twostep_sms_gateway::routing::{
    BreakerPolicy, BreakerState, Router, RouterError, RouterPolicy,
};

use crate::support::{NUMBER, TEXT, sms, sms_to};

/// Answers from a script (the last answer repeats), after an optional delay; counts calls.
struct Scripted {
    script: Mutex<VecDeque<Result<(), SendError>>>,
    delay: Duration,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(script: Vec<Result<(), SendError>>) -> Arc<Self> {
        Self::slow(script, Duration::ZERO)
    }

    fn slow(script: Vec<Result<(), SendError>>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            delay,
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SmsSender for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn send(&self, _: &OutgoingSms) -> Result<SentSms, SendError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let next = {
            let mut script = self.script.lock().unwrap();
            if script.len() > 1 {
                script.pop_front()
            } else {
                script.front().cloned()
            }
        };
        next.unwrap().map(|()| SentSms {
            provider: "scripted".to_owned(),
            provider_message_id: format!("id-{n}"),
        })
    }
}

fn ok() -> Result<(), SendError> {
    Ok(())
}

fn retryable(retry_after: Option<Duration>) -> Result<(), SendError> {
    Err(SendError::Retryable {
        retry_after,
        reason: "busy".to_owned(),
    })
}

fn permanent(kind: PermanentKind) -> Result<(), SendError> {
    Err(SendError::Permanent {
        kind,
        reason: format!("{kind:?}"),
    })
}

fn policy() -> RouterPolicy {
    RouterPolicy {
        max_retries: 2,
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        call_timeout: Duration::from_secs(1),
        breaker: BreakerPolicy {
            failure_threshold: 100,
            cool_down: Duration::from_secs(30),
        },
    }
}

fn router(
    clock: &Arc<ManualClock>,
    policy: RouterPolicy,
    providers: &[(&str, &Arc<Scripted>)],
) -> Router {
    let mut builder = Router::builder(clock.clone()).policy(policy);
    for (name, sender) in providers {
        builder = builder.provider(*name, (*sender).clone());
    }
    builder.build().unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_now())
}

fn breaker_policy(threshold: u32) -> RouterPolicy {
    RouterPolicy {
        max_retries: 0,
        breaker: BreakerPolicy {
            failure_threshold: threshold,
            cool_down: Duration::from_secs(30),
        },
        ..policy()
    }
}

#[tokio::test(start_paused = true)]
async fn first_provider_delivers_and_is_named_in_sent_sms() {
    let (a, b) = (Scripted::new(vec![ok()]), Scripted::new(vec![ok()]));
    let sent = router(&clock(), policy(), &[("primary", &a), ("backup", &b)])
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(
        sent,
        SentSms {
            provider: "primary".to_owned(),
            provider_message_id: "id-0".to_owned()
        }
    );
    assert_eq!((a.calls(), b.calls()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn fails_over_in_configured_order_after_retries_are_spent() {
    let a = Scripted::new(vec![permanent(PermanentKind::Authentication)]);
    let b = Scripted::new(vec![retryable(None)]);
    let c = Scripted::new(vec![ok()]);
    let sent = router(&clock(), policy(), &[("a", &a), ("b", &b), ("c", &c)])
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "c");
    // Authentication fails over at once; retryable gets 1 + max_retries calls.
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 3, 1));
}

#[tokio::test(start_paused = true)]
async fn retryable_error_is_retried_with_exponential_backoff_then_succeeds() {
    let a = Scripted::new(vec![retryable(None), retryable(None), ok()]);
    let start = tokio::time::Instant::now();
    let sent = router(&clock(), policy(), &[("a", &a)])
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "a");
    assert_eq!(a.calls(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(100 + 200));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_when_longer_than_the_backoff() {
    let a = Scripted::new(vec![retryable(Some(Duration::from_secs(3))), ok()]);
    let start = tokio::time::Instant::now();
    router(&clock(), policy(), &[("a", &a)])
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_cap_fails_over_at_once() {
    let a = Scripted::new(vec![retryable(Some(Duration::from_secs(60)))]);
    let b = Scripted::new(vec![ok()]);
    let start = tokio::time::Instant::now();
    let sent = router(&clock(), policy(), &[("a", &a), ("b", &b)])
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "b");
    assert_eq!(a.calls(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn permanent_number_errors_stop_the_send_without_failover() {
    for kind in [PermanentKind::InvalidNumber, PermanentKind::Rejected] {
        let (a, b) = (
            Scripted::new(vec![permanent(kind)]),
            Scripted::new(vec![ok()]),
        );
        let err = router(&clock(), policy(), &[("a", &a), ("b", &b)])
            .send(&sms())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SendError::Permanent { kind: k, .. } if k == kind),
            "{err:?}"
        );
        assert_eq!((a.calls(), b.calls()), (1, 0));
    }
}

#[tokio::test(start_paused = true)]
async fn account_errors_fail_over_without_retries() {
    for kind in [PermanentKind::InsufficientBalance, PermanentKind::Other] {
        let (a, b) = (
            Scripted::new(vec![permanent(kind)]),
            Scripted::new(vec![ok()]),
        );
        let sent = router(&clock(), policy(), &[("a", &a), ("b", &b)])
            .send(&sms())
            .await
            .unwrap();
        assert_eq!(sent.provider, "b");
        assert_eq!(a.calls(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_past_the_timeout_counts_as_retryable() {
    let a = Scripted::slow(vec![ok()], Duration::from_secs(10));
    let b = Scripted::new(vec![ok()]);
    let p = RouterPolicy {
        max_retries: 0,
        ..policy()
    };
    let start = tokio::time::Instant::now();
    let sent = router(&clock(), p, &[("a", &a), ("b", &b)])
        .send(&sms())
        .await
        .unwrap();
    assert_eq!(sent.provider, "b");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn when_all_fail_the_error_is_retryable_if_any_failure_was() {
    let a = Scripted::new(vec![permanent(PermanentKind::Authentication)]);
    let b = Scripted::new(vec![retryable(None)]);
    let err = router(&clock(), policy(), &[("a", &a), ("b", &b)])
        .send(&sms())
        .await
        .unwrap_err();
    let SendError::Retryable { reason, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        reason.contains("a: Authentication") && reason.contains("b: busy"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn when_all_fail_permanently_the_last_kind_is_reported() {
    let a = Scripted::new(vec![permanent(PermanentKind::Authentication)]);
    let b = Scripted::new(vec![permanent(PermanentKind::InsufficientBalance)]);
    let err = router(&clock(), policy(), &[("a", &a), ("b", &b)])
        .send(&sms())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError::Permanent {
                kind: PermanentKind::InsufficientBalance,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_after_consecutive_failures_and_skips_the_provider() {
    let clock = clock();
    let a = Scripted::new(vec![retryable(None)]);
    let b = Scripted::new(vec![ok()]);
    let r = router(&clock, breaker_policy(2), &[("a", &a), ("b", &b)]);
    r.send(&sms()).await.unwrap();
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Closed));
    r.send(&sms()).await.unwrap();
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Open));
    // Every provider's, in order (what the server's metrics read).
    assert_eq!(
        r.breaker_states(),
        [("a", BreakerState::Open), ("b", BreakerState::Closed)]
    );
    let sent = r.send(&sms()).await.unwrap();
    assert_eq!(sent.provider, "b");
    assert_eq!((a.calls(), b.calls()), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_mid_retries_and_fails_over() {
    let a = Scripted::new(vec![retryable(None)]);
    let b = Scripted::new(vec![ok()]);
    let p = RouterPolicy {
        max_retries: 5,
        ..breaker_policy(2)
    };
    let r = router(&clock(), p, &[("a", &a), ("b", &b)]);
    assert_eq!(r.send(&sms()).await.unwrap().provider, "b");
    assert_eq!(a.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn half_open_breaker_lets_one_probe_through_and_success_closes_it() {
    let clock = clock();
    let a = Scripted::new(vec![retryable(None), ok()]);
    let b = Scripted::new(vec![ok()]);
    let r = router(&clock, breaker_policy(1), &[("a", &a), ("b", &b)]);
    r.send(&sms()).await.unwrap();
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Open));
    clock.advance(TimeDelta::seconds(29));
    assert_eq!(r.send(&sms()).await.unwrap().provider, "b");
    assert_eq!(a.calls(), 1);
    clock.advance(TimeDelta::seconds(2));
    assert_eq!(r.breaker_state("a"), Some(BreakerState::HalfOpen));
    assert_eq!(r.send(&sms()).await.unwrap().provider, "a");
    assert_eq!(a.calls(), 2);
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens_the_breaker_for_another_cool_down() {
    let clock = clock();
    let a = Scripted::new(vec![retryable(None)]);
    let b = Scripted::new(vec![ok()]);
    let r = router(
        &clock,
        RouterPolicy {
            max_retries: 3,
            ..breaker_policy(1)
        },
        &[("a", &a), ("b", &b)],
    );
    r.send(&sms()).await.unwrap();
    clock.advance(TimeDelta::seconds(31));
    assert_eq!(r.send(&sms()).await.unwrap().provider, "b");
    // The probe was one call, not 1 + max_retries.
    assert_eq!(a.calls(), 2);
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Open));
    r.send(&sms()).await.unwrap();
    assert_eq!(a.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_only_one_concurrent_probe() {
    let clock = clock();
    let a = Scripted::slow(vec![retryable(None), ok()], Duration::from_millis(500));
    let b = Scripted::new(vec![ok()]);
    let r = router(&clock, breaker_policy(1), &[("a", &a), ("b", &b)]);
    r.send(&sms()).await.unwrap();
    clock.advance(TimeDelta::seconds(31));
    let (x, y) = (sms(), sms());
    let (first, second) = tokio::join!(r.send(&x), r.send(&y));
    let mut providers = [first.unwrap().provider, second.unwrap().provider];
    providers.sort();
    assert_eq!(providers, ["a".to_owned(), "b".to_owned()]);
    assert_eq!(a.calls(), 2);
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn all_breakers_open_gives_retryable_with_time_until_the_first_reopens() {
    let clock = clock();
    let a = Scripted::new(vec![retryable(None)]);
    let r = router(&clock, breaker_policy(1), &[("a", &a)]);
    r.send(&sms()).await.unwrap_err();
    clock.advance(TimeDelta::seconds(10));
    let err = r.send(&sms()).await.unwrap_err();
    assert_eq!(a.calls(), 1);
    let SendError::Retryable {
        retry_after,
        reason,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(retry_after, Some(Duration::from_secs(20)));
    assert!(reason.contains("a: circuit open"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn a_number_error_counts_as_a_healthy_answer_for_the_breaker() {
    let a = Scripted::new(vec![
        retryable(None),
        permanent(PermanentKind::InvalidNumber),
        retryable(None),
    ]);
    let r = router(&clock(), breaker_policy(2), &[("a", &a)]);
    r.send(&sms()).await.unwrap_err();
    r.send(&sms()).await.unwrap_err();
    r.send(&sms()).await.unwrap_err();
    assert_eq!(r.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn country_route_overrides_the_default_order() {
    let (a, b) = (Scripted::new(vec![ok()]), Scripted::new(vec![ok()]));
    let r = Router::builder(clock())
        .policy(policy())
        .provider("a", a.clone())
        .provider("b", b.clone())
        .route(Region::parse("NL").unwrap(), ["b", "a"])
        .build()
        .unwrap();
    assert_eq!(r.send(&sms_to(NUMBER, TEXT)).await.unwrap().provider, "b");
    assert_eq!(
        r.send(&sms_to("+14155550100", TEXT))
            .await
            .unwrap()
            .provider,
        "a"
    );
}

#[tokio::test(start_paused = true)]
async fn country_route_may_leave_out_providers() {
    let a = Scripted::new(vec![retryable(None)]);
    let b = Scripted::new(vec![ok()]);
    let r = Router::builder(clock())
        .policy(policy())
        .provider("a", a.clone())
        .provider("b", b.clone())
        .route(Region::parse("NL").unwrap(), ["a"])
        .build()
        .unwrap();
    assert!(r.send(&sms()).await.is_err());
    assert_eq!(b.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_expired_message_is_not_sent() {
    let a = Scripted::new(vec![ok()]);
    let mut message = sms();
    message.expires_at = chrono::Utc::now() - TimeDelta::seconds(1);
    let err = router(&clock(), policy(), &[("a", &a)])
        .send(&message)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError::Permanent {
                kind: PermanentKind::Other,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(a.calls(), 0);
}

#[test]
fn builder_refuses_inconsistent_configurations() {
    let a: Arc<dyn SmsSender> = Scripted::new(vec![ok()]);
    let nl = Region::parse("NL").unwrap();
    assert_eq!(
        Router::builder(clock()).build().err(),
        Some(RouterError::NoProviders)
    );
    assert_eq!(
        Router::builder(clock())
            .provider("a", a.clone())
            .provider("a", a.clone())
            .build()
            .err(),
        Some(RouterError::DuplicateProvider("a".to_owned()))
    );
    assert_eq!(
        Router::builder(clock())
            .provider("a", a.clone())
            .route(nl, ["b"])
            .build()
            .err(),
        Some(RouterError::UnknownProvider {
            region: nl,
            name: "b".to_owned()
        })
    );
    assert_eq!(
        Router::builder(clock())
            .provider("a", a)
            .route(nl, Vec::<String>::new())
            .build()
            .err(),
        Some(RouterError::EmptyRoute(nl))
    );
}
