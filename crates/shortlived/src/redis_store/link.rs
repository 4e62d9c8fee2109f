//! The one shared connection to Redis, and how it comes back by itself.
//!
//! A standalone server is reached through a redis-rs `ConnectionManager`: one multiplexed
//! connection that every call shares and that reconnects by itself (with backoff) after the
//! server drops it. It is created lazily, so the store can be built while Redis is down.
//!
//! A cluster is reached through one `ClusterConnection`, which keeps a connection per node and
//! follows slot moves and failovers by itself. Creating it needs a reachable cluster, so it is
//! created in a background task; until it exists every call fails as unavailable, and a failed
//! attempt is retried after [`RETRY_DELAY`], on demand.
//!
//! Behind Sentinels, the primary's address is asked of the Sentinels and then reached like a
//! standalone server (`link/sentinel.rs`). The connection is rebuilt, which asks them again,
//! as soon as they name another primary, and after [`SENTINEL_RESET_AFTER`] of failures
//! (the old address refusing connections, or answering READONLY once demoted).
//!
//! As a last resort, a connection that has only failed (no success) for [`RESET_AFTER`] is
//! thrown away and built again from scratch, so that no state the client cannot get out of
//! (an initial connect that failed for a reason it does not retry, say) outlives a Redis
//! outage. Calls never wait for any of this longer than their own timeout.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};

use super::config::{RedisUrl, UrlKind};

mod sentinel;

use sentinel::Primary;

/// How long after a failed attempt to create a cluster connection the next one starts.
pub(super) const RETRY_DELAY: Duration = Duration::from_millis(500);
/// How long a connection may fail without one success before it is rebuilt.
pub(super) const RESET_AFTER: Duration = Duration::from_secs(5);
/// The same behind Sentinels, shorter: failing calls there most likely mean a failover, and
/// rebuilding is how the new primary is found.
pub(super) const SENTINEL_RESET_AFTER: Duration = Duration::from_secs(1);

/// A connection of either kind; cheap to clone (clones share the connection).
#[derive(Clone)]
pub(super) enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

type Connecting = Shared<BoxFuture<'static, Result<Conn, RedisError>>>;

pub(super) struct Link {
    target: Target,
    state: Mutex<State>,
}

enum Target {
    Standalone {
        client: redis::Client,
        config: ConnectionManagerConfig,
    },
    Cluster {
        client: ClusterClient,
        /// One client per seed node, for the revocation subscriber.
        seeds: Vec<Client>,
    },
    Sentinel {
        primary: Arc<Primary>,
        config: ConnectionManagerConfig,
    },
}

struct State {
    conn: Connecting,
    since: Instant,
    failing_since: Option<Instant>,
}

// === impl Link ===

impl Link {
    /// Prepares the connection without waiting for Redis: this succeeds while Redis is down.
    pub(super) fn new(url: &RedisUrl, timeout: Duration) -> Result<Self, RedisError> {
        let target = match &url.kind {
            UrlKind::Standalone(url) => Target::Standalone {
                client: Client::open(url.as_str())?,
                config: manager_config(timeout),
            },
            UrlKind::Cluster(nodes) => Target::Cluster {
                client: ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    // No resends of its own: it would resend a counting script whose
                    // reply was lost. The store resends what is safe (RedisStore::run).
                    .retries(0)
                    .build()?,
                seeds: nodes
                    .iter()
                    .map(|n| Client::open(n.as_str()))
                    .collect::<Result<_, _>>()?,
            },
            UrlKind::Sentinel(url) => Target::Sentinel {
                primary: Primary::new(url, timeout)?,
                config: manager_config(timeout),
            },
        };
        let conn = target.connect();
        let state = State {
            conn,
            since: Instant::now(),
            failing_since: None,
        };
        Ok(Self {
            target,
            state: Mutex::new(state),
        })
    }

    /// The current connection, waiting for it while it is being made. The caller bounds the
    /// wait with its own timeout.
    pub(super) async fn get(&self) -> Result<Conn, RedisError> {
        let connecting = self.current();
        connecting.await
    }

