//! The three backends, and a look into Redis for the checks only Redis has (TTLs).

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use twostep_core::clock::{Clock, ManualClock};
use twostep_core::ids::ChallengeId;
use twostep_core::ports::ShortLivedStore;
use twostep_shortlived::{MemoryStore, RedisConfig, RedisStore};
use uuid::Uuid;

pub struct Backend {
    pub store: Arc<dyn ShortLivedStore>,
    pub clock: Arc<ManualClock>,
    redis: Option<Inspector>,
}

/// Direct connections to the Redis under test: one that routes keys (for PTTL) and one per
/// primary (for SCAN).
struct Inspector {
    prefix: String,
    keyed: Keyed,
    primaries: Vec<MultiplexedConnection>,
}

enum Keyed {
    Standalone(MultiplexedConnection),
    Cluster(ClusterConnection),
}

pub async fn memory() -> Backend {
    let clock = Arc::new(ManualClock::starting_now());
    let store = Arc::new(MemoryStore::new(clock.clone()));
    Backend {
        store,
        clock,
        redis: None,
    }
}

pub async fn redis() -> Backend {
    redis_backend("TWOSTEP_TEST_REDIS_URL").await
}

pub async fn cluster() -> Backend {
    redis_backend("TWOSTEP_TEST_REDIS_CLUSTER_URL").await
}

/// The value of a test-service variable, or a failure saying how to get it.
pub fn service_env(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: run the Redis tests through scripts/test, e.g. \
             `scripts/test --services-only -- cargo test -p twostep-shortlived`"
        ),
    }
}

async fn redis_backend(var: &str) -> Backend {
    redis_at(&service_env(var)).await
}

/// A backend on the Redis at `url` (`redis://` or `redis+cluster://`), with a fresh prefix.
pub async fn redis_at(url: &str) -> Backend {
    let url = url.to_owned();
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    let config = RedisConfig {
        url: url.clone(),
        sentinel_password: None,
        key_prefix: prefix.clone(),
        // Generous: the cases run in parallel in a debug build.
        command_timeout: Duration::from_secs(3),
    };
    let store = Arc::new(RedisStore::connect(config).await.unwrap());
    let inspector = Inspector::connect(&url, prefix).await;
    Backend {
        store,
        clock: Arc::new(ManualClock::starting_now()),
        redis: Some(inspector),
    }
}

// === impl Backend ===

impl Backend {
    /// Whether this backend is a Redis (standalone or cluster).
    pub fn is_redis(&self) -> bool {
        self.redis.is_some()
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// The remaining TTL of a challenge's key in ms (`None` on the memory backend).
    pub async fn challenge_ttl_ms(&self, id: ChallengeId) -> Option<i64> {
        let inspector = self.redis.as_ref()?;
        let key = format!("{}{{c:{id}}}", inspector.prefix);
        Some(inspector.pttl(&key).await)
    }

    /// R37: no key under this backend's prefix lives without a TTL, on any primary. Returns
    /// how many keys it checked (0 on the memory backend).
    pub async fn assert_all_keys_have_ttl(&self) -> usize {
        let Some(inspector) = &self.redis else {
            return 0;
        };
        let mut checked = 0;
        let pattern = format!("{}*", inspector.prefix);
        for conn in &inspector.primaries {
            let mut conn = conn.clone();
            let keys: Vec<String> = {
                let mut iter = conn.scan_match::<_, String>(&pattern).await.unwrap();
                let mut keys = Vec::new();
                while let Some(key) = futures::StreamExt::next(&mut iter).await {
                    keys.push(key.unwrap());
                }
                keys
            };
            for key in keys {
                let ttl: i64 = conn.pttl(&key).await.unwrap();
                assert_ne!(ttl, -1, "key {key} has no TTL");
                checked += 1;
            }
        }
        checked
    }

    /// Kills every normal client of the Redis under test but this backend's own inspecting
    /// connections (`CLIENT KILL TYPE normal SKIPME yes` on every primary), as a crash or a
    /// network cut would: the store's connections drop with whatever they had in flight.
    /// Returns how many were killed (0 on the memory backend). Only for a private Redis: on
    /// a shared one it would kill every other test's connections too.
    pub async fn kill_other_clients(&self) -> usize {
        let Some(inspector) = &self.redis else {
            return 0;
        };
        let mut killed = 0;
        for conn in &inspector.primaries {
            let n: usize = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("normal")
                .arg("SKIPME")
                .arg("yes")
                .query_async(&mut conn.clone())
                .await
                .unwrap();
            killed += n;
        }
        killed
    }
}

// === impl Inspector ===

impl Inspector {
    async fn connect(url: &str, prefix: String) -> Self {
        match url.strip_prefix("redis+cluster://") {
            Some(nodes) => {
                let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{n}")).collect();
                let keyed = ClusterClient::new(nodes.clone())
                    .unwrap()
                    .get_async_connection()
                    .await
                    .unwrap();
                let mut seed = plain(&nodes[0]).await;
                let listing: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut seed)
                    .await
                    .unwrap();
                let mut primaries = Vec::new();
                for line in listing.lines() {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    if fields.len() > 2
                        && fields[2].contains("master")
                        && !fields[2].contains("fail")
                    {
                        let addr = fields[1].split('@').next().unwrap();
                        primaries.push(plain(&format!("redis://{addr}")).await);
                    }
                }
                assert!(!primaries.is_empty(), "no primaries in CLUSTER NODES");
                Self {
                    prefix,
                    keyed: Keyed::Cluster(keyed),
                    primaries,
                }
            }
            None => {
                let conn = plain(url).await;
                Self {
                    prefix,
                    keyed: Keyed::Standalone(conn.clone()),
                    primaries: vec![conn],
                }
            }
        }
    }

    async fn pttl(&self, key: &str) -> i64 {
        match &self.keyed {
            Keyed::Standalone(c) => c.clone().pttl(key).await.unwrap(),
            Keyed::Cluster(c) => c.clone().pttl(key).await.unwrap(),
        }
    }
}

async fn plain(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}
