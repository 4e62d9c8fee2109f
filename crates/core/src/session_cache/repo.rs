//! [`CachedSessions`]: the `SessionRepo` the flows use. Lookups by access token go through the
//! cache; every write that revokes drops the cache's entries and publishes the revocation, so
//! no flow (today's or a later one) can revoke a session without every instance hearing of it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Lookup, SessionCache, SessionCacheConfig};
use crate::clock::Clock;
use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::ports::{RepoError, Revocation, RevocationListener, SessionEvents, SessionRepo};
use crate::session::Session;
use crate::token::TokenHash;

/// A [`SessionRepo`] with a cache of live sessions in front of another one.
pub struct CachedSessions {
    inner: Arc<dyn SessionRepo>,
    cache: Arc<SessionCache>,
    events: Arc<dyn SessionEvents>,
    clock: Arc<dyn Clock>,
}

impl CachedSessions {
    /// Wraps `inner` and subscribes the cache to `events` (the cache is bypassed until the
    /// subscription is up).
    pub fn new(
        inner: Arc<dyn SessionRepo>,
        events: Arc<dyn SessionEvents>,
        clock: Arc<dyn Clock>,
        config: SessionCacheConfig,
    ) -> Self {
        let cache = Arc::new(SessionCache::new(config));
        events.subscribe(Arc::clone(&cache) as Arc<dyn RevocationListener>);
        Self {
            inner,
            cache,
            events,
            clock,
        }
    }

    pub fn cache(&self) -> &SessionCache {
        &self.cache
    }

    /// After the revoke committed: forget here at once, then tell every instance. A failed
    /// publish cannot undo the revoke (it is durable); other instances then trust their entry
    /// for at most the cache's `max_age`, and their own subscription has most likely failed
    /// too, which empties their cache.
    async fn announce(&self, revocation: Revocation) {
        self.cache.revoked(&revocation);
        if let Err(e) = self.events.publish(&revocation).await {
            tracing::error!(
                error = %e,
                revocation = %revocation,
                "could not publish a session revocation; other instances may accept the \
                 revoked sessions until their cache entries age out"
            );
        }
    }
}

#[async_trait]
impl SessionRepo for CachedSessions {
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        self.inner.create(session).await
    }

    async fn find_by_access(&self, hash: TokenHash) -> Result<Option<Session>, RepoError> {
        let now = self.clock.now();
        match self.cache.lookup(&hash, now) {
            Lookup::Hit(session) => Ok(Some(Session::clone(&session))),
            Lookup::Bypass => self.inner.find_by_access(hash).await,
            Lookup::Miss(ticket) => {
                let found = self.inner.find_by_access(hash).await?;
                if let Some(session) = &found {
                    self.cache.fill(ticket, session, now);
                }
                Ok(found)
            }
        }
    }

    async fn find_by_refresh(&self, hash: TokenHash) -> Result<Option<Session>, RepoError> {
        self.inner.find_by_refresh(hash).await
    }

    async fn rotate(
        &self,
        old: SessionId,
        new: &Session,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let rotated = self.inner.rotate(old, new, now).await;
        // On an error the commit may still have happened: announcing costs nothing.
        if !matches!(rotated, Ok(false)) {
            self.announce(Revocation::Session(old)).await;
        }
        rotated
    }

    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        let revoked = self.inner.revoke(id, now).await;
        // Announced whatever the answer: an error may follow a commit, and an event for a
        // session revoked already is cheap and heals a lost one.
        self.announce(Revocation::Session(id)).await;
        revoked
    }

    async fn revoke_family(&self, family: FamilyId, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let n = self.inner.revoke_family(family, now).await;
        self.announce(Revocation::Family(family)).await;
        n
    }

    async fn revoke_all_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        let n = self.inner.revoke_all_for_user(tenant, user, now).await;
        self.announce(Revocation::User { tenant, user }).await;
        n
    }

    async fn list_live_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepoError> {
        self.inner.list_live_for_user(tenant, user, now).await
    }

    /// Passed through: a cached entry never outlives its session's absolute expiry, so no
    /// pruned session is in the cache.
    async fn prune_ended(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        self.inner.prune_ended(before, limit).await
    }
}
