//! The Redis short-lived store: every decision one Lua script on one hash-tagged slot, one
//! shared connection, a timeout on every call, failing closed while Redis is out of reach
//! and recovering by itself. The crate docs describe the URL forms and the key layout.

pub mod bench;
mod codec;
mod config;
mod error;
mod keys;
mod link;
mod phones;
mod revocations;
mod scripts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{FromRedisValue, RedisResult, Value};
use twostep_core::challenge::Challenge;
use twostep_core::ids::ChallengeId;
use twostep_core::otp::CodeMac;
use twostep_core::ports::{
    Limit, RateDecision, ResendOutcome, ShortLivedStore, StoreError, VerifyOutcome,
};
use twostep_core::token::TokenHash;
use uuid::Uuid;

pub use config::{RedisConfig, RedisConfigError, RedisUrl};
use error::Failure;
use keys::Keys;
use link::{Conn, Link};
use phones::PhoneCache;
pub use revocations::{PING_EVERY as REVOCATIONS_PING_EVERY, RedisSessionEvents};
use scripts::{Call, Replay};

use crate::millis;

/// Short-lived state in Redis (standalone, cluster, or a primary behind Sentinels). Cheap to
/// clone; clones share the one connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    keys: Keys,
    phones: PhoneCache,
    timeout: Duration,
    cluster: bool,
}

// === impl RedisStore ===

impl RedisStore {
    /// Validates `config` and prepares the connection without waiting for Redis, so this
    /// succeeds while Redis is down (calls then fail as unavailable until it is up). A bad
    /// configuration is `StoreError::Internal` whose source names the problem
    /// ([`RedisConfigError`]).
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let url = config
            .validate()
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        let link = Link::new(&url, config.command_timeout)
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                link,
                keys: Keys::new(&config.key_prefix),
                phones: PhoneCache::default(),
                timeout: config.command_timeout,
                cluster: url.is_cluster(),
            }),
        })
    }

    /// The prefix of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    pub fn is_cluster(&self) -> bool {
        self.inner.cluster
    }

    /// Session revocations over this Redis's pub/sub (see [`RedisSessionEvents`]).
    pub fn session_events(&self) -> RedisSessionEvents {
        RedisSessionEvents::new(self.clone())
    }

    /// Runs `f` on the connection within the command timeout, connecting included, and
    /// tells the link whether Redis was reached.
    ///
    /// On a cluster, the store resends by itself (redis-rs is built with no retries of its
    /// own, as it cannot tell a counting script from a read): a command Redis certainly did
    /// not run (a redirect while the slot map is refreshed, a failover under way) is sent
    /// again, and one whose reply was lost only when `replay` is safe. A standalone server
    /// has no redirects, and a call to one that is down fails at once.
    async fn run<T, F, Fut>(&self, replay: Replay, f: F) -> Result<T, Failure>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            let mut resends = 0;
            loop {
                let conn = self.inner.link.get().await.map_err(Failure::Connect)?;
                match f(conn).await {
                    Err(e)
                        if self.inner.cluster
                            && resends < CLUSTER_RESENDS
                            && (error::not_run(&e)
                                || (replay == Replay::Safe && error::is_unavailable(&e))) =>
                    {
                        resends += 1;
                        tokio::time::sleep(resend_wait(resends)).await;
                    }
                    res => return res.map_err(Failure::Command),
                }
            }
        };
        let res = match tokio::time::timeout(self.inner.timeout, attempt).await {
            Ok(res) => res,
            Err(_) => Err(Failure::TimedOut(self.inner.timeout)),
        };
        match &res {
            Ok(_) => self.inner.link.report(true),
            Err(failure) => self.inner.link.report(!failure.is_unavailable()),
        }
        res
    }

    async fn eval<T: FromRedisValue>(&self, call: Call) -> Result<T, Failure> {
        let call = &call;
        self.run(call.replay(), move |mut conn| async move {
            call.invoke(&mut conn).await
        })
        .await
    }

    async fn query<T: FromRedisValue>(
        &self,
        replay: Replay,
        cmd: redis::Cmd,
    ) -> Result<T, Failure> {
        let cmd = &cmd;
        self.run(replay, move |mut conn| async move {
            cmd.query_async(&mut conn).await
        })
        .await
    }
}

/// How many times a cluster call is sent again (see [`RedisStore::run`]); the command timeout
/// bounds them all.
const CLUSTER_RESENDS: u32 = 3;

