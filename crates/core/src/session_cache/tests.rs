#![allow(clippy::panic, reason = "tests")]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::TimeZone;

use super::*;
use crate::clock::ManualClock;
use crate::ports::{RepoError, SessionEvents, SessionRepo, StoreError};
use crate::session::AuthMethod;
use crate::token::{SecretToken, TokenKind};
use crate::user::Role;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn session(tenant: TenantId, user: UserId, family: FamilyId) -> Session {
    Session {
        id: SessionId::random(),
        family,
        tenant,
        user,
        role: Role::Customer,
        auth_method: AuthMethod::Password,
        access_hash: SecretToken::generate(TokenKind::Access).hash(),
        refresh_hash: SecretToken::generate(TokenKind::Refresh).hash(),
        created_at: t0(),
        family_created_at: t0(),
        access_expires_at: t0() + secs(900),
        refresh_expires_at: t0() + secs(3600),
        absolute_expires_at: t0() + secs(86_400),
        revoked_at: None,
        user_agent: String::new(),
        ip_address: String::new(),
        device_id: String::new(),
    }
}

fn any_session() -> Session {
    session(TenantId::random(), UserId::random(), FamilyId::random())
}

fn config(capacity: usize) -> SessionCacheConfig {
    SessionCacheConfig {
        capacity,
        max_age: Duration::from_secs(10),
    }
}

fn live_cache() -> SessionCache {
    let cache = SessionCache::new(config(100));
    cache.resumed();
    cache
}

/// Looks up and, on a miss, fills with `s` as SQL would have answered.
fn lookup_and_fill(cache: &SessionCache, s: &Session, now: DateTime<Utc>) -> bool {
    match cache.lookup(&s.access_hash, now) {
        Lookup::Hit(_) => true,
        Lookup::Miss(ticket) => {
            cache.fill(ticket, s, now);
            false
        }
        Lookup::Bypass => false,
    }
}

fn is_hit(cache: &SessionCache, s: &Session, now: DateTime<Utc>) -> bool {
    matches!(cache.lookup(&s.access_hash, now), Lookup::Hit(_))
}

#[test]
fn a_cache_without_a_subscription_is_bypassed_and_never_filled() {
    let cache = SessionCache::new(config(100));
    let s = any_session();
    assert!(matches!(cache.lookup(&s.access_hash, t0()), Lookup::Bypass));
    cache.fill(FillTicket { generation: 0 }, &s, t0());
    assert!(cache.is_empty());
}

#[test]
fn a_filled_session_is_a_hit_until_its_max_age() {
    let cache = live_cache();
    let s = any_session();
    assert!(!lookup_and_fill(&cache, &s, t0()));
    assert!(is_hit(&cache, &s, t0() + secs(9)));
    assert!(!is_hit(&cache, &s, t0() + secs(10)));
}

#[test]
fn an_entry_is_never_trusted_past_the_access_token_expiry() {
    let cache = SessionCache::new(SessionCacheConfig {
        capacity: 10,
        max_age: Duration::from_secs(3600),
    });
    cache.resumed();
    let s = any_session();
    lookup_and_fill(&cache, &s, t0());
    assert!(is_hit(&cache, &s, t0() + secs(899)));
    assert!(!is_hit(&cache, &s, t0() + secs(900)));
}

#[test]
fn revoked_or_expired_sessions_are_not_cached() {
    let cache = live_cache();
    let mut revoked = any_session();
    revoked.revoked_at = Some(t0());
    lookup_and_fill(&cache, &revoked, t0());
    let expired = any_session();
    lookup_and_fill(&cache, &expired, t0() + secs(900));
    assert!(cache.is_empty());
}

