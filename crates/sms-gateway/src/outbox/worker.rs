//! The outbox worker: sweeps, claims, sends, records; see the module docs of `outbox`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use twostep_core::clock::Clock;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{
    ClaimedOutboxMessage, ExpiredRows, OutboxOutcome, OutboxRepo, OutgoingSms, RepoError,
    SendError, SmsSender,
};

use super::observer::{OutboxObserver, SendOutcome};
use super::seal::OutboxKey;

/// How the worker paces itself (`[sms.outbox]` in the server's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// How long a claimed row stays the worker's without a renewal; renewed every third of
    /// it while a send runs. After a crash, rows wait this long before another worker
    /// takes them.
    pub lease: Duration,
    /// How often the worker looks for due rows (retries, other instances' rows) when no
    /// enqueue woke it, and how often it sweeps expired and abandoned rows.
    pub poll_interval: Duration,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// The wait before the first retry of a retryable failure; it doubles per attempt.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long a final row (sent, delivered, failed, expired) is kept after its code
    /// expired, for receipts that come late and for operators; then it is deleted. At least
    /// an hour, so that an idempotency key outlives any retry of its enqueue.
    pub retention: Duration,
}

/// Final rows deleted per statement: one delete stays short, however large the backlog.
const PRUNE_BATCH: u32 = 1000;

/// How often final rows past their retention are deleted, unless the last batch was full.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The wait after a full batch: short, so a backlog drains (decoy stand-ins are due at once),
/// but never back-to-back deletes competing with live requests for the database.
const PRUNE_AFTER_FULL_BATCH: Duration = Duration::from_secs(1);

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            concurrency: 16,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl OutboxSettings {
    /// The wait after the `attempts`-th failed attempt: exponential, at least the provider's
    /// `retry_after`, at most `retry_max`.
    pub fn backoff(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 2u32
            .checked_pow(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.retry_base
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .max(retry_after.unwrap_or_default())
            .min(self.retry_max)
    }
}

/// What one pass of [`OutboxWorker::run_once`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub expired: ExpiredRows,
    pub requeued: u64,
    pub claimed: usize,
}

/// Sends the rows of an outbox; cheap to clone (one shared state).
#[derive(Clone)]
pub struct OutboxWorker {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn OutboxRepo>,
    key: OutboxKey,
    key_ids: Vec<String>,
    sender: Arc<dyn SmsSender>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    observer: Arc<dyn OutboxObserver>,
    settings: OutboxSettings,
    slots: Arc<Semaphore>,
    /// This worker's claims with rows still in its hands, and how many: its own sweeps leave
    /// them alone, however late a lease renewal is.
    held: std::sync::Mutex<HashMap<uuid::Uuid, usize>>,
}

/// A running worker; [`WorkerHandle::stop`] ends it.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OutboxWorker {
    pub(super) fn new(
        repo: Arc<dyn OutboxRepo>,
        key: OutboxKey,
        sender: Arc<dyn SmsSender>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        observer: Arc<dyn OutboxObserver>,
        settings: OutboxSettings,
    ) -> Self {
        let settings = OutboxSettings {
            concurrency: settings.concurrency.max(1),
            lease: settings.lease.max(Duration::from_millis(30)),
            poll_interval: settings.poll_interval.max(Duration::from_millis(10)),
            ..settings
        };
        Self {
            inner: Arc::new(Inner {
                repo,
                key_ids: vec![key.id().to_owned()],
                key,
                sender,
                clock,
                wake,
                observer,
                slots: Arc::new(Semaphore::new(settings.concurrency)),
                held: std::sync::Mutex::new(HashMap::new()),
                settings,
            }),
        }
    }

    /// Deletes one batch of final rows past their retention; returns how many. The loop does
    /// this every minute, and every second while batches come back full.
    pub async fn prune_once(&self) -> Result<u64, RepoError> {
        self.inner.prune().await
    }

    /// Runs the loop on the current runtime until [`WorkerHandle::stop`].
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.inner.run(stopped));
        WorkerHandle { stop, task }
    }

    /// One pass without waiting: sweep, claim what is due (up to `concurrency` rows), send
    /// it and record the outcomes. For tests and tools; the loop does the same continuously.
    pub async fn run_once(&self) -> Result<Tick, RepoError> {
        let (expired, requeued) = self.inner.sweep().await?;
        let rows = self.inner.claim(self.inner.settings.concurrency).await?;
        let claimed = rows.len();
        let mut sends = JoinSet::new();
        for row in rows {
            let inner = Arc::clone(&self.inner);
            sends.spawn(async move { inner.deliver(row).await });
        }
        while sends.join_next().await.is_some() {}
        Ok(Tick {
            expired,
            requeued,
            claimed,
        })
    }
}

