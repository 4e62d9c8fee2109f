//! R36 under fault injection: a client that dies between (or in the middle of) its commands
//! leaves no key without a TTL and no uncounted attempt.
//!
//! Many concurrent rate-limit checks, verifies, creates, resends, failure counts and ticket
//! uses run through the store while faults hit them at random points:
//!
//! - every call may be dropped mid-flight (right after its first poll, or after a timeout of
//!   up to 3 ms: the request may or may not have reached Redis, the answer is lost), on every backend of the contract suite
//!   ([`r36_dropped_calls_leave_no_key_without_ttl_and_no_uncounted_attempt`]);
//! - and on a private standalone Redis and a private 3-master Redis Cluster (started from
//!   `TWOSTEP_TEST_REDIS_SERVER`, so the kills reach no other test), a second connection
//!   kills the store's connections with `CLIENT KILL TYPE normal` every few milliseconds
//!   while the load runs.
//!
//! While the load runs and after it, a SCAN of every key must find none without a TTL. After
//! it, with the faults off, the counters must agree with what the callers saw: every answer
//! a caller got was counted (no uncounted attempt, hit, send or failure), nothing was counted
//! that no call made, the all-or-nothing limits count alike, and no budget was exceeded.
//! A call whose answer was lost may or may not have been applied; the checks allow both, but
//! never twice: on a cluster too, the store resends a counting call only when Redis
//! certainly did not run it (`RedisStore::run`), so "nothing counted that no call made"
//! holds on every backend.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::task::JoinHandle;
use twostep_core::challenge::Challenge;
use twostep_core::ids::ChallengeId;
use twostep_core::ports::{Limit, RateDecision, ResendOutcome, StoreError, VerifyOutcome};
use twostep_core::token::TokenHash;
use uuid::Uuid;

use crate::backend::{self, Backend, service_env};
use crate::fixtures::{LIFETIME, challenge, mac, stored};

/// How long after the load starts the calls begin, spread at random over this many ms, so
/// that connection kills land among calls in flight.
const SPREAD_MS: u64 = 150;
/// Attempts per challenge (the fixture's).
const ATTEMPTS: u32 = 5;

/// A random number below `n`.
fn random(n: u64) -> u64 {
    u64::try_from(Uuid::new_v4().as_u128() % u128::from(n)).unwrap()
}

/// When a call is dropped.
#[derive(Clone, Copy)]
enum DropPoint {
    /// Never: enough answers come back to count.
    Never,
    /// Right after its first poll, which hands the request to the connection but cannot
    /// have read the reply: on Redis a certain mid-flight drop, however fast the server.
    AfterFirstPoll,
    /// After a timeout; tokio's timer rounds it up to its next millisecond tick.
    After(Duration),
}

/// A quarter of the calls are never dropped, a quarter are dropped right after their first
/// poll, and the rest get a timeout of 0 to 3 ms.
fn drop_point() -> DropPoint {
    match random(4) {
        0 => DropPoint::Never,
        1 => DropPoint::AfterFirstPoll,
        _ => DropPoint::After(Duration::from_micros(random(3000))),
    }
}

/// Runs one store call in its own task, after a random delay, dropped at a random point:
/// `Some(answer)` when the caller got one, `None` when the call was dropped or failed on a
/// broken connection (then the store may or may not have applied it). Any other error fails
/// the test: a fault must make a call unavailable, never make the store misread a reply.
fn faulty<T, F>(call: F) -> JoinHandle<Option<T>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let start_after = Duration::from_millis(random(SPREAD_MS));
    let drop_point = drop_point();
    tokio::spawn(async move {
        tokio::time::sleep(start_after).await;
        let answer = match drop_point {
            DropPoint::Never => Some(call.await),
            DropPoint::AfterFirstPoll => {
                let mut call = std::pin::pin!(call);
                match futures::poll!(call.as_mut()) {
                    Poll::Ready(answer) => Some(answer),
                    Poll::Pending => None,
                }
            }
            DropPoint::After(budget) => tokio::time::timeout(budget, call).await.ok(),
        };
        match answer {
            Some(Ok(answer)) => Some(answer),
            Some(Err(StoreError::Unavailable(_))) | None => None,
            Some(Err(e)) => panic!("a fault must make a call unavailable, never {e:?}"),
        }
    })
}