    /// A client for the revocation subscriber's own connection: the server, the seed node
    /// `attempt` names in turn, or the primary the Sentinels name now.
    pub(super) async fn subscriber_client(&self, attempt: usize) -> Result<Client, RedisError> {
        match &self.target {
            Target::Standalone { client, .. } => Ok(client.clone()),
            Target::Cluster { seeds, .. } => seeds
                .get(attempt % seeds.len().max(1))
                .cloned()
                .ok_or_else(|| RedisError::from((ErrorKind::Io, "no cluster seed node"))),
            Target::Sentinel { primary, .. } => primary.lookup().await,
        }
    }

    /// Whether the Sentinels name another primary than `address` now; never for the other
    /// kinds. The revocation subscriber, whose connection is its own, leaves a replaced
    /// primary by this: one cut off from the Sentinels would hear no more `PUBLISH`.
    pub(super) fn primary_moved_from(&self, address: &str) -> bool {
        match &self.target {
            Target::Sentinel { primary, .. } => primary.names_other_than(address),
            Target::Standalone { .. } | Target::Cluster { .. } => false,
        }
    }

    /// Tells the link how a call on its connection ended: `true` for an answer (even an
    /// error reply), `false` when Redis was out of reach.
    pub(super) fn report(&self, reached: bool) {
        let mut state = self.lock();
        if reached {
            state.failing_since = None;
        } else if state.failing_since.is_none() {
            state.failing_since = Some(Instant::now());
        }
    }

    fn current(&self) -> Connecting {
        let mut state = self.lock();
        let now = Instant::now();
        let moved = matches!(&self.target, Target::Sentinel { primary, .. } if primary.moved())
            && now.duration_since(state.since) >= RETRY_DELAY;
        let rebuild = moved
            || match state.conn.peek() {
                Some(Err(_)) => now.duration_since(state.since) >= RETRY_DELAY,
                Some(Ok(_)) | None => {
                    let reset_after = self.target.reset_after();
                    state
                        .failing_since
                        .is_some_and(|t| now.duration_since(t) >= reset_after)
                        && now.duration_since(state.since) >= reset_after
                }
            };
        if rebuild {
            tracing::warn!("redis: rebuilding the connection after failures");
            state.conn = self.target.connect();
            state.since = now;
            state.failing_since = None;
        }
        state.conn.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is three plain fields, consistent after every assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl Target ===

impl Target {
    fn reset_after(&self) -> Duration {
        match self {
            Target::Sentinel { .. } => SENTINEL_RESET_AFTER,
            Target::Standalone { .. } | Target::Cluster { .. } => RESET_AFTER,
        }
    }

    fn connect(&self) -> Connecting {
        match self {
            Target::Standalone { client, config } => {
                let res = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    .map(Conn::Standalone);
                futures::future::ready(res).boxed().shared()
            }
            Target::Cluster { client, .. } => {
                let client = client.clone();
                // Spawned so that the attempt goes on while no call is waiting for it.
                let task = tokio::spawn(async move { client.get_async_connection().await });
                async move {
                    match task.await {
                        Ok(res) => res.map(Conn::Cluster),
                        Err(_) => Err(RedisError::from((
                            redis::ErrorKind::Io,
                            "the cluster connection task ended early",
                        ))),
                    }
                }
                .boxed()
                .shared()
            }
            Target::Sentinel { primary, config } => {
                let (primary, config) = (Arc::clone(primary), config.clone());
                // Spawned, as for a cluster: the lookup goes on while no call waits for it.
                let task = tokio::spawn(async move {
                    let client = primary.connect().await?;
                    ConnectionManager::new_lazy_with_config(client, config)
                });
                async move {
                    match task.await {
                        Ok(res) => res.map(Conn::Standalone),
                        Err(_) => Err(RedisError::from((
                            ErrorKind::Io,
                            "the sentinel lookup task ended early",
                        ))),
                    }
                }
                .boxed()
                .shared()
            }
        }
    }
}

/// The connection settings of a standalone server, or of the primary behind Sentinels.
fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(8)
}

// === impl Conn ===

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
