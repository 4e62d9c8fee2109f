//! The outbox and its worker over the real SQL rows (a SQLite file per test): what enqueue
//! stores, what the worker sends, retries, expiry, crash recovery, wake-ups and leases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use twostep_core::challenge::Purpose;
use twostep_core::clock::{Clock, ManualClock, SystemClock};
use twostep_core::ids::TenantId;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{
    OutboxRecord, OutboxRepo, OutboxStatus, OutgoingSms, PermanentKind, SendError, SentSms,
    SmsOutbox, SmsSender, SmsText,
};
use twostep_storage::{Database, DbOptions};

use super::*;

const NUMBER: &str = "+31612345678";
const TEXT: &str = "Your Acme code: 482913. Do not share it.";

/// A sender that records what it was asked to send and answers from a script (the last
/// answer repeating), optionally after a delay.
struct Script {
    sent: Mutex<Vec<(String, String, String)>>,
    answers: Mutex<VecDeque<Result<(), SendError>>>,
    delay: Duration,
}

impl Script {
    fn new(answers: Vec<Result<(), SendError>>) -> Arc<Self> {
        Self::slow(answers, Duration::ZERO)
    }

    fn slow(answers: Vec<Result<(), SendError>>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            sent: Mutex::new(Vec::new()),
            answers: Mutex::new(answers.into()),
            delay,
        })
    }

    fn ok() -> Arc<Self> {
        Self::new(vec![Ok(())])
    }

    fn calls(&self) -> Vec<(String, String, String)> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmsSender for Script {
    fn name(&self) -> &str {
        "script"
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        tokio::time::sleep(self.delay).await;
        let n = {
            let mut sent = self.sent.lock().unwrap();
            sent.push((
                sms.to.e164().to_owned(),
                sms.text.expose().to_owned(),
                sms.idempotency_key.clone(),
            ));
            sent.len()
        };
        let answer = {
            let mut answers = self.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                answers.front().cloned().unwrap()
            }
        };
        answer.map(|()| SentSms {
            provider: "backup".to_owned(),
            provider_message_id: format!("msg-{n}"),
        })
    }
}

fn retryable(retry_after: Option<Duration>) -> Result<(), SendError> {
    Err(SendError::Retryable {
        retry_after,
        reason: "primary: connection failed".to_owned(),
    })
}

struct Fixture {
    repo: Arc<dyn OutboxRepo>,
    clock: Arc<ManualClock>,
    outbox: SqlOutbox,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Database::connect(&url, &DbOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let repo: Arc<dyn OutboxRepo> = Arc::new(db.outbox());
    let clock = Arc::new(ManualClock::starting_now());
    let outbox = SqlOutbox::new(
        Arc::clone(&repo),
        OutboxKey::new([9; 32]),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    Fixture {
        repo,
        clock,
        outbox,
        _dir: dir,
    }
}

fn settings() -> OutboxSettings {
    OutboxSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_secs(1),
        concurrency: 4,
        retry_base: Duration::from_secs(2),
        retry_max: Duration::from_secs(60),
        retention: Duration::from_secs(7 * 24 * 3600),
    }
}

fn message(key: &str, lifetime: TimeDelta, now: chrono::DateTime<Utc>) -> OutgoingSms {
    OutgoingSms {
        tenant: TenantId::from_uuid(uuid::Uuid::nil()),
        to: PhoneNumber::from_e164(NUMBER).unwrap(),
        text: SmsText::new(TEXT.to_owned()),
        provider_code: false,
        purpose: Some(Purpose::PhoneLogin),
        idempotency_key: key.to_owned(),
        expires_at: now + lifetime,
    }
}

impl Fixture {
    async fn enqueue(&self, key: &str, lifetime: TimeDelta) {
        self.outbox
            .enqueue(message(key, lifetime, self.clock.now()))
            .await
            .unwrap();
    }

    async fn row(&self, key: &str) -> OutboxRecord {
        self.repo
            .find_by_key(TenantId::from_uuid(uuid::Uuid::nil()), key)
            .await
            .unwrap()
            .unwrap()
    }

