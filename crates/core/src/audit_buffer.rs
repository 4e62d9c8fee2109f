//! [`BufferedAuditLog`]: audit events written by a background writer instead of on the
//! request's path.
//!
//! Why: an audit row is written only on some paths (a wrong password of an existing account,
//! a registration attempt on an owned number), so writing it before answering made those
//! answers measurably slower than the ones for accounts that do not exist (R19). Off the
//! path, both answers cost the same; and the writer inserts whatever queued meanwhile in one
//! statement, so an event costs a fraction of a commit under load.
//!
//! What it keeps: nothing is dropped while the process lives. The queue is bounded, and a
//! full queue makes `record` wait (back-pressure, never loss). `list` first waits until every
//! event recorded before it is written, so an instance reads its own events; other instances
//! see them within the writer's latency (milliseconds). A write that fails is retried with
//! backoff before it is logged as lost, as a synchronous write's failure was. Graceful
//! shutdown calls [`AuditLog::flush`]. What it gives up: on a crash (SIGKILL, power) the
//! events of the last few milliseconds that were queued but not yet written are lost.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEvent, AuditFilter};
use crate::ids::TenantId;
use crate::ports::{AuditLog, RepoError};

/// Events written in one statement at most.
const MAX_BATCH: usize = 256;
/// Tries of one batch before its events are logged as lost.
const WRITE_TRIES: u32 = 4;

enum Message {
    Event(Box<AuditEvent>),
    /// Answered once every event queued before it is written (or given up).
    Flush(oneshot::Sender<()>),
}

/// The flows' audit log; see the module docs. Cheap to share behind an `Arc`.
pub struct BufferedAuditLog {
    inner: Arc<dyn AuditLog>,
    queue: mpsc::Sender<Message>,
}

/// The writer task's half: spawn [`AuditWriter::run`]. It ends when every
/// [`BufferedAuditLog`] is dropped, after writing what was queued.
pub struct AuditWriter {
    inner: Arc<dyn AuditLog>,
    queue: mpsc::Receiver<Message>,
}

impl BufferedAuditLog {
    /// A log over `inner` with room for `capacity` queued events.
    pub fn new(inner: Arc<dyn AuditLog>, capacity: usize) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                inner: Arc::clone(&inner),
                queue: tx,
            },
            AuditWriter { inner, queue: rx },
        )
    }

    fn stopped() -> RepoError {
        RepoError::Unavailable("the audit writer has stopped".into())
    }
}

#[async_trait]
impl AuditLog for BufferedAuditLog {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepoError> {
        self.queue
            .send(Message::Event(Box::new(event.clone())))
            .await
            .map_err(|_| Self::stopped())
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        before: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, RepoError> {
        self.flush().await?;
        self.inner.list(tenant, filter, before, limit).await
    }

    async fn flush(&self) -> Result<(), RepoError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Message::Flush(done))
            .await
            .map_err(|_| Self::stopped())?;
        written.await.map_err(|_| Self::stopped())
    }
}

impl AuditWriter {
    pub async fn run(mut self) {
        let mut received = Vec::with_capacity(MAX_BATCH);
        while self.queue.recv_many(&mut received, MAX_BATCH).await > 0 {
            let mut events = Vec::with_capacity(received.len());
            let mut flushes = Vec::new();
            for message in received.drain(..) {
                match message {
                    Message::Event(event) => events.push(*event),
                    Message::Flush(done) => flushes.push(done),
                }
            }
            // Every flush in this batch was queued after (or among) these events.
            self.write(&events).await;
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    async fn write(&self, events: &[AuditEvent]) {
        if events.is_empty() {
            return;
        }
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=WRITE_TRIES {
            match self.inner.record_batch(events).await {
                Ok(()) => return,
                Err(e) if attempt < WRITE_TRIES => {
                    tracing::warn!(count = events.len(), attempt, error = %e, "audit events not written yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    for event in events {
                        tracing::error!(kind = event.kind.as_str(), tenant = %event.tenant, error = %e, "audit event not recorded");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