impl WorkerHandle {
    /// Stops claiming and waits up to `grace` for sends in flight; sends still running then
    /// are dropped, and their rows go back to the queue when their lease lapses.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!("sms outbox: sends still in flight after the grace period; abandoned");
            task.abort();
        }
    }
}

impl Inner {
    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut sends = JoinSet::new();
        let mut last_sweep: Option<Instant> = None;
        // Not at start: a fleet restarted together would otherwise delete at once, while its
        // first requests wait for the database. Nothing is late for it: a final row only waits
        // to be deleted.
        let mut next_prune = Instant::now() + PRUNE_EVERY;
        tracing::info!(key_id = %self.key.id(), "sms outbox worker started");
        while !*stopped.borrow() {
            while let Some(done) = sends.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "sms outbox send task failed");
                }
            }
            if last_sweep.is_none_or(|at| at.elapsed() >= self.settings.poll_interval) {
                last_sweep = Some(Instant::now());
                if let Err(e) = self.sweep().await {
                    tracing::warn!(error = %e, "sms outbox sweep failed");
                }
            }
            if Instant::now() >= next_prune {
                next_prune = match self.prune().await {
                    Ok(n) if n >= u64::from(PRUNE_BATCH) => Instant::now() + PRUNE_AFTER_FULL_BATCH,
                    Ok(_) => Instant::now() + PRUNE_EVERY,
                    Err(e) => {
                        tracing::warn!(error = %e, "sms outbox prune failed");
                        Instant::now() + PRUNE_EVERY
                    }
                };
            }
            let free = self.slots.available_permits();
            if free > 0 {
                match self.claim(free).await {
                    Ok(rows) => {
                        for row in rows {
                            // Never short of a slot (only this loop takes them, and it claimed
                            // no more than were free); a row is sent regardless.
                            let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
                            let inner = Arc::clone(&self);
                            sends.spawn(async move {
                                inner.deliver(row).await;
                                drop(slot);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "sms outbox claim failed"),
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = stopped.changed() => {}
                Some(done) = sends.join_next(), if !sends.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "sms outbox send task failed");
                    }
                }
            }
        }
        tracing::info!(in_flight = sends.len(), "sms outbox worker stopping");
        while sends.join_next().await.is_some() {}
    }

    /// Ends expired rows, then requeues abandoned ones.
    async fn sweep(&self) -> Result<(ExpiredRows, u64), RepoError> {
        let now = self.clock.now();
        let held = self.held();
        let expired = self.repo.expire_due(now, &held).await?;
        let requeued = self.repo.requeue_abandoned(now, &held).await?;
        if expired.missed > 0 {
            self.observer
                .outcomes(None, SendOutcome::Expired, expired.missed);
            tracing::warn!(
                count = expired.missed,
                "sms outbox: messages expired before sending"
            );
        }
        // Stand-ins (decoys' rows) are never sent; today they are written `expired`, and only
        // those an older version queued end here. Their end is routine, and a warning for
        // each would hide the real ones. Nor are they reported: they are no messages, and
        // their count would tell how many requests named no account (R19).
        if expired.stand_ins > 0 {
            tracing::debug!(count = expired.stand_ins, "sms outbox: stand-ins erased");
        }
        if requeued > 0 {
            tracing::warn!(
                count = requeued,
                "sms outbox: requeued messages whose worker stopped (lease lapsed)"
            );
        }
        Ok((expired, requeued))
    }

    /// Deletes one batch of final rows whose code expired longer than the retention ago.
    async fn prune(&self) -> Result<u64, RepoError> {
        let retention = TimeDelta::from_std(self.settings.retention).unwrap_or(TimeDelta::MAX);
        let before = self
            .clock
            .now()
            .checked_sub_signed(retention)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let pruned = self.repo.prune_finished(before, PRUNE_BATCH).await?;
        if pruned > 0 {
            tracing::debug!(
                count = pruned,
                "sms outbox: final rows past retention deleted"
            );
        }
        Ok(pruned)
    }

    /// Claims rows and registers them as held until [`Inner::deliver`] lets go of each.
    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedOutboxMessage>, RepoError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let rows = self
            .repo
            .claim(self.clock.now(), self.settings.lease, limit, &self.key_ids)
            .await?;
        let mut held = self.lock_held();
        for row in &rows {
            *held.entry(row.claim).or_default() += 1;
        }
        Ok(rows)
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, usize>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn held(&self) -> Vec<uuid::Uuid> {
        self.lock_held().keys().copied().collect()
    }

    fn release(&self, claim: uuid::Uuid) {
        let mut held = self.lock_held();
        if let Some(n) = held.get_mut(&claim) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&claim);
            }
        }
    }

    /// Sends one claimed row and records the outcome, renewing the row's lease all along
    /// (every third of the lease). If a renewal finds the claim lost (another worker took
    /// the row after the lease lapsed), the work is dropped: the row is someone else's now.
    async fn deliver(&self, row: ClaimedOutboxMessage) {
        let work = async {
            if let Some(outcome) = self.attempt(&row).await {
                self.record(&row, &outcome).await;
            }
        };
        tokio::select! {
            () = work => {}
            () = self.keep_leased(&row) => {
                tracing::warn!(
                    outbox_id = %row.id,
                    "sms outbox: lease lost while the message was in hand; leaving it to its new holder"
                );
            }
        }
        self.release(row.claim);
    }

    /// Renews the lease of `row` until the claim is found lost (then returns).
    async fn keep_leased(&self, row: &ClaimedOutboxMessage) {
        loop {
            tokio::time::sleep(self.settings.lease / 3).await;
            let until = later(self.clock.now(), self.settings.lease);
            match self.repo.extend_lease(row.id, row.claim, until).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(
                    outbox_id = %row.id, error = %e, "sms outbox: renewing a lease failed"
                ),
            }
        }
    }

    /// Sends one claimed row. A row whose lease is more than half gone before the send
    /// starts (the worker was slow to get to it) is renewed first, and not sent at all if the
    /// claim is lost by then: `None`.
    async fn attempt(&self, row: &ClaimedOutboxMessage) -> Option<OutboxOutcome> {
        let sms = match self.open(row) {
            Ok(sms) => sms,
            Err(error) => return Some(OutboxOutcome::Failed { error }),
        };
        let now = self.clock.now();
        if later(now, self.settings.lease / 2) >= row.lease_until {
            let until = later(now, self.settings.lease);
            if let Ok(false) = self.repo.extend_lease(row.id, row.claim, until).await {
                tracing::warn!(
                    outbox_id = %row.id,
                    "sms outbox: lease lost before the send; leaving the row to its new holder"
                );
                return None;
            }
        }
        let result = self.sender.send(&sms).await;
        Some(self.outcome(row, result))
    }

    fn open(&self, row: &ClaimedOutboxMessage) -> Result<OutgoingSms, String> {
        let opened = self
            .key
            .open(row.id, row.tenant, &row.body)
            .map_err(|e| e.to_string())?;
        let to = PhoneNumber::from_e164(&opened.to)
            .map_err(|_| "the stored number is not valid E.164".to_owned())?;
        Ok(OutgoingSms {
            tenant: row.tenant,
            to,
            text: opened.text,
            provider_code: opened.provider_code,
            purpose: row.purpose,
            idempotency_key: row.idempotency_key.clone(),
            expires_at: row.expires_at,
        })
    }

    fn outcome(
        &self,
        row: &ClaimedOutboxMessage,
        result: Result<twostep_core::ports::SentSms, SendError>,
    ) -> OutboxOutcome {
        let now = self.clock.now();
        match result {
            Ok(sent) => OutboxOutcome::Sent {
                provider: sent.provider,
                provider_message_id: sent.provider_message_id,
            },
            Err(e) if row.expires_at <= now => OutboxOutcome::Expired {
                error: Some(e.to_string()),
            },
            Err(SendError::Retryable {
                retry_after,
                reason,
            }) => {
                let next = later(now, self.settings.backoff(row.attempts, retry_after));
                if next >= row.expires_at {
                    OutboxOutcome::Expired {
                        error: Some(reason),
                    }
                } else {
                    OutboxOutcome::Retry {
                        next_attempt_at: next,
                        error: reason,
                    }
                }
            }
            Err(e @ SendError::Permanent { .. }) => OutboxOutcome::Failed {
                error: e.to_string(),
            },
        }
    }

    /// Records the outcome, retrying a failing database briefly: a row left `sending` is
    /// sent again once its lease lapses.
    async fn record(&self, row: &ClaimedOutboxMessage, outcome: &OutboxOutcome) {
        for attempt in 1..=3u32 {
            match self
                .repo
                .finish(row.id, row.claim, outcome, self.clock.now())
                .await
            {
                Ok(true) => {
                    log_outcome(row, outcome);
                    self.report(outcome);
                    return;
                }
                Ok(false) => {
                    tracing::warn!(
                        outbox_id = %row.id,
                        "sms outbox: lease lost before the outcome was recorded"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(outbox_id = %row.id, attempt, error = %e,
                        "sms outbox: recording an outcome failed");
                    tokio::time::sleep(Duration::from_millis(250) * attempt).await;
                }
            }
        }
        tracing::error!(
            outbox_id = %row.id,
            "sms outbox: outcome not recorded; the row is retried when its lease lapses"
        );
    }

    fn report(&self, outcome: &OutboxOutcome) {
        let (provider, outcome) = match outcome {
            OutboxOutcome::Sent { provider, .. } => (Some(provider.as_str()), SendOutcome::Sent),
            OutboxOutcome::Retry { .. } => (None, SendOutcome::Retry),
            OutboxOutcome::Failed { .. } => (None, SendOutcome::Failed),
            OutboxOutcome::Expired { .. } => (None, SendOutcome::Expired),
        };
        self.observer.outcomes(provider, outcome, 1);
    }
}

fn log_outcome(row: &ClaimedOutboxMessage, outcome: &OutboxOutcome) {
    let (id, to, attempts) = (&row.id, &row.masked_to, row.attempts);
    match outcome {
        OutboxOutcome::Sent { provider, .. } => {
            tracing::info!(outbox_id = %id, to = %to, provider = %provider, attempts, "sms sent");
        }
        OutboxOutcome::Retry {
            next_attempt_at,
            error,
        } => tracing::warn!(
            outbox_id = %id, to = %to, attempts, error = %error, retry_at = %next_attempt_at,
            "sms not sent; will retry"
        ),
        OutboxOutcome::Failed { error } => tracing::warn!(
            outbox_id = %id, to = %to, attempts, error = %error, "sms failed permanently"
        ),
        OutboxOutcome::Expired { error } => tracing::warn!(
            outbox_id = %id, to = %to, attempts, error = error.as_deref().unwrap_or_default(),
            "sms expired before a provider accepted it"
        ),
    }
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
