//! An in-process outbox: a bounded queue and a worker task. Messages are lost if the process
//! dies before sending them; the durable SQL outbox replaces this in production (issue 5).
//! Until then it gives the property that matters most: the RPC only enqueues.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::mpsc;
use twostep_core::ports::{OutboxError, OutgoingSms, SmsOutbox, SmsSender};

pub struct InProcessOutbox {
    tx: mpsc::Sender<OutgoingSms>,
}

impl InProcessOutbox {
    /// Starts the worker on the current runtime. It stops when the outbox is dropped.
    pub fn start(sender: Arc<dyn SmsSender>, capacity: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<OutgoingSms>(capacity.max(1));
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if message.expires_at <= Utc::now() {
                    tracing::warn!(to = ?message.to, "sms expired before sending; dropped");
                    continue;
                }
                match sender.send(&message).await {
                    Ok(sent) => {
                        tracing::info!(to = ?message.to, provider = %sent.provider, "sms sent")
                    }
                    Err(e) => tracing::warn!(to = ?message.to, error = %e, "sms not sent"),
                }
            }
        });
        Self { tx }
    }
}

#[async_trait]
impl SmsOutbox for InProcessOutbox {
    async fn enqueue(&self, message: OutgoingSms) -> Result<(), OutboxError> {
        // A full queue means the provider cannot keep up: refuse rather than buffer forever.
        self.tx
            .try_send(message)
            .map_err(|e| OutboxError::Unavailable(e.to_string().into()))
    }
}
