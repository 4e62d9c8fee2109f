//! The durable outbox: [`SqlOutbox`] is the flows' `SmsOutbox`, and an [`OutboxWorker`]
//! sends what it stored.
//!
//! `enqueue` seals the number and text with the [`OutboxKey`], commits a `queued` row through
//! the `OutboxRepo` port (SQL in production) and wakes the local worker; the RPC answers
//! after the commit, so a crash afterwards loses nothing, and it never waits for a provider.
//! A decoy's stand-in (R19) is sealed and committed the same way, but written already
//! `expired` with no body, and wakes nobody.
//!
//! The worker, on every instance, loops:
//!
//! 1. sweeps (at most once per poll interval): rows past `expires_at` that no live worker
//!    holds become `expired` (never sent, body erased); rows left `sending` by a dead worker
//!    (lease run out) go back to `queued`;
//! 2. claims due rows sealed with its key (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//!    instances never share a row), as many as it has free send slots;
//! 3. sends each through the `SmsSender` (the `Router`: retries, failover, breakers),
//!    extending the row's lease while the send runs, and records the outcome: `sent` with the
//!    provider and its message id; a retryable failure back to `queued` with exponential
//!    backoff (or the provider's `retry_after`), or `expired` when the code would expire
//!    first; a permanent failure `failed`;
//! 4. waits for an enqueue (a `Notify`) or the poll interval.
//!
//! Each recorded outcome, and each message a sweep expired unsent, is reported to the
//! outbox's [`OutboxObserver`] (the server's metrics; [`SqlOutbox::with_observer`]).
//!
//! Delivery is at least once per row in the face of crashes: a worker killed after the
//! provider accepted a message but before it recorded `sent` leaves the row to be sent again
//! when the lease lapses. Providers that support it get the idempotency key to drop that
//! duplicate.

mod observer;
mod seal;
mod worker;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;
use twostep_core::clock::Clock;
use twostep_core::ports::{
    NewOutboxMessage, OutboxError, OutboxRepo, OutgoingSms, RepoError, SmsOutbox, SmsSender,
};

pub use observer::{NoObserver, OutboxObserver, SendOutcome};
pub use seal::{Opened, OutboxKey, SealError};
pub use worker::{OutboxSettings, OutboxWorker, Tick, WorkerHandle};

/// The flows' outbox over durable rows; see the module docs.
#[derive(Clone)]
pub struct SqlOutbox {
    repo: Arc<dyn OutboxRepo>,
    key: OutboxKey,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// Told of its workers' outcomes.
    observer: Arc<dyn OutboxObserver>,
}

impl SqlOutbox {
    pub fn new(repo: Arc<dyn OutboxRepo>, key: OutboxKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            key,
            clock,
            wake: Arc::new(Notify::new()),
            observer: Arc::new(NoObserver),
        }
    }

    /// Reports the outcomes of the workers made from now on to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn OutboxObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// The worker that sends this outbox's rows (and those other instances sealed with the
    /// same key); enqueues on this outbox wake it at once.
    pub fn worker(&self, sender: Arc<dyn SmsSender>, settings: OutboxSettings) -> OutboxWorker {
        OutboxWorker::new(
            Arc::clone(&self.repo),
            self.key.clone(),
            sender,
            Arc::clone(&self.clock),
            Arc::clone(&self.wake),
            Arc::clone(&self.observer),
            settings,
        )
    }
}

#[async_trait]
impl SmsOutbox for SqlOutbox {
    async fn enqueue(&self, message: OutgoingSms) -> Result<(), OutboxError> {
        let id = uuid::Uuid::now_v7();
        let body = if message.provider_code {
            self.key
                .seal_provider_code(id, message.tenant, message.to.e164())
        } else {
            self.key
                .seal(id, message.tenant, message.to.e164(), message.text.expose())
        }
        .map_err(|e| OutboxError::Unavailable(Box::new(e)))?;
        let row = NewOutboxMessage {
            id,
            tenant: message.tenant,
            idempotency_key: message.idempotency_key,
            purpose: message.purpose,
            masked_to: message.to.masked(),
            body,
            key_id: self.key.id().to_owned(),
            created_at: self.clock.now(),
            expires_at: message.expires_at,
        };
        match self.repo.enqueue(&row).await {
            Ok(true) => {
                tracing::debug!(outbox_id = %id, to = %row.masked_to, "sms queued");
                // A stand-in is never sent: waking the worker for it would only cost a
                // claim transaction.
                if !row.is_stand_in() {
                    self.wake.notify_one();
                }
                Ok(())
            }
            Ok(false) => {
                tracing::debug!(to = %row.masked_to, "sms already queued under this key");
                Ok(())
            }
            Err(RepoError::Unavailable(e)) => Err(OutboxError::Unavailable(e)),
            Err(e) => Err(OutboxError::Unavailable(Box::new(e))),
        }
    }
}

#[cfg(test)]
mod tests;
