//! An in-process cache of validated sessions, so that `ValidateSession` (what other services
//! call on every request) costs no SQL round trip on a warm token, while revocation stays
//! immediate on every instance (R34).
//!
//! How revocation stays immediate:
//! - Only live sessions are cached, keyed by access-token hash. A session row changes after
//!   creation only by being revoked, so a revocation is the only thing that can make an entry
//!   wrong; expiry is read from the cached value itself.
//! - Every revocation goes through [`CachedSessions`] (the `SessionRepo` the flows use), which
//!   drops the matching entries here and then publishes the revocation ([`SessionEvents`]);
//!   every instance's subscription drops them there.
//! - A fill that raced with a revocation is refused: a lookup that misses hands out a
//!   [`FillTicket`] with the current generation, every revocation (and every loss or gain of
//!   the subscription) bumps the generation, and a fill with an old ticket is dropped. So a
//!   session read from SQL before a revocation committed can never be cached after the
//!   revocation's event was handled.
//! - While the subscription is down (and before it first comes up) the cache is empty and
//!   bypassed: a missed event never leaves a revoked session valid.
//! - Entries also age out after [`SessionCacheConfig::max_age`], a bound on staleness should
//!   a publish itself fail.
//!
//! [`SessionEvents`]: crate::ports::SessionEvents

mod repo;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::ports::{Revocation, RevocationListener};
use crate::session::Session;
use crate::token::TokenHash;

pub use repo::CachedSessions;

/// Size and freshness of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCacheConfig {
    /// Most sessions held; 0 turns the cache off (every validation reads SQL).
    pub capacity: usize,
    /// Longest an entry is trusted without reading SQL again.
    pub max_age: Duration,
}

impl SessionCacheConfig {
    pub const DEFAULT_CAPACITY: usize = 10_000;
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10);
    pub const OFF: Self = Self {
        capacity: 0,
        max_age: Duration::ZERO,
    };
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            capacity: Self::DEFAULT_CAPACITY,
            max_age: Self::DEFAULT_MAX_AGE,
        }
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Hit(Arc<Session>),
    /// Not cached: read SQL, then offer the result to [`SessionCache::fill`] with this ticket.
    Miss(FillTicket),
    /// The cache cannot be trusted now (no subscription): read SQL and do not fill.
    Bypass,
}

/// Proof of when a lookup missed; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct FillTicket {
    generation: u64,
}

/// The cache itself: a bounded map with indexes by session, family and user so that each kind
/// of revocation drops exactly its entries. Implements [`RevocationListener`].
pub struct SessionCache {
    config: SessionCacheConfig,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    subscribed: bool,
    generation: u64,
    entries: HashMap<TokenHash, Entry>,
    by_session: HashMap<SessionId, TokenHash>,
    by_family: HashMap<FamilyId, Vec<TokenHash>>,
    by_user: HashMap<(TenantId, UserId), Vec<TokenHash>>,
}

struct Entry {
    session: Arc<Session>,
    /// The earliest of: cached + max age, the access token's expiry, the absolute expiry.
    fresh_until: DateTime<Utc>,
}

// === impl SessionCache ===

impl SessionCache {
    /// An empty cache that is bypassed until its subscription reports
    /// [`resumed`](RevocationListener::resumed).
    pub fn new(config: SessionCacheConfig) -> Self {
        Self {
            config,
            state: RwLock::new(State::default()),
        }
    }

    pub fn config(&self) -> SessionCacheConfig {
        self.config
    }

    pub fn lookup(&self, hash: &TokenHash, now: DateTime<Utc>) -> Lookup {
        let state = self.read();
        if !state.subscribed || self.config.capacity == 0 {
            return Lookup::Bypass;
        }
        match state.entries.get(hash) {
            Some(e) if now < e.fresh_until => Lookup::Hit(Arc::clone(&e.session)),
            // A stale entry is replaced by the fill that follows, or evicted.
            _ => Lookup::Miss(FillTicket {
                generation: state.generation,
            }),
        }
    }