async fn answers<T>(handles: Vec<JoinHandle<Option<T>>>) -> Vec<Option<T>> {
    join_all(handles)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn lost<T>(seen: &[Option<T>]) -> usize {
    seen.iter().filter(|s| s.is_none()).count()
}

// === the load ===

/// The limits of every `check_limits` call of the load: all or nothing, so all three count
/// the same hits, and `a` (the smallest) decides.
fn limits() -> Vec<Limit> {
    [("a", 40, 60), ("b", 45, 60), ("c", 50, 3600)]
        .into_iter()
        .map(|(key, max, secs)| Limit {
            key: key.to_owned(),
            max,
            window: Duration::from_secs(secs),
        })
        .collect()
}

const LIMIT_CALLS: usize = 300;
/// Challenges that get only wrong codes, and challenges that also get the right one.
const WRONG_ONLY: usize = 20;
const WITH_RIGHT: usize = 20;
const VERIFIES_PER_CHALLENGE: usize = 8;
const CREATES: usize = 60;
const RESENT: usize = 10;
const RESENDS_PER_CHALLENGE: usize = 8;
const FAILURES: usize = 100;
const TICKETS: usize = 20;
const TAKES_PER_TICKET: usize = 4;

/// One verify of the load: the candidate was the right code or a wrong one.
struct VerifyCall {
    right: bool,
    seen: Option<VerifyOutcome>,
}

/// Resends of one challenge: the number of each one's new MAC, and what it answered.
type ResendCalls = Vec<(u8, Option<ResendOutcome>)>;
/// Takes of one ticket: what each one answered.
type Takes = Vec<Option<Option<String>>>;

/// What the callers saw, per kind of call; checked against the store afterwards.
struct Seen {
    scope: String,
    limits: Vec<Option<RateDecision>>,
    /// Per challenge: the challenge and its verifies.
    verifies: Vec<(Challenge, Vec<VerifyCall>)>,
    creates: Vec<(Challenge, Option<()>)>,
    /// Per challenge: the challenge, and per resend its new MAC's number and the outcome.
    resends: Vec<(Challenge, ResendCalls)>,
    account: String,
    failures: Vec<Option<u32>>,
    /// Per ticket: its hash, its payload, and what each take gave.
    takes: Vec<(TokenHash, String, Takes)>,
    puts: Vec<(TokenHash, String, Option<()>)>,
}

impl Seen {
    /// How many calls lost their answer.
    fn lost(&self) -> usize {
        lost(&self.limits)
            + self
                .verifies
                .iter()
                .map(|(_, calls)| calls.iter().filter(|c| c.seen.is_none()).count())
                .sum::<usize>()
            + self.creates.iter().filter(|(_, s)| s.is_none()).count()
            + self
                .resends
                .iter()
                .map(|(_, calls)| calls.iter().filter(|(_, s)| s.is_none()).count())
                .sum::<usize>()
            + lost(&self.failures)
            + self
                .takes
                .iter()
                .map(|(_, _, seen)| lost(seen))
                .sum::<usize>()
            + self.puts.iter().filter(|(_, _, s)| s.is_none()).count()
    }
}

fn ticket_hash() -> TokenHash {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    TokenHash::from_bytes(bytes)
}

/// What the load works on, set up without faults.
struct Targets {
    /// `WRONG_ONLY` challenges, then `WITH_RIGHT`.
    verified: Vec<Challenge>,
    /// Challenges that may be resent at once (no cooldown).
    resendable: Vec<Challenge>,
    tickets: Vec<(TokenHash, String)>,
}

async fn set_up(b: &Backend) -> Targets {
    let now = b.now();
    let store = &b.store;
    let mut verified = Vec::new();
    for _ in 0..WRONG_ONLY + WITH_RIGHT {
        let c = challenge(now);
        store.create_challenge(&c).await.unwrap();
        verified.push(c);
    }
    let mut resendable = Vec::new();
    for _ in 0..RESENT {
        let mut c = challenge(now);
        c.resend_at = now;
        c.resend_cooldown = Duration::ZERO;
        store.create_challenge(&c).await.unwrap();
        resendable.push(c);
    }
    let mut tickets = Vec::new();
    for i in 0..TICKETS {
        let (hash, payload) = (ticket_hash(), format!("ticket {i}"));
        store
            .put_ticket(hash, &payload, now + LIFETIME, now)
            .await
            .unwrap();
        tickets.push((hash, payload));
    }
    Targets {
        verified,
        resendable,
        tickets,
    }
}

/// Runs every call of the load at once, each under [`faulty`].
async fn run_load(b: &Backend, targets: Targets) -> Seen {
    let now = b.now();
    let store = &b.store;
    let Targets {
        verified: targets,
        resendable,
        tickets,
    } = targets;

    // The load: every call spawned at once, each starting after its own random delay.
    let scope = format!("fi:{}", Uuid::new_v4().simple());
    let limit_calls: Vec<_> = (0..LIMIT_CALLS)
        .map(|_| {
            let (s, scope, limits) = (store.clone(), scope.clone(), limits());
            faulty(async move { s.check_limits(&scope, &limits, now).await })
        })
        .collect();
    let verify_calls: Vec<(Challenge, Vec<(bool, JoinHandle<_>)>)> = targets
        .into_iter()
        .enumerate()
        .map(|(n, c)| {
            let right_at = (n >= WRONG_ONLY).then(|| random(VERIFIES_PER_CHALLENGE as u64));
            let calls = (0..VERIFIES_PER_CHALLENGE as u64)
                .map(|i| {
                    let right = right_at == Some(i);
                    let (s, id) = (store.clone(), c.id);
                    let candidate = mac(if right { 1 } else { 2 });
                    (
                        right,
                        faulty(async move { s.verify_challenge(id, candidate, now).await }),
                    )
                })
                .collect();
            (c, calls)
        })
        .collect();
    let create_calls: Vec<_> = (0..CREATES)
        .map(|_| {
            let (s, c) = (store.clone(), challenge(now));
            let created = c.clone();
            (created, faulty(async move { s.create_challenge(&c).await }))
        })
        .collect();
    let resend_calls: Vec<_> = resendable
        .into_iter()
        .map(|c| {
            let calls: Vec<_> = (0..RESENDS_PER_CHALLENGE)
                .map(|i| {
                    let n = 10 + u8::try_from(i).unwrap();
                    let (s, id) = (store.clone(), c.id);
                    let call = faulty(async move {
                        s.resend_challenge(id, mac(n), now, now + LIFETIME, Some(Duration::ZERO))
                            .await
                    });
                    (n, call)
                })
                .collect();
            (c, calls)
        })
        .collect();
    let account = format!("fi:{}", Uuid::new_v4().simple());
    let failure_calls: Vec<_> = (0..FAILURES)
        .map(|_| {
            let (s, account) = (store.clone(), account.clone());
            faulty(async move { s.record_failure(&account, Duration::from_secs(600)).await })
        })
        .collect();
    let take_calls: Vec<_> = tickets
        .into_iter()
        .map(|(hash, payload)| {
            let calls: Vec<_> = (0..TAKES_PER_TICKET)
                .map(|_| {
                    let s = store.clone();
                    faulty(async move { s.take_ticket(hash, now).await })
                })
                .collect();
            (hash, payload, calls)
        })
        .collect();
    let put_calls: Vec<_> = (0..TICKETS)
        .map(|i| {
            let (s, hash, payload) = (store.clone(), ticket_hash(), format!("put {i}"));
            let sent = payload.clone();
            (
                hash,
                payload,
                faulty(async move { s.put_ticket(hash, &sent, now + LIFETIME, now).await }),
            )
        })
        .collect();

    let mut verifies = Vec::new();
    for (c, calls) in verify_calls {
        let (rights, handles): (Vec<bool>, Vec<_>) = calls.into_iter().unzip();
        let seen = answers(handles).await;
        let calls = rights
            .into_iter()
            .zip(seen)
            .map(|(right, seen)| VerifyCall { right, seen })
            .collect();
        verifies.push((c, calls));
    }
    let (created, handles): (Vec<_>, Vec<_>) = create_calls.into_iter().unzip();
    let creates = created.into_iter().zip(answers(handles).await).collect();
    let mut resends = Vec::new();
    for (c, calls) in resend_calls {
        let (macs, handles): (Vec<u8>, Vec<_>) = calls.into_iter().unzip();
        resends.push((c, macs.into_iter().zip(answers(handles).await).collect()));
    }
    let mut takes = Vec::new();
    for (hash, payload, handles) in take_calls {
        takes.push((hash, payload, answers(handles).await));
    }
    let mut puts = Vec::new();
    for (hash, payload, handle) in put_calls {
        puts.push((hash, payload, handle.await.unwrap()));
    }
    Seen {
        scope,
        limits: answers(limit_calls).await,
        verifies,
        creates,
        resends,
        account,
        failures: answers(failure_calls).await,
        takes,
        puts,
    }
}

// === the checks, with the faults off ===

/// Checks that nothing was counted beyond the calls made: a call applied twice would break
/// it (a wrong code spending two attempts, a right code consumed and answered `NotFound`).
#[track_caller]
fn assert_not_overcounted(ok: bool, what: impl FnOnce() -> String) {
    assert!(ok, "{}", what());
}

/// Every check of the store against what the callers saw.
async fn check_counts(b: &Backend, seen: &Seen) {
    check_limits(b, seen).await;
    for (c, calls) in &seen.verifies {
        check_verifies(b, c, calls).await;
    }
    for (c, created) in &seen.creates {
        let got = b.store.get_challenge(c.id, b.now()).await.unwrap();
        match (created, got) {
            (_, Some(got)) => assert_eq!(got, stored(c), "a create is all or nothing"),
            (Some(()), None) => panic!("challenge {} was created but is not there", c.id),
            (None, None) => {}
        }
    }
    for (c, calls) in &seen.resends {
        check_resends(b, c, calls).await;
    }
    check_failures(b, seen).await;
    for (hash, payload, takes) in &seen.takes {
        let taken: Vec<&String> = takes.iter().flatten().flatten().collect();
        assert!(taken.len() <= 1, "a ticket worked {} times", taken.len());
        assert!(taken.iter().all(|p| *p == payload));
        let left = b.store.take_ticket(*hash, b.now()).await.unwrap();
        assert!(
            taken.len() + usize::from(left.is_some()) <= 1,
            "a ticket taken under faults is still there"
        );
        if takes.iter().all(Option::is_some) {
            assert_not_overcounted(taken.len() + usize::from(left.is_some()) == 1, || {
                "a ticket no call took is gone".to_owned()
            });
        }
    }
    for (hash, payload, put) in &seen.puts {
        let got = b.store.peek_ticket(*hash, b.now()).await.unwrap();
        match (put, got) {
            (_, Some(got)) => assert_eq!(&got, payload),
            (Some(()), None) => panic!("a ticket that was put is not there"),
            (None, None) => {}
        }
    }
}

/// Limits: every admitted call was counted on every limit (all or nothing), no limit counted
/// more than the calls made or than its maximum, and a denial only came from a full limit.
async fn check_limits(b: &Backend, seen: &Seen) {
    let limits = limits();
    let allowed = seen
        .limits
        .iter()
        .filter(|d| **d == Some(RateDecision::Allowed))
        .count();
    let denied: Vec<_> = seen
        .limits
        .iter()
        .flatten()
        .filter(|d| **d != RateDecision::Allowed)
        .collect();
    let lost = lost(&seen.limits);
    // How many hits each limit holds: its maximum minus what it still admits alone.
    let mut counted = Vec::new();
    for limit in &limits {
        let mut room = 0;
        while b
            .store
            .check_limits(&seen.scope, std::slice::from_ref(limit), b.now())
            .await
            .unwrap()
            == RateDecision::Allowed
        {
            room += 1;
            assert!(room <= limit.max, "limit {} admits without end", limit.key);
        }
        counted.push(usize::try_from(limit.max - room).unwrap());
    }
    let hits = counted[0];
    assert!(
        counted.iter().all(|n| *n == hits),
        "all or nothing: the limits of one call counted {counted:?}"
    );
    assert!(hits <= 40, "{hits} hits on a limit of 40");
    assert!(
        allowed <= hits,
        "{allowed} calls were admitted but only {hits} counted: an uncounted hit"
    );
    // A repeated call adds the same member again, so it counts once; but after its first run
    // filled the limit, its second is denied.
    assert_not_overcounted(hits <= allowed + lost, || {
        format!("{hits} hits counted but only {allowed} admitted and {lost} lost: a phantom hit")
    });
    for d in &denied {
        assert!(
            matches!(d, RateDecision::Denied { limit_index: 0, .. }),
            "{d:?}"
        );
    }
    if !denied.is_empty() {
        assert_eq!(hits, 40, "a denial came before the limit was full");
    }
}

/// Verifies of one challenge: each answer spent its own attempt (distinct `attempts_left`),
/// every rejection the callers saw is counted in the stored counter (no uncounted attempt),
/// the counter spent no attempt that no call made, at most `ATTEMPTS` codes were compared,
/// and the right code worked at most once.
async fn check_verifies(b: &Backend, c: &Challenge, calls: &[VerifyCall]) {
    let ctx = format!("challenge {}", c.id);
    let mut lefts = Vec::new();
    let mut verified = 0;
    for call in calls {
        match &call.seen {
            Some(VerifyOutcome::Rejected {
                attempts_left,
                user,
            }) => {
                assert!(!call.right, "{ctx}: the right code was rejected");
                assert_eq!(*user, c.user, "{ctx}");
                lefts.push(*attempts_left);
            }
            Some(VerifyOutcome::Verified(got)) => {
                assert!(call.right, "{ctx}: a wrong code verified");
                assert_eq!(got.id, c.id, "{ctx}");
                verified += 1;
            }
            Some(VerifyOutcome::NotFound) | None => {}
        }
    }
    let rejected = u32::try_from(lefts.len()).unwrap();
    let distinct: BTreeSet<u32> = lefts.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        lefts.len(),
        "{ctx}: two answers report the same attempt: {lefts:?}"
    );
    assert!(lefts.iter().all(|l| *l < ATTEMPTS), "{ctx}: {lefts:?}");
    assert!(verified <= 1, "{ctx}: verified {verified} times");
    assert!(
        rejected + verified <= ATTEMPTS,
        "{ctx}: {rejected} rejections and {verified} successes: more than {ATTEMPTS} compared"
    );
    let lost_wrong = u32::try_from(
        calls
            .iter()
            .filter(|c| !c.right && c.seen.is_none())
            .count(),
    )
    .unwrap();
    let lost_right = calls.iter().any(|c| c.right && c.seen.is_none());

    match b.store.get_challenge(c.id, b.now()).await.unwrap() {
        Some(live) => {
            assert_eq!(verified, 0, "{ctx}: still there after a success");
            let left = live.attempts_left;
            let spent = ATTEMPTS - left;
            assert!(
                spent >= rejected,
                "{ctx}: {rejected} rejections seen, {spent} attempts counted: an uncounted attempt"
            );
            assert!(
                lefts.iter().all(|l| *l >= left),
                "{ctx}: {left} attempts left after an answer said {lefts:?}"
            );
            assert_not_overcounted(spent <= rejected + lost_wrong, || {
                format!(
                    "{ctx}: {spent} attempts counted, {rejected} seen and {lost_wrong} lost: \
                     a phantom attempt"
                )
            });
            // The stored counter is the truth: exactly `left` more wrong codes are compared.
            for expected in (0..left).rev() {
                let outcome = b
                    .store
                    .verify_challenge(c.id, mac(2), b.now())
                    .await
                    .unwrap();
                assert_eq!(
                    outcome,
                    VerifyOutcome::Rejected {
                        attempts_left: expected,
                        user: c.user
                    },
                    "{ctx}"
                );
            }
            let after = b
                .store
                .verify_challenge(c.id, mac(1), b.now())
                .await
                .unwrap();
            assert_eq!(after, VerifyOutcome::NotFound, "{ctx}: burned");
        }
        None => {
            // Gone: consumed by the right code, or burned by `ATTEMPTS` rejections.
            assert_not_overcounted(
                verified == 1 || lost_right || rejected + lost_wrong >= ATTEMPTS,
                || {
                    format!(
                        "{ctx}: gone after {rejected} rejections and {lost_wrong} lost wrong \
                         codes, with no success"
                    )
                },
            );
        }
    }
}

