//! Hooks for `benches/scripts.rs`, not a stable API: the exact EVALSHA calls the store makes
//! and its own connection, so that the bench can set the adapter against the bare script on
//! the same connection.

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use twostep_core::challenge::Challenge;
use twostep_core::ids::ChallengeId;
use twostep_core::otp::CodeMac;
use twostep_core::ports::StoreError;

use super::RedisStore;
use super::link::Conn;
use super::scripts::{self, Call};

/// An EVALSHA command, ready to send; the script must already be loaded (call the store
/// once first).
pub struct RawCall(Call);

impl RawCall {
    pub fn cmd(&self) -> redis::Cmd {
        self.0.cmd().clone()
    }
}

pub fn create_challenge(store: &RedisStore, c: &Challenge) -> RawCall {
    RawCall(scripts::create_challenge(&store.inner.keys, c))
}

pub fn verify_challenge(
    store: &RedisStore,
    id: ChallengeId,
    candidate: &CodeMac,
    now: DateTime<Utc>,
) -> RawCall {
    RawCall(scripts::verify_challenge(
        &store.inner.keys,
        id,
        candidate,
        now,
    ))
}

/// The store's own `ConnectionManager` (standalone Redis only).
pub async fn connection(store: &RedisStore) -> Result<ConnectionManager, StoreError> {
    match store.inner.link.get().await {
        Ok(Conn::Standalone(conn)) => Ok(conn),
        Ok(Conn::Cluster(_)) => Err(StoreError::Internal(
            "the bench needs a standalone redis".into(),
        )),
        Err(e) => Err(StoreError::Unavailable(Box::new(e))),
    }
}