#[test]
fn each_kind_of_revocation_drops_exactly_its_sessions() {
    let cache = live_cache();
    let (tenant, user, family) = (TenantId::random(), UserId::random(), FamilyId::random());
    let a = session(tenant, user, family);
    let b = session(tenant, user, FamilyId::random());
    let c = session(tenant, UserId::random(), FamilyId::random());
    let d = session(tenant, user, FamilyId::random());
    for s in [&a, &b, &c, &d] {
        lookup_and_fill(&cache, s, t0());
    }
    assert_eq!(cache.len(), 4);

    cache.revoked(&Revocation::Session(d.id));
    assert!(!is_hit(&cache, &d, t0()));
    assert_eq!(cache.len(), 3);

    cache.revoked(&Revocation::Family(family));
    assert!(!is_hit(&cache, &a, t0()));
    assert!(is_hit(&cache, &b, t0()));

    cache.revoked(&Revocation::User { tenant, user });
    assert!(!is_hit(&cache, &b, t0()));
    assert!(is_hit(&cache, &c, t0()), "another user's session stays");
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_fill_that_raced_with_a_revocation_is_refused() {
    let cache = live_cache();
    let s = any_session();
    let Lookup::Miss(ticket) = cache.lookup(&s.access_hash, t0()) else {
        panic!("expected a miss");
    };
    // SQL answered "live", then the revocation's event arrived before the fill.
    cache.revoked(&Revocation::Session(s.id));
    cache.fill(ticket, &s, t0());
    assert!(cache.is_empty());
}

#[test]
fn losing_the_subscription_empties_the_cache_and_refuses_older_fills() {
    let cache = live_cache();
    let cached = any_session();
    lookup_and_fill(&cache, &cached, t0());
    let pending = any_session();
    let Lookup::Miss(ticket) = cache.lookup(&pending.access_hash, t0()) else {
        panic!("expected a miss");
    };
    cache.lost();
    assert!(cache.is_empty());
    assert!(matches!(
        cache.lookup(&cached.access_hash, t0()),
        Lookup::Bypass
    ));
    cache.resumed();
    // A fill that began before the loss could carry a state a missed event changed.
    cache.fill(ticket, &pending, t0());
    assert!(cache.is_empty());
    assert!(!lookup_and_fill(&cache, &cached, t0()));
    assert!(is_hit(&cache, &cached, t0()));
}

#[test]
fn the_cache_never_holds_more_than_its_capacity() {
    let cache = SessionCache::new(config(16));
    cache.resumed();
    for _ in 0..200 {
        lookup_and_fill(&cache, &any_session(), t0());
        assert!(cache.len() <= 16);
    }
    assert!(cache.len() > 8);
}

#[test]
fn capacity_zero_turns_the_cache_off() {
    let cache = SessionCache::new(SessionCacheConfig::OFF);
    cache.resumed();
    let s = any_session();
    assert!(matches!(cache.lookup(&s.access_hash, t0()), Lookup::Bypass));
}

// === CachedSessions ===

/// A repo that holds sessions in memory and counts access-token lookups.
#[derive(Default)]
struct FakeRepo {
    sessions: Mutex<Vec<Session>>,
    lookups: AtomicUsize,
}

impl FakeRepo {
    fn set_revoked(&self, pred: impl Fn(&Session) -> bool, now: DateTime<Utc>) -> u64 {
        let mut n = 0;
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for s in all.iter_mut().filter(|s| s.revoked_at.is_none() && pred(s)) {
            s.revoked_at = Some(now);
            n += 1;
        }
        n
    }
}

#[async_trait]
impl SessionRepo for FakeRepo {
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        all.push(session.clone());
        Ok(())
    }
    async fn find_by_access(&self, hash: TokenHash) -> Result<Option<Session>, RepoError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all.iter().find(|s| s.access_hash == hash).cloned())
    }
    async fn find_by_refresh(&self, hash: TokenHash) -> Result<Option<Session>, RepoError> {
        let all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all.iter().find(|s| s.refresh_hash == hash).cloned())
    }
    async fn rotate(
        &self,
        old: SessionId,
        new: &Session,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        if self.set_revoked(|s| s.id == old, now) != 1 {
            return Ok(false);
        }
        self.create(new).await?;
        Ok(true)
    }
    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, RepoError> {
        Ok(self.set_revoked(|s| s.id == id, now) == 1)
    }
    async fn revoke_family(&self, family: FamilyId, now: DateTime<Utc>) -> Result<u64, RepoError> {
        Ok(self.set_revoked(|s| s.family == family, now))
    }
    async fn revoke_all_for_user(
        &self,
        tenant: TenantId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        Ok(self.set_revoked(|s| s.tenant == tenant && s.user == user, now))
    }
    async fn list_live_for_user(
        &self,
        _tenant: TenantId,
        _user: UserId,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Session>, RepoError> {
        Ok(Vec::new())
    }
    async fn prune_ended(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError> {
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let mut left = limit;
        all.retain(|s| {
            let prune = left > 0 && s.absolute_expires_at < before;
            left -= u32::from(prune);
            !prune
        });
        Ok(u64::from(limit - left))
    }
}

/// Events that record what was published and deliver nothing (another instance's view: this
/// instance's own cache must not depend on hearing its own events).
#[derive(Default)]
struct RecordingEvents {
    published: Mutex<Vec<Revocation>>,
    listener: Mutex<Option<Arc<dyn RevocationListener>>>,
    fail: bool,
}

#[async_trait]
impl SessionEvents for RecordingEvents {
    async fn publish(&self, revocation: &Revocation) -> Result<(), StoreError> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(*revocation);
        if self.fail {
            return Err(StoreError::Unavailable("redis down".into()));
        }
        Ok(())
    }
    fn subscribe(&self, listener: Arc<dyn RevocationListener>) {
        listener.resumed();
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }
}