/// Resends of one challenge: each counted once (distinct `sends`), the stored count holds
/// every resend the callers saw and no more than the calls made, the cap holds, and the live
/// code is the one of the last resend applied.
async fn check_resends(b: &Backend, c: &Challenge, calls: &[(u8, Option<ResendOutcome>)]) {
    let ctx = format!("challenge {}", c.id);
    let mut sends_seen = Vec::new();
    let mut capped = false;
    for (n, seen) in calls {
        match seen {
            Some(ResendOutcome::Resent(got)) => {
                assert_eq!(got.code_mac, mac(*n), "{ctx}");
                assert_eq!(
                    got.attempts_left, ATTEMPTS,
                    "{ctx}: a resend spent attempts"
                );
                sends_seen.push(got.sends);
            }
            Some(ResendOutcome::SendCapReached) => capped = true,
            Some(other) => panic!("{ctx}: {other:?}"),
            None => {}
        }
    }
    let distinct: HashSet<u32> = sends_seen.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        sends_seen.len(),
        "{ctx}: two resends report the same count: {sends_seen:?}"
    );
    let live = b
        .store
        .get_challenge(c.id, b.now())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{ctx}: gone"));
    let resent = u32::try_from(sends_seen.len()).unwrap();
    let lost = u32::try_from(lost(
        &calls.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
    ))
    .unwrap();
    assert!(live.sends <= c.max_sends, "{ctx}: {} sends", live.sends);
    let counted = live.sends - 1;
    assert!(
        counted >= resent,
        "{ctx}: {resent} resends seen, {counted} counted: an uncounted send"
    );
    assert_not_overcounted(counted <= resent + lost, || {
        format!("{ctx}: {counted} resends counted, {resent} seen and {lost} lost: a phantom send")
    });
    assert!(sends_seen.iter().all(|s| *s <= live.sends), "{ctx}");
    if capped {
        assert_eq!(live.sends, c.max_sends, "{ctx}: capped before the cap");
    }
    assert_eq!(live.attempts_left, ATTEMPTS, "{ctx}");
    // The live code: the original, or one of a resend applied (the last).
    if let Some((n, _)) = calls.iter().find(
        |(_, seen)| matches!(seen, Some(ResendOutcome::Resent(got)) if got.sends == live.sends),
    ) {
        assert_eq!(live.code_mac, mac(*n), "{ctx}: not the last resend's code");
    } else if live.sends == 1 {
        assert_eq!(live.code_mac, c.code_mac, "{ctx}");
    } else {
        assert!(
            calls.iter().any(|(n, _)| live.code_mac == mac(*n)),
            "{ctx}: the live code is no resend's"
        );
        assert_not_overcounted(
            calls
                .iter()
                .any(|(n, seen)| seen.is_none() && live.code_mac == mac(*n)),
            || format!("{ctx}: the live code is of a resend whose caller was told otherwise"),
        );
    }
}

