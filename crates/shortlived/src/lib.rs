//! Short-lived state of twostep: code challenges, attempt counters, rate limits, account
//! failure counters and single-use tickets, behind the `ShortLivedStore` port of
//! `twostep-core` (whose docs state the contract).
//!
//! Two adapters pass one contract suite (`tests/contract`):
//!
//! - [`MemoryStore`]: one process, one mutex; the embedded default and the unit tests' store.
//! - [`RedisStore`]: production. Every decision is one Lua script (EVALSHA, reloaded after
//!   NOSCRIPT, so a restarted Redis works), all keys of one decision share a hash tag so the
//!   scripts also run on Redis Cluster, and every key gets its TTL in the script that
//!   writes it.
//!
//! # Redis URLs
//!
//! | Form | Connection |
//! |---|---|
//! | `redis://[user:password@]host[:port][/db]` | one server, plain TCP |
//! | `rediss://[user:password@]host[:port][/db]` | one server, TLS (rustls, system roots) |
//! | `redis+cluster://[user:password@]host1:port1,host2:port2,...` | Redis Cluster, plain TCP |
//! | `rediss+cluster://[user:password@]host1:port1,host2:port2,...` | Redis Cluster, TLS |
//! | `redis+sentinel://[user:password@]host1[:port1],host2[:port2],.../name[/db]` | the primary the Sentinels call `name`, plain TCP |
//! | `rediss+sentinel://[user:password@]host1[:port1],.../name[/db]` | the same, TLS to the Sentinels and the primary |
//!
//! The cluster forms list one or more seed nodes, comma-separated (the client discovers the
//! rest); credentials, when given, apply to every node, and they take no path or query.
//! The sentinel forms list one or more Sentinels (port 26379 unless given), then the name of
//! the primary as their `sentinel monitor` line says it; the credentials and database are the
//! primary's, and the Sentinels' own password, if they have one, is
//! `RedisConfig::sentinel_password`. The store connects to the primary the Sentinels name,
//! asks them again every second, and reconnects when they name another or when the primary
//! fails.
//! A standalone server is reached through one shared multiplexed connection (redis-rs
//! `ConnectionManager`), a cluster through one cluster connection: no pool.
//!
//! # Key layout (prefix `ts:` by default)
//!
//! | Key | Type | TTL |
//! |---|---|---|
//! | `ts:{c:<challenge id>}` | hash: the challenge, its code only as a MAC | `expires_at` + 60 s |
//! | `ts:{l:<scope>}:<limit key>` | sorted set: one hit time per member | window + 60 s |
//! | `ts:{f:<account>}` | integer: consecutive failures | the window, from the first failure |
//! | `ts:{t:<token hash, hex>}` | hash: ticket payload and expiry | until `expires_at` |
//!
//! Every limit of one `check_limits` call shares the tag `{l:<scope>}`, so the call is one
//! script on one cluster slot. (`{`, `}` and `%` in a scope or account are percent-escaped so
//! that the tag always spans the whole of it.)
//!
//! # Time
//!
//! Decisions use the caller's `now`, never Redis `TIME`, so a manual clock drives expiry and
//! cooldowns in tests; TTLs are the backstop that removes what nobody comes back for. Times
//! are stored in whole milliseconds (both adapters), so they round-trip truncated to the
//! millisecond. The failure counter's methods take no `now`: on Redis its window is a real
//! TTL, in memory it is measured on the clock the store was built with.
//!
//! # Comparing codes
//!
//! The memory store compares MACs with `CodeMac::ct_eq` (constant time, `subtle`). The Redis
//! verify script compares them with Lua's `==`: Lua interns strings, so the bytes are compared
//! at most once, when the candidate is interned, and both sides are HMAC-SHA-256 outputs under
//! a server key; a caller picks codes, not MACs, so timing cannot walk a guess towards the
//! stored MAC (R3). The script's header says the same.
//!
//! # Failure
//!
//! The Redis store fails closed: while Redis cannot be reached, every call returns
//! `StoreError::Unavailable` within the command timeout (default 500 ms); nothing is decided
//! without Redis. It can be built while Redis is down and recovers by itself when Redis
//! returns, without a restart. A call that times out may still have been applied by Redis
//! (an attempt counted, a challenge consumed): callers treat Unavailable as a failure and
//! never retry a verify as if it had not happened.

mod memory;
mod millis;
mod redis_store;

use std::time::Duration;

pub use memory::{MemorySessionEvents, MemoryStore, SWEEP_EVERY};
pub use redis_store::{
    REVOCATIONS_PING_EVERY, RedisConfig, RedisConfigError, RedisSessionEvents, RedisStore, RedisUrl,
};

#[doc(hidden)]
pub use redis_store::bench;

/// How long a challenge key (and a limit's sorted set) outlives its expiry or window. It
/// absorbs clock skew between the callers and Redis; the scripts decide on the stored
/// expiry, so the margin never extends a code's lifetime.
pub const TTL_MARGIN: Duration = Duration::from_secs(60);