    /// Caches `session` (read from SQL after the lookup that gave `ticket`) unless something
    /// was revoked since then, the subscription is down, or the session is not live.
    pub fn fill(&self, ticket: FillTicket, session: &Session, now: DateTime<Utc>) {
        if self.config.capacity == 0 || !session.access_valid_at(now) {
            return;
        }
        let fresh_until = chrono::Duration::from_std(self.config.max_age)
            .ok()
            .and_then(|age| now.checked_add_signed(age))
            .unwrap_or(now)
            .min(session.access_expires_at)
            .min(session.absolute_expires_at);
        let mut state = self.write();
        if !state.subscribed || state.generation != ticket.generation {
            return;
        }
        if state.entries.len() >= self.config.capacity {
            state.evict(now, self.config.capacity);
        }
        state.remove(&session.access_hash);
        state.insert(Entry {
            session: Arc::new(session.clone()),
            fresh_until,
        });
    }

    /// How many sessions are cached.
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Every write leaves the maps consistent before it can panic (none does), so a
        // poisoned lock still holds a usable state.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl RevocationListener for SessionCache {
    fn revoked(&self, revocation: &Revocation) {
        let mut state = self.write();
        state.generation = state.generation.wrapping_add(1);
        let hashes: Vec<TokenHash> = match revocation {
            Revocation::Session(id) => state.by_session.get(id).copied().into_iter().collect(),
            Revocation::Family(id) => state.by_family.get(id).cloned().unwrap_or_default(),
            Revocation::User { tenant, user } => state
                .by_user
                .get(&(*tenant, *user))
                .cloned()
                .unwrap_or_default(),
        };
        for hash in &hashes {
            state.remove(hash);
        }
    }

    fn lost(&self) {
        let mut state = self.write();
        state.subscribed = false;
        state.clear();
    }

    fn resumed(&self) {
        let mut state = self.write();
        state.subscribed = true;
        state.clear();
    }
}

// === impl State ===

impl State {
    fn insert(&mut self, entry: Entry) {
        let s = &entry.session;
        let hash = s.access_hash;
        self.by_session.insert(s.id, hash);
        self.by_family.entry(s.family).or_default().push(hash);
        self.by_user
            .entry((s.tenant, s.user))
            .or_default()
            .push(hash);
        self.entries.insert(hash, entry);
    }

    fn remove(&mut self, hash: &TokenHash) {
        let Some(entry) = self.entries.remove(hash) else {
            return;
        };
        let s = &entry.session;
        if self.by_session.get(&s.id) == Some(hash) {
            self.by_session.remove(&s.id);
        }
        remove_from(&mut self.by_family, &s.family, hash);
        remove_from(&mut self.by_user, &(s.tenant, s.user), hash);
    }

    /// Drops stale entries, then, if still full, an eighth of the rest (arbitrary ones: the
    /// map's order), so that eviction's cost is spread over many fills.
    fn evict(&mut self, now: DateTime<Utc>, capacity: usize) {
        let stale: Vec<TokenHash> = self
            .entries
            .iter()
            .filter(|(_, e)| now >= e.fresh_until)
            .map(|(h, _)| *h)
            .collect();
        for hash in &stale {
            self.remove(hash);
        }
        if self.entries.len() >= capacity {
            let victims: Vec<TokenHash> = self
                .entries
                .keys()
                .take((capacity / 8).max(1))
                .copied()
                .collect();
            for hash in &victims {
                self.remove(hash);
            }
        }
    }

    /// Forgets every entry and refuses fills that began before.
    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.entries.clear();
        self.by_session.clear();
        self.by_family.clear();
        self.by_user.clear();
    }
}

fn remove_from<K: std::hash::Hash + Eq>(
    index: &mut HashMap<K, Vec<TokenHash>>,
    key: &K,
    hash: &TokenHash,
) {
    if let Some(list) = index.get_mut(key) {
        list.retain(|h| h != hash);
        if list.is_empty() {
            index.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