/// The failure counter: each increment answered its own count, and the stored count holds
/// every increment seen and no more than the calls made.
async fn check_failures(b: &Backend, seen: &Seen) {
    let counts: Vec<u32> = seen.failures.iter().flatten().copied().collect();
    let distinct: HashSet<u32> = counts.iter().copied().collect();
    assert_eq!(distinct.len(), counts.len(), "{counts:?}");
    let stored = b.store.failure_count(&seen.account).await.unwrap();
    let lost = u32::try_from(lost(&seen.failures)).unwrap();
    let answered = u32::try_from(counts.len()).unwrap();
    assert!(
        stored >= answered && counts.iter().all(|n| *n <= stored),
        "{answered} failures answered (up to {:?}), {stored} stored: an uncounted failure",
        counts.iter().max()
    );
    assert_not_overcounted(stored <= answered + lost, || {
        format!("{stored} failures stored, {answered} answered and {lost} lost: a phantom failure")
    });
}

// === the cases ===

/// Runs the load under `kill` faults (or none) with a SCAN for keys without a TTL running
/// beside it, then checks the counts with the faults off; returns how many calls lost their
/// answer.
async fn load_and_check(b: &Backend, kill: bool) -> usize {
    let targets = set_up(b).await;
    let done = AtomicBool::new(false);
    let load = async {
        let seen = run_load(b, targets).await;
        done.store(true, Ordering::SeqCst);
        seen
    };
    // R37 while the faults hit: a key without a TTL would show between two commands.
    let scanner = async {
        let mut scans = 0;
        while !done.load(Ordering::SeqCst) {
            b.assert_all_keys_have_ttl().await;
            scans += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        scans
    };
    let killer = async {
        let mut killed = 0;
        while kill && !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1 + random(8))).await;
            killed += b.kill_other_clients().await;
        }
        killed
    };
    let (seen, scans, killed) = tokio::join!(load, scanner, killer);
    let lost = seen.lost();
    eprintln!("{scans} scans during the load, {killed} connections killed, {lost} answers lost");
    if kill {
        assert!(killed > 0, "no connection was killed during the load");
    }
    settle(b).await;
    check_counts(b, &seen).await;
    let keys = b.assert_all_keys_have_ttl().await;
    if b.is_redis() {
        // The resendable challenges are never deleted: a scan that misses them sees nothing.
        assert!(keys >= RESENT, "the scan found only {keys} keys");
    }
    lost
}