    fn worker(&self, sender: Arc<Script>) -> OutboxWorker {
        self.outbox.worker(sender, settings())
    }
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

#[tokio::test]
async fn an_enqueued_message_is_stored_sealed_and_sent_once() {
    let f = fixture().await;
    f.enqueue("c1:1", minutes(5)).await;
    let row = f.row("c1:1").await;
    assert_eq!(row.status, OutboxStatus::Queued);
    assert_eq!(row.masked_to, "+31*****5678");
    assert!(row.has_body);

    let sender = Script::ok();
    let worker = f.worker(Arc::clone(&sender));
    let tick = worker.run_once().await.unwrap();
    assert_eq!(tick.claimed, 1);
    assert_eq!(
        sender.calls(),
        [(NUMBER.to_owned(), TEXT.to_owned(), "c1:1".to_owned())]
    );
    let row = f.row("c1:1").await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.provider.as_deref(), Some("backup"));
    assert_eq!(row.provider_message_id.as_deref(), Some("msg-1"));
    assert_eq!(row.attempts, 1);
    assert!(!row.has_body);

    assert_eq!(worker.run_once().await.unwrap().claimed, 0);
    assert_eq!(sender.calls().len(), 1);
}

/// The database files themselves (main file and write-ahead log), as a dump or a stolen
/// disk would show them.
#[tokio::test]
async fn the_database_files_hold_neither_the_text_nor_the_number() {
    let f = fixture().await;
    f.enqueue("c1:1", minutes(5)).await;
    assert!(f.row("c1:1").await.has_body);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(f._dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(haystack.contains("+31*****5678"), "the row is not on disk");
    for secret in ["482913", "Acme code", "31612345678"] {
        assert!(!haystack.contains(secret), "{secret} is stored in clear");
    }
}

#[tokio::test]
async fn final_rows_are_deleted_after_the_retention_and_waiting_ones_never() {
    let f = fixture().await;
    f.enqueue("sent", minutes(5)).await;
    let worker = f.worker(Script::ok());
    assert_eq!(worker.run_once().await.unwrap().claimed, 1);
    assert_eq!(f.row("sent").await.status, OutboxStatus::Sent);
    // Waiting for a worker, and due only in a month: no retention applies to it.
    f.enqueue("waiting", TimeDelta::days(30)).await;

    // Seven days (the retention) after it was sent, its code expired less than seven days
    // ago: kept.
    f.clock.advance(TimeDelta::days(7));
    assert_eq!(worker.prune_once().await.unwrap(), 0);
    f.clock.advance(minutes(6));
    assert_eq!(worker.prune_once().await.unwrap(), 1);
    let gone = f
        .repo
        .find_by_key(TenantId::from_uuid(uuid::Uuid::nil()), "sent")
        .await
        .unwrap();
    assert!(gone.is_none());
    assert_eq!(f.row("waiting").await.status, OutboxStatus::Queued);
    assert_eq!(worker.prune_once().await.unwrap(), 0);
}

#[tokio::test]
async fn a_repeated_idempotency_key_is_sent_once() {
    let f = fixture().await;
    f.enqueue("same", minutes(5)).await;
    f.enqueue("same", minutes(5)).await;
    let sender = Script::ok();
    f.worker(Arc::clone(&sender)).run_once().await.unwrap();
    assert_eq!(sender.calls().len(), 1);
}

#[tokio::test]
async fn retryable_failures_back_off_and_then_succeed() {
    let f = fixture().await;
    f.enqueue("r", minutes(5)).await;
    let sender = Script::new(vec![retryable(None), retryable(None), Ok(())]);
    let worker = f.worker(Arc::clone(&sender));

    worker.run_once().await.unwrap();
    let row = f.row("r").await;
    assert_eq!(row.status, OutboxStatus::Queued);
    assert!(row.has_body);
    assert_eq!(
        row.last_error.as_deref(),
        Some("primary: connection failed")
    );
    assert_eq!(row.next_attempt_at - row.updated_at, TimeDelta::seconds(2));

    // Not due yet.
    f.clock.advance(TimeDelta::seconds(1));
    assert_eq!(worker.run_once().await.unwrap().claimed, 0);
    f.clock.advance(TimeDelta::seconds(1));
    assert_eq!(worker.run_once().await.unwrap().claimed, 1);
    // The second failure waits twice as long.
    let row = f.row("r").await;
    assert_eq!(row.next_attempt_at - row.updated_at, TimeDelta::seconds(4));
    f.clock.advance(TimeDelta::seconds(4));
    worker.run_once().await.unwrap();
    let row = f.row("r").await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.attempts, 3);
    assert_eq!(sender.calls().len(), 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_backoff_is_honoured() {
    let f = fixture().await;
    f.enqueue("ra", minutes(5)).await;
    let sender = Script::new(vec![retryable(Some(Duration::from_secs(20))), Ok(())]);
    f.worker(sender).run_once().await.unwrap();
    let row = f.row("ra").await;
    assert_eq!(row.next_attempt_at - row.updated_at, TimeDelta::seconds(20));
}

#[tokio::test]
async fn a_retry_that_would_come_after_expiry_expires_the_row() {
    let f = fixture().await;
    f.enqueue("x", TimeDelta::seconds(3)).await;
    let sender = Script::new(vec![retryable(None), retryable(None), Ok(())]);
    let worker = f.worker(Arc::clone(&sender));
    worker.run_once().await.unwrap();
    assert_eq!(f.row("x").await.status, OutboxStatus::Queued);
    f.clock.advance(TimeDelta::seconds(2));
    // Second failure: the next try (4 s later) would be past expiry.
    worker.run_once().await.unwrap();
    let row = f.row("x").await;
    assert_eq!(row.status, OutboxStatus::Expired);
    assert!(!row.has_body);
    assert_eq!(
        row.last_error.as_deref(),
        Some("primary: connection failed")
    );
    f.clock.advance(TimeDelta::seconds(10));
    worker.run_once().await.unwrap();
    assert_eq!(sender.calls().len(), 2);
}

#[tokio::test]
async fn a_permanent_failure_fails_the_row() {
    let f = fixture().await;
    f.enqueue("p", minutes(5)).await;
    let sender = Script::new(vec![Err(SendError::Permanent {
        kind: PermanentKind::InvalidNumber,
        reason: "twilio: code 21211".to_owned(),
    })]);
    let worker = f.worker(Arc::clone(&sender));
    worker.run_once().await.unwrap();
    let row = f.row("p").await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert!(!row.has_body);
    assert!(row.last_error.unwrap().contains("21211"));
    f.clock.advance(minutes(1));
    worker.run_once().await.unwrap();
    assert_eq!(sender.calls().len(), 1);
}

#[tokio::test]
async fn a_message_whose_code_expired_is_never_sent() {
    let f = fixture().await;
    f.enqueue("late", TimeDelta::seconds(30)).await;
    f.clock.advance(TimeDelta::seconds(30));
    let sender = Script::ok();
    let tick = f.worker(Arc::clone(&sender)).run_once().await.unwrap();
    assert_eq!((tick.expired.missed, tick.claimed), (1, 0));
    assert!(sender.calls().is_empty());
    let row = f.row("late").await;
    assert_eq!(row.status, OutboxStatus::Expired);
    assert!(!row.has_body);
}

#[tokio::test]
async fn rows_of_a_dead_worker_are_sent_after_their_lease_lapses() {
    let f = fixture().await;
    f.enqueue("crash", minutes(5)).await;
    // A worker claims the row and dies without recording anything.
    let keys = vec![OutboxKey::new([9; 32]).id().to_owned()];
    let dead = f
        .repo
        .claim(f.clock.now(), Duration::from_secs(30), 10, &keys)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);

    let sender = Script::ok();
    let worker = f.worker(Arc::clone(&sender));
    assert_eq!(worker.run_once().await.unwrap().claimed, 0);
    f.clock.advance(TimeDelta::seconds(30));
    let tick = worker.run_once().await.unwrap();
    assert_eq!((tick.requeued, tick.claimed), (1, 1));
    assert_eq!(sender.calls().len(), 1);
    let row = f.row("crash").await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.attempts, 2);
}

#[tokio::test]
async fn a_worker_with_another_key_leaves_the_row_alone() {
    let f = fixture().await;
    f.enqueue("k", TimeDelta::seconds(10)).await;
    let stranger = SqlOutbox::new(
        Arc::clone(&f.repo),
        OutboxKey::new([1; 32]),
        Arc::clone(&f.clock) as Arc<dyn Clock>,
    );
    let sender = Script::ok();
    let worker = stranger.worker(Arc::clone(&sender) as _, settings());
    assert_eq!(worker.run_once().await.unwrap().claimed, 0);
    assert_eq!(f.row("k").await.status, OutboxStatus::Queued);
    // It still expires it when its time comes.
    f.clock.advance(TimeDelta::seconds(10));
    assert_eq!(worker.run_once().await.unwrap().expired.missed, 1);
    assert!(sender.calls().is_empty());
}

#[tokio::test]
async fn a_body_that_does_not_open_fails_the_row() {
    let f = fixture().await;
    let keys = [OutboxKey::new([9; 32]).id().to_owned()];
    let tenant = TenantId::from_uuid(uuid::Uuid::nil());
    let row = twostep_core::ports::NewOutboxMessage {
        id: uuid::Uuid::now_v7(),
        tenant,
        idempotency_key: "garbled".to_owned(),
        purpose: None,
        masked_to: "+31*****5678".to_owned(),
        body: twostep_core::ports::SealedBody(vec![1; 60]),
        key_id: keys[0].clone(),
        created_at: f.clock.now(),
        expires_at: f.clock.now() + minutes(5),
    };
    f.repo.enqueue(&row).await.unwrap();
    let sender = Script::ok();
    f.worker(Arc::clone(&sender)).run_once().await.unwrap();
    assert!(sender.calls().is_empty());
    let row = f.row("garbled").await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert!(!row.has_body);
}

/// Real time from here on: the spawned loop, its wake-up and its leases.
async fn system_fixture() -> (Fixture, SqlOutbox) {
    let f = fixture().await;
    let outbox = SqlOutbox::new(
        Arc::clone(&f.repo),
        OutboxKey::new([9; 32]),
        Arc::new(SystemClock),
    );
    (f, outbox)
}

async fn wait_for(sender: &Script, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while sender.calls().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} sends, wanted {n}",
            sender.calls().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_enqueue_wakes_the_running_worker_at_once() {
    let (f, outbox) = system_fixture().await;
    let sender = Script::ok();
    let slow_poll = OutboxSettings {
        poll_interval: Duration::from_secs(60),
        ..settings()
    };
    let handle = outbox.worker(Arc::clone(&sender) as _, slow_poll).spawn();
    // Let the loop pass its first sweep and claim, and start waiting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    outbox
        .enqueue(message("wake", minutes(5), Utc::now()))
        .await
        .unwrap();
    wait_for(&sender, 1, Duration::from_secs(5)).await;
    handle.stop(Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while f.row("wake").await.status != OutboxStatus::Sent {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_slow_send_keeps_its_lease_so_no_other_worker_sends_it_again() {
    let (_f, outbox) = system_fixture().await;
    let short_lease = OutboxSettings {
        lease: Duration::from_millis(150),
        poll_interval: Duration::from_millis(20),
        ..settings()
    };
    let slow = Script::slow(vec![Ok(())], Duration::from_millis(700));
    let first = outbox.worker(Arc::clone(&slow) as _, short_lease).spawn();
    outbox
        .enqueue(message("slow", minutes(5), Utc::now()))
        .await
        .unwrap();
    wait_for(&slow, 1, Duration::from_secs(5)).await;
    // A second instance sweeping and claiming all along the slow send.
    let other = Script::ok();
    let second = outbox.worker(Arc::clone(&other) as _, short_lease).spawn();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    first.stop(Duration::from_secs(5)).await;
    second.stop(Duration::from_secs(5)).await;
    assert_eq!(slow.calls().len(), 1);
    assert!(other.calls().is_empty(), "the row was sent twice");
}

#[tokio::test]
async fn many_messages_are_each_sent_once_by_two_workers() {
    let (f, outbox) = system_fixture().await;
    let a = Script::ok();
    let b = Script::ok();
    let quick = OutboxSettings {
        poll_interval: Duration::from_millis(20),
        ..settings()
    };
    let wa = outbox.worker(Arc::clone(&a) as _, quick).spawn();
    let wb = outbox.worker(Arc::clone(&b) as _, quick).spawn();
    for i in 0..30 {
        outbox
            .enqueue(message(&format!("m{i}"), minutes(5), Utc::now()))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.calls().len() + b.calls().len() < 30 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    wa.stop(Duration::from_secs(5)).await;
    wb.stop(Duration::from_secs(5)).await;
    let mut keys: Vec<String> = a
        .calls()
        .into_iter()
        .chain(b.calls())
        .map(|(_, _, key)| key)
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 30);
    assert_eq!(a.calls().len() + b.calls().len(), 30);
    for i in 0..30 {
        assert_eq!(f.row(&format!("m{i}")).await.status, OutboxStatus::Sent);
    }
}

/// A sender that blocks until released, to hold a send in flight.
struct Gate {
    open: tokio::sync::Notify,
    calls: Mutex<usize>,
}

#[async_trait]
impl SmsSender for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    async fn send(&self, _: &OutgoingSms) -> Result<SentSms, SendError> {
        *self.calls.lock().unwrap() += 1;
        self.open.notified().await;
        Ok(SentSms {
            provider: "gate".to_owned(),
            provider_message_id: "g".to_owned(),
        })
    }
}

#[tokio::test]
async fn a_worker_never_requeues_a_row_it_is_still_sending() {
    let f = fixture().await;
    f.enqueue("held", minutes(5)).await;
    let gate = Arc::new(Gate {
        open: tokio::sync::Notify::new(),
        calls: Mutex::new(0),
    });
    let worker = f.outbox.worker(Arc::clone(&gate) as _, settings());
    let first = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await.unwrap() }
    });
    while *gate.calls.lock().unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Its lease lapses (say the renewals were starved): the same worker's sweep leaves it.
    f.clock.advance(TimeDelta::seconds(60));
    let tick = tokio::time::timeout(Duration::from_secs(5), worker.run_once())
        .await
        .expect("the row was taken again and sent a second time")
        .unwrap();
    assert_eq!((tick.requeued, tick.claimed), (0, 0));
    assert_eq!(f.row("held").await.status, OutboxStatus::Sending);
    gate.open.notify_one();
    assert_eq!(first.await.unwrap().claimed, 1);
    let row = f.row("held").await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 1));
    assert_eq!(*gate.calls.lock().unwrap(), 1);
}

