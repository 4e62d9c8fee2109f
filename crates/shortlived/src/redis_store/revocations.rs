//! Session revocations over Redis pub/sub: [`RedisSessionEvents`] implements the core port
//! `SessionEvents`, so that a revocation on one instance empties the session cache of every
//! instance before the revoking RPC has answered.
//!
//! Publishing goes through the store's shared connection (`PUBLISH`, with the store's
//! timeout). Subscribing uses one dedicated connection per process (a subscribed connection
//! can do nothing else), held by a background task that:
//! - reports `resumed` only once `SUBSCRIBE` is confirmed;
//! - pings every [`PING_EVERY`] and reports `lost` when a ping is not answered within the
//!   command timeout, the connection closes, or (behind Sentinels) they name another primary
//!   than the one it is subscribed on, then reconnects (on a cluster, trying the
//!   seed nodes in turn: Redis Cluster forwards every `PUBLISH` to every node; behind
//!   Sentinels, the primary they name at that moment);
//! - treats a message it cannot read (a newer instance's, during an upgrade) like a loss:
//!   the cache is emptied rather than left to guess.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::Value;
use twostep_core::ports::{Revocation, RevocationListener, SessionEvents, StoreError};

use super::RedisStore;
use super::error::Failure;
use super::scripts::Replay;

/// How often the subscription proves it is alive.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// Pause between two attempts to subscribe.
const RETRY_DELAY: Duration = Duration::from_millis(250);

/// The `SessionEvents` of a [`RedisStore`]; cheap to clone.
#[derive(Clone)]
pub struct RedisSessionEvents {
    store: RedisStore,
    channel: String,
}

impl RedisSessionEvents {
    pub(super) fn new(store: RedisStore) -> Self {
        let channel = format!("{}revocations", store.key_prefix());
        Self { store, channel }
    }

    /// The pub/sub channel (`<key prefix>revocations`).
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl std::fmt::Debug for RedisSessionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionEvents")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionEvents for RedisSessionEvents {
    async fn publish(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(revocation.to_string());
        self.store
            // A revocation published twice is applied once.
            .query::<Value>(Replay::Safe, cmd)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(())
    }

    fn subscribe(&self, listener: Arc<dyn RevocationListener>) {
        let task = Subscriber {
            store: self.store.clone(),
            channel: self.channel.clone(),
            timeout: self.store.inner.timeout,
            listener,
        };
        tokio::spawn(task.run());
    }
}

struct Subscriber {
    /// Where to connect: the store's link knows its kind of deployment.
    store: RedisStore,
    channel: String,
    timeout: Duration,
    listener: Arc<dyn RevocationListener>,
}

impl Subscriber {
    /// Runs for the life of the process.
    async fn run(self) {
        let mut attempt = 0usize;
        let mut was_up = true;
        loop {
            match self.subscribe(attempt).await {
                Ok((pubsub, address)) => {
                    attempt = 0;
                    was_up = true;
                    self.listener.resumed();
                    tracing::info!(channel = %self.channel, "session revocations: subscribed");
                    self.listen(pubsub, address).await;
                    self.listener.lost();
                    tracing::warn!(
                        "session revocations: subscription lost; session cache bypassed until \
                         it is back"
                    );
                }
                Err(e) => {
                    attempt = attempt.wrapping_add(1);
                    if was_up {
                        let e = e.into_store_error();
                        tracing::warn!(error = %e, "session revocations: cannot subscribe");
                        was_up = false;
                    }
                }
            }
            tokio::time::sleep(RETRY_DELAY).await;
        }
    }

    /// A subscribed connection, and the address (`host:port`) it is connected to.
    async fn subscribe(&self, attempt: usize) -> Result<(redis::aio::PubSub, String), Failure> {
        let client = self
            .store
            .inner
            .link
            .subscriber_client(attempt)
            .await
            .map_err(Failure::Connect)?;
        let address = client.get_connection_info().addr().to_string();
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await.map_err(Failure::Connect)?;
            pubsub
                .subscribe(&self.channel)
                .await
                .map_err(Failure::Command)?;
            Ok((pubsub, address))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or(Err(Failure::TimedOut(self.timeout)))
    }

    /// Delivers messages until the connection ends, stops answering pings, or is to a
    /// primary the Sentinels no longer name.
    async fn listen(&self, pubsub: redis::aio::PubSub, address: String) {
        let (mut sink, mut stream) = pubsub.split();
        let timeout = self.timeout;
        let store = self.store.clone();
        // Pings run beside the stream so that a slow answer never holds up a message.
        let mut pinger = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PING_EVERY).await;
                match tokio::time::timeout(timeout, sink.ping::<Value>()).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                if store.inner.link.primary_moved_from(&address) {
                    tracing::warn!(
                        "session revocations: the sentinels name another primary; \
                         subscribing there"
                    );
                    return;
                }
            }
        });
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    self.deliver(&msg);
                }
                _ = &mut pinger => break,
            }
        }
        pinger.abort();
    }

    fn deliver(&self, msg: &redis::Msg) {
        let parsed = msg
            .get_payload::<String>()
            .ok()
            .and_then(|p| p.parse::<Revocation>().ok());
        match parsed {
            Some(revocation) => self.listener.revoked(&revocation),
            None => {
                tracing::warn!("session revocations: unreadable message; emptying the cache");
                self.listener.lost();
                self.listener.resumed();
            }
        }
    }
}