/// Waits (bounded) until the store answers again on every connection after the faults
/// stopped: a connection killed while idle fails its next call, then comes back. Reads of
/// random challenges (which land on every node of a cluster) until 30 in a row succeed.
async fn settle(b: &Backend) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut in_a_row = 0;
    while in_a_row < 30 {
        match b.store.get_challenge(ChallengeId::random(), b.now()).await {
            Ok(None) => in_a_row += 1,
            Ok(Some(c)) => panic!("a random id found {c:?}"),
            Err(StoreError::Unavailable(_)) => in_a_row = 0,
            Err(e) => panic!("{e:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the store did not serve again after the faults"
        );
    }
}

/// R36, every backend of the contract suite: calls dropped at random points mid-flight.
pub async fn r36_dropped_calls_leave_no_key_without_ttl_and_no_uncounted_attempt(b: &Backend) {
    let lost = load_and_check(b, false).await;
    if b.is_redis() {
        assert!(lost > 0, "no call was dropped mid-flight");
    }
}

/// R36 on a private standalone Redis: calls dropped mid-flight and the store's connection
/// killed every few milliseconds while the load runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r36_killed_connections_leave_no_key_without_ttl_and_no_uncounted_attempt_on_redis() {
    let servers = PrivateRedis::standalone();
    let b = backend::redis_at(&servers.url()).await;
    let lost = load_and_check(&b, true).await;
    assert!(lost > 0, "no call lost its answer");
}