/// The wait before the `n`th resend: long enough for redis-rs to refresh its slot map after a
/// redirect, doubling from 10 ms.
fn resend_wait(n: u32) -> Duration {
    Duration::from_millis(10 << n.min(4))
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.key_prefix())
            .field("cluster", &self.inner.cluster)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ShortLivedStore for RedisStore {
    async fn create_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        if let Some(phone) = &challenge.phone {
            self.inner.phones.remember(phone);
        }
        let call = scripts::create_challenge(&self.inner.keys, challenge);
        self.eval::<Value>(call)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(())
    }

    async fn resend_challenge(
        &self,
        id: ChallengeId,
        new_mac: CodeMac,
        now: DateTime<Utc>,
        new_expires_at: DateTime<Utc>,
        next_wait: Option<Duration>,
    ) -> Result<ResendOutcome, StoreError> {
        let call = scripts::resend_challenge(
            &self.inner.keys,
            id,
            &new_mac,
            now,
            new_expires_at,
            next_wait,
        );
        let decode = |reply: Value| -> Result<ResendOutcome, Failure> {
            let (status, rest) = codec::status(&reply)?;
            Ok(match (status, rest) {
                (0, _) => ResendOutcome::NotFound,
                (1, fields) => ResendOutcome::Resent(codec::challenge_from_fields(
                    id,
                    fields,
                    &self.inner.phones,
                )?),
                (2, [retry_after]) => ResendOutcome::Cooldown {
                    retry_after: millis::to_duration(codec::int(retry_after)?),
                },
                (3, _) => ResendOutcome::SendCapReached,
                _ => return Err(Failure::Decode("resend status")),
            })
        };
        self.eval(call)
            .await
            .and_then(decode)
            .map_err(Failure::into_store_error)
    }

    async fn verify_challenge(
        &self,
        id: ChallengeId,
        candidate: CodeMac,
        now: DateTime<Utc>,
    ) -> Result<VerifyOutcome, StoreError> {
        let call = scripts::verify_challenge(&self.inner.keys, id, &candidate, now);
        let decode = |reply: Value| -> Result<VerifyOutcome, Failure> {
            let (status, rest) = codec::status(&reply)?;
            Ok(match (status, rest) {
                (0, _) => VerifyOutcome::NotFound,
                (1, fields) => VerifyOutcome::Verified(codec::challenge_from_fields(
                    id,
                    fields,
                    &self.inner.phones,
                )?),
                (2, [left, user]) => VerifyOutcome::Rejected {
                    attempts_left: codec::count(left)?,
                    user: codec::user(user)?,
                },
                _ => return Err(Failure::Decode("verify status")),
            })
        };
        self.eval(call)
            .await
            .and_then(decode)
            .map_err(Failure::into_store_error)
    }

    async fn get_challenge(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError> {
        let call = scripts::get_challenge(&self.inner.keys, id, now);
        let decode = |reply: Value| -> Result<Option<Challenge>, Failure> {
            match codec::status(&reply)? {
                (0, _) => Ok(None),
                (1, fields) => {
                    codec::challenge_from_fields(id, fields, &self.inner.phones).map(Some)
                }
                _ => Err(Failure::Decode("get status")),
            }
        };
        self.eval(call)
            .await
            .and_then(decode)
            .map_err(Failure::into_store_error)
    }

    async fn delete_challenge(&self, id: ChallengeId) -> Result<bool, StoreError> {
        // One key: a plain DEL is atomic; no script needed.
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.inner.keys.challenge(id));
        // A resend after a lost reply would answer 0 for a key this call deleted.
        let deleted: i64 = self
            .query(Replay::Unsafe, cmd)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(deleted > 0)
    }

    async fn check_limits(
        &self,
        scope: &str,
        limits: &[Limit],
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        if limits.is_empty() {
            return Ok(RateDecision::Allowed);
        }
        let member = Uuid::new_v4().simple().to_string();
        let call = scripts::check_limits(&self.inner.keys, scope, limits, now, &member);
        let decode = |reply: Value| -> Result<RateDecision, Failure> {
            match codec::status(&reply)? {
                (1, _) => Ok(RateDecision::Allowed),
                (0, [index, retry_after]) => {
                    let limit_index = usize::try_from(codec::int(index)? - 1)
                        .ok()
                        .filter(|i| *i < limits.len())
                        .ok_or(Failure::Decode("limit index"))?;
                    let retry_after = millis::to_duration(codec::int(retry_after)?);
                    Ok(RateDecision::Denied {
                        limit_index,
                        retry_after,
                    })
                }
                _ => Err(Failure::Decode("limits status")),
            }
        };
        self.eval(call)
            .await
            .and_then(decode)
            .map_err(Failure::into_store_error)
    }

    async fn record_failure(&self, account: &str, window: Duration) -> Result<u32, StoreError> {
        let call = scripts::record_failure(&self.inner.keys, account, window);
        self.eval::<Value>(call)
            .await
            .and_then(|n| codec::count(&n))
            .map_err(Failure::into_store_error)
    }

    async fn failure_count(&self, account: &str) -> Result<u32, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.inner.keys.failures(account));
        let n: Option<i64> = self
            .query(Replay::Safe, cmd)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(n.map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)))
    }

    async fn clear_failures(&self, account: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.inner.keys.failures(account));
        self.query::<Value>(Replay::Safe, cmd)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(())
    }

    async fn put_ticket(
        &self,
        hash: TokenHash,
        payload: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let call = scripts::put_ticket(&self.inner.keys, &hash, payload, expires_at, now);
        self.eval::<Value>(call)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(())
    }

    async fn take_ticket(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let call = scripts::take_ticket(&self.inner.keys, &hash, now);
        self.eval(call).await.map_err(Failure::into_store_error)
    }

    async fn peek_ticket(
        &self,
        hash: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        // One key, read only: a plain HMGET is atomic; the expiry is checked on the
        // caller's clock, as take_ticket's script does.
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.inner.keys.ticket(&hash))
            .arg("payload")
            .arg("expires");
        let (payload, expires): (Option<String>, Option<i64>) = self
            .query(Replay::Safe, cmd)
            .await
            .map_err(Failure::into_store_error)?;
        Ok(payload.filter(|_| expires.is_some_and(|e| e > millis::from_time(now))))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<Value>(Replay::Safe, redis::cmd("PING"))
            .await
            .map_err(Failure::into_store_error)?;
        Ok(())
    }
}
