//! Behind Sentinels: which server is the primary, and noticing when the Sentinels name
//! another one.
//!
//! The lookup is redis-rs's: it asks the Sentinels in turn and connects to the address they
//! give to check that it answers as a primary, so a Sentinel that has not yet seen a failover
//! is not believed. A connection to the old primary does not always fail after a failover: a
//! primary cut off from the Sentinels but not from us goes on taking writes that the rest of
//! the deployment never sees, and a demoted one keeps them until the Sentinels reconfigure it.
//! So a watcher asks the Sentinels every [`WATCH_EVERY`] which address they name, and when it
//! is not the one the connection was made to, the link rebuilds the connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{Client, ConnectionInfo, ErrorKind, RedisError};

use super::super::config::SentinelUrl;

/// How often the watcher asks the Sentinels which primary they name.
pub(in crate::redis_store) const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The primary behind one set of Sentinels.
pub(in crate::redis_store) struct Primary {
    /// Shared by every lookup (it caches its connections to the Sentinels).
    sentinel: tokio::sync::Mutex<Sentinel>,
    service: String,
    node: SentinelNodeConnectionInfo,
    timeout: Duration,
    /// The address (`host:port`) the current connection was made to; `None` while a lookup
    /// is under way or after one failed.
    resolved: Mutex<Option<String>>,
    /// Set by the watcher when the Sentinels name another primary than `resolved`.
    moved: AtomicBool,
    /// The address the Sentinels named at the watcher's last answer.
    named: Mutex<Option<String>>,
}

impl Primary {
    /// Prepares the lookups and starts the watcher, which ends when this is dropped. Must be
    /// called inside the runtime.
    pub(super) fn new(url: &SentinelUrl, timeout: Duration) -> Result<Arc<Self>, RedisError> {
        let primary = Arc::new(Self {
            sentinel: tokio::sync::Mutex::new(Sentinel::build(url.sentinels.clone())?),
            service: url.service.clone(),
            node: url.node(),
            timeout,
            resolved: Mutex::new(None),
            moved: AtomicBool::new(false),
            named: Mutex::new(None),
        });
        let watcher = Watcher {
            primary: Arc::downgrade(&primary),
            sentinels: url.sentinels.iter().map(|s| (s.clone(), None)).collect(),
            service: url.service.clone(),
            timeout,
        };
        tokio::spawn(watcher.run());
        Ok(primary)
    }

    /// A client for the primary the Sentinels name now, for the store's shared connection:
    /// the watcher compares its address with theirs from now on.
    pub(super) async fn connect(&self) -> Result<Client, RedisError> {
        *self.lock() = None;
        self.moved.store(false, Ordering::Relaxed);
        let client = self.lookup().await?;
        let address = client.get_connection_info().addr().to_string();
        tracing::info!(
            service = %self.service,
            primary = %address,
            "redis: the sentinels name the primary"
        );
        *self.lock() = Some(address);
        Ok(client)
    }

    /// A client for the primary the Sentinels name now (checked to answer as a primary).
    /// Off every call's path, so it may take longer than one command: a Sentinel that is
    /// down is waited for before the next is asked.
    pub(super) async fn lookup(&self) -> Result<Client, RedisError> {
        let lookup = async {
            let mut sentinel = self.sentinel.lock().await;
            sentinel
                .async_master_for(&self.service, Some(&self.node))
                .await
        };
        let bound = (self.timeout * 4).max(Duration::from_secs(2));
        tokio::time::timeout(bound, lookup).await.map_err(|_| {
            RedisError::from((
                ErrorKind::Io,
                "the sentinels did not name a primary in time",
            ))
        })?
    }

    /// Whether the Sentinels name another primary than the connection's.
    pub(super) fn moved(&self) -> bool {
        self.moved.load(Ordering::Relaxed)
    }

    /// Whether the Sentinels, at the watcher's last answer, named another primary than
    /// `address` (for the revocation subscriber, which holds a connection of its own).
    pub(super) fn names_other_than(&self, address: &str) -> bool {
        lock(&self.named).as_deref().is_some_and(|n| n != address)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        lock(&self.resolved)
    }
}

fn lock(address: &Mutex<Option<String>>) -> std::sync::MutexGuard<'_, Option<String>> {
    // One plain field, consistent after every assignment.
    address.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Asks the Sentinels which primary they name, every [`WATCH_EVERY`].
struct Watcher {
    primary: Weak<Primary>,
    /// Each Sentinel with its connection once one is made.
    sentinels: Vec<(ConnectionInfo, Option<MultiplexedConnection>)>,
    service: String,
    timeout: Duration,
}

impl Watcher {
    async fn run(mut self) {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let Some(named) = self.named().await else {
                if self.primary.strong_count() == 0 {
                    return;
                }
                continue;
            };
            let Some(primary) = self.primary.upgrade() else {
                return;
            };
            *lock(&primary.named) = Some(named.clone());
            let resolved = primary.lock().clone();
            if resolved.is_some_and(|r| r != named) && !primary.moved.swap(true, Ordering::Relaxed)
            {
                tracing::warn!(
                    service = %self.service,
                    primary = %named,
                    "redis: the sentinels name another primary; reconnecting"
                );
            }
        }
    }

    /// The address the first Sentinel that answers names, as `host:port`.
    async fn named(&mut self) -> Option<String> {
        for (info, conn) in &mut self.sentinels {
            let answer = async {
                if conn.is_none() {
                    let client = Client::open(info.clone())?;
                    *conn = Some(client.get_multiplexed_async_connection().await?);
                }
                let Some(c) = conn.as_mut() else {
                    return Ok(None);
                };
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&self.service)
                    .query_async::<Option<(String, u16)>>(c)
                    .await
            };
            match tokio::time::timeout(self.timeout, answer).await {
                Ok(Ok(Some((host, port)))) => return Some(format!("{host}:{port}")),
                Ok(Ok(None)) => {}
                Ok(Err(_)) | Err(_) => *conn = None,
            }
        }
        None
    }
}