/// R36 on a private 3-master Redis Cluster: the same, every node's connections killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r36_killed_connections_leave_no_key_without_ttl_and_no_uncounted_attempt_on_cluster() {
    let servers = PrivateRedis::cluster();
    let b = backend::redis_at(&servers.url()).await;
    let lost = load_and_check(&b, true).await;
    assert!(lost > 0, "no call lost its answer");
}

// === private Redis servers ===

/// redis-servers of our own (`TWOSTEP_TEST_REDIS_SERVER`), so that killing every client
/// reaches no other test; killed when dropped.
struct PrivateRedis {
    ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
    cluster: bool,
}

impl PrivateRedis {
    fn standalone() -> Self {
        let mut servers = Self::empty(false);
        let port = free_port(false);
        servers.start(port, &[]);
        servers
    }

    /// Three masters, no replicas, the slots split in three.
    fn cluster() -> Self {
        let mut servers = Self::empty(true);
        while servers.ports.len() < 3 {
            let port = free_port(true);
            if servers.ports.contains(&port) {
                continue;
            }
            let conf = servers.dir.join(format!("nodes-{port}.conf"));
            let conf = conf.to_str().unwrap().to_owned();
            servers.start(
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "5000",
                ],
            );
        }
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (port, (first, last)) in servers.ports.iter().zip(ranges) {
            let _: () = sync_cmd(
                *port,
                redis::cmd("CLUSTER")
                    .arg("ADDSLOTSRANGE")
                    .arg(first)
                    .arg(last),
            );
        }
        for port in &servers.ports[1..] {
            let _: () = sync_cmd(
                servers.ports[0],
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(*port),
            );
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !servers.ports.iter().all(|p| cluster_ready(*p)) {
            assert!(
                Instant::now() < deadline,
                "the private cluster on {:?} did not become ready",
                servers.ports
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        servers
    }

    fn empty(cluster: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("twostep-faults-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            ports: Vec::new(),
            children: Vec::new(),
            dir,
            cluster,
        }
    }

    fn start(&mut self, port: u16, extra: &[&str]) {
        let child = Command::new(service_env("TWOSTEP_TEST_REDIS_SERVER"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.ports.push(port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(port) {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        if self.cluster {
            format!("redis+cluster://{}", nodes.join(","))
        } else {
            format!("redis://{}", nodes[0])
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port below the ephemeral range (and, for a cluster node, its bus port, 10000 up).
fn free_port(cluster: bool) -> u16 {
    loop {
        let port = 15000 + u16::try_from(random(7000)).unwrap();
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && (!cluster || free(port + 10000)) {
            return port;
        }
    }
}

fn sync_conn(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))?
        .get_connection_with_timeout(Duration::from_millis(500))
}

fn sync_cmd<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> T {
    cmd.query(&mut sync_conn(port).unwrap()).unwrap()
}

fn answers_ping(port: u16) -> bool {
    sync_conn(port)
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// The node sees the whole cluster: every slot served, all three nodes known.
fn cluster_ready(port: u16) -> bool {
    let info: String = sync_cmd(port, redis::cmd("CLUSTER").arg("INFO"));
    info.contains("cluster_state:ok")
        && info.contains("cluster_slots_assigned:16384")
        && info.contains("cluster_known_nodes:3")
}