/// Counts what the worker reports, by provider and outcome.
#[derive(Default)]
struct Tally(Mutex<Vec<(Option<String>, SendOutcome, u64)>>);

impl OutboxObserver for Tally {
    fn outcomes(&self, provider: Option<&str>, outcome: SendOutcome, count: u64) {
        self.0
            .lock()
            .unwrap()
            .push((provider.map(str::to_owned), outcome, count));
    }
}

impl Tally {
    fn take(&self) -> Vec<(Option<String>, SendOutcome, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn the_observer_hears_each_recorded_outcome_and_each_sweep_expiry() {
    let f = fixture().await;
    let tally = Arc::new(Tally::default());
    let outbox = f
        .outbox
        .clone()
        .with_observer(Arc::clone(&tally) as Arc<dyn OutboxObserver>);
    let permanent = Err(SendError::Permanent {
        kind: PermanentKind::Rejected,
        reason: "blocked".to_owned(),
    });
    let sender = Script::new(vec![retryable(None), Ok(()), permanent]);
    let worker = outbox.worker(Arc::clone(&sender) as _, settings());

    f.enqueue("a", minutes(5)).await;
    worker.run_once().await.unwrap();
    assert_eq!(tally.take(), [(None, SendOutcome::Retry, 1)]);
    f.clock.advance(TimeDelta::seconds(2));
    worker.run_once().await.unwrap();
    // The provider that accepted it, by its name.
    assert_eq!(
        tally.take(),
        [(Some("backup".to_owned()), SendOutcome::Sent, 1)]
    );
    f.enqueue("b", minutes(5)).await;
    worker.run_once().await.unwrap();
    assert_eq!(tally.take(), [(None, SendOutcome::Failed, 1)]);

    // Two that ran out of time unsent, in one sweep.
    f.enqueue("c", TimeDelta::seconds(5)).await;
    f.enqueue("d", TimeDelta::seconds(5)).await;
    f.clock.advance(TimeDelta::seconds(5));
    worker.run_once().await.unwrap();
    assert_eq!(tally.take(), [(None, SendOutcome::Expired, 2)]);
    assert_eq!(SendOutcome::Expired.as_str(), "expired");
}