struct Fixture {
    repo: Arc<FakeRepo>,
    events: Arc<RecordingEvents>,
    cached: CachedSessions,
}

fn fixture(fail_publish: bool) -> Fixture {
    let repo = Arc::new(FakeRepo::default());
    let events = Arc::new(RecordingEvents {
        fail: fail_publish,
        ..RecordingEvents::default()
    });
    let clock = Arc::new(ManualClock::new(t0()));
    let cached = CachedSessions::new(
        Arc::clone(&repo) as Arc<dyn SessionRepo>,
        Arc::clone(&events) as Arc<dyn SessionEvents>,
        clock,
        config(100),
    );
    Fixture {
        repo,
        events,
        cached,
    }
}

#[tokio::test]
async fn warm_lookups_do_not_reach_the_inner_repo() -> Result<(), RepoError> {
    let f = fixture(false);
    let s = any_session();
    f.cached.create(&s).await?;
    for _ in 0..5 {
        let found = f.cached.find_by_access(s.access_hash).await?;
        assert_eq!(found.map(|x| x.id), Some(s.id));
    }
    assert_eq!(f.repo.lookups.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn every_revoking_write_forgets_locally_and_publishes() -> Result<(), RepoError> {
    let f = fixture(false);
    let (tenant, user) = (TenantId::random(), UserId::random());
    let a = session(tenant, user, FamilyId::random());
    let b = session(tenant, user, FamilyId::random());
    let c = session(tenant, user, FamilyId::random());
    let mut rotated = session(tenant, user, c.family);
    rotated.id = SessionId::random();
    for s in [&a, &b, &c] {
        f.cached.create(s).await?;
        f.cached.find_by_access(s.access_hash).await?;
    }

    f.cached.revoke(a.id, t0()).await?;
    f.cached.revoke_family(b.family, t0()).await?;
    assert!(f.cached.rotate(c.id, &rotated, t0()).await?);
    f.cached.revoke_all_for_user(tenant, user, t0()).await?;

    for s in [&a, &b, &c] {
        let found = f.cached.find_by_access(s.access_hash).await?;
        assert!(found.is_some_and(|x| x.revoked_at.is_some()));
    }
    let published = f
        .events
        .published
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    assert_eq!(
        published,
        vec![
            Revocation::Session(a.id),
            Revocation::Family(b.family),
            Revocation::Session(c.id),
            Revocation::User { tenant, user },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_publish_still_revokes_here() -> Result<(), RepoError> {
    let f = fixture(true);
    let s = any_session();
    f.cached.create(&s).await?;
    f.cached.find_by_access(s.access_hash).await?;
    assert!(f.cached.revoke(s.id, t0()).await?);
    let found = f.cached.find_by_access(s.access_hash).await?;
    assert!(found.is_some_and(|x| x.revoked_at.is_some()));
    Ok(())
}

#[tokio::test]
async fn an_event_from_another_instance_drops_the_entry() -> Result<(), RepoError> {
    let f = fixture(false);
    let s = any_session();
    f.cached.create(&s).await?;
    f.cached.find_by_access(s.access_hash).await?;
    // Another instance revoked it in SQL and published.
    f.repo.set_revoked(|x| x.id == s.id, t0());
    let listener = f.events.listener.lock().map(|l| l.clone()).ok().flatten();
    if let Some(l) = listener {
        l.revoked(&Revocation::Session(s.id));
    }
    let found = f.cached.find_by_access(s.access_hash).await?;
    assert!(found.is_some_and(|x| x.revoked_at.is_some()));
    Ok(())
}
