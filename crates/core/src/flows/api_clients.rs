//! API clients: creating, listing and revoking keys, and authenticating the key a call
//! presents.
//!
//! Authentication runs on every RPC, so verified clients are cached in the process for a
//! short TTL (`auth.key_cache_ttl_ms`, 5 s by default): a revocation made through another
//! instance takes effect there within the TTL; through this instance, at once. A client in
//! use is read again by one background task once half the TTL has passed (a
//! [`RefreshingCache`]), so calls do not wait on the database for their key, nor all read it
//! at once when it expires or on its first use. A cached entry holds the stored digest, and every call still
//! compares the presented key against it, in constant time.
//!
//! These flows reach only the repositories they need (not [`Deps`](crate::flows::Deps)), so
//! that `twostepd create-api-client` can run them without a short-lived store or SMS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api_client::{ApiClient, ApiKey, PresentedKey, Scope, Scopes};
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::clock::Clock;
use crate::error::CoreError;
use crate::flows::refreshing_cache::RefreshingCache;
use crate::ids::{ApiClientId, TenantId};
use crate::ports::{ApiClientRepo, AuditLog, RepoError, TenantRepo};
use crate::tenant::{Policy, Tenant};

/// A name is for operators; bounded like any stored free text.
const MAX_NAME_CHARS: usize = 100;
/// The cache never holds more clients than this; past it, expired entries go first.
const MAX_CACHED: usize = 10_000;
/// `last_used_at` is written at most this often per client and instance.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// Who a verified key belongs to and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub id: ApiClientId,
    pub tenant: TenantId,
    pub scopes: Scopes,
}

pub struct ApiClients {
    repo: Arc<dyn ApiClientRepo>,
    tenants: Arc<dyn TenantRepo>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    /// `None` when the TTL is zero: every call reads the database.
    cache: Option<RefreshingCache<ApiClientId, ApiClient>>,
}

impl ApiClients {
    /// `ttl` zero disables the cache (every call reads the database).
    pub fn new(
        repo: Arc<dyn ApiClientRepo>,
        tenants: Arc<dyn TenantRepo>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
    ) -> Self {
        Self {
            repo,
            tenants,
            audit,
            clock,
            cache: (!ttl.is_zero())
                .then(|| RefreshingCache::new("API client", ttl / 2, ttl, MAX_CACHED)),
        }
    }

    /// The client a presented key belongs to, when the key is well-formed, known, matches
    /// the stored digest and is not revoked; `None` for every other key, alike.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Authenticated>, CoreError> {
        let Some(key) = PresentedKey::parse(presented) else {
            return Ok(None);
        };
        let Some(client) = self.client(key.id).await? else {
            return Ok(None);
        };
        if !key.hash.matches(&client.key_hash) || client.revoked_at.is_some() {
            return Ok(None);
        }
        Ok(Some(Authenticated {
            id: client.id,
            tenant: client.tenant,
            scopes: client.scopes,
        }))
    }

    pub async fn create(
        &self,
        tenant: TenantId,
        name: &str,
        scopes: Scopes,
        actor: &Actor,
    ) -> Result<(ApiClient, ApiKey), CoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::invalid("name", "is required"));
        }
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "name",
                "must be at most 100 characters, without control characters",
            ));
        }
        if scopes.is_empty() {
            return Err(CoreError::invalid("scopes", "must name at least one scope"));
        }
        if self.tenants.get(tenant).await?.is_none() {
            return Err(CoreError::NotFound("tenant"));
        }
        // UUID v7: ids sort by creation time, which is the order lists promise.
        let id = ApiClientId::from_uuid(uuid::Uuid::now_v7());
        let key = ApiKey::generate(id);
        let client = ApiClient {
            id,
            tenant,
            name: name.to_owned(),
            scopes,
            key_hash: key.hash(),
            created_at: self.clock.now(),
            revoked_at: None,
            last_used_at: None,
        };
        self.repo.create(&client).await?;
        tracing::info!(api_client = %id, tenant = %tenant, scopes = %scopes.to_list(), "API client created");
        self.record(&client, AuditKind::ApiClientCreated, actor)
            .await;
        Ok((client, key))
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        after: Option<ApiClientId>,
        limit: u32,
        include_revoked: bool,
    ) -> Result<Vec<ApiClient>, CoreError> {
        Ok(self
            .repo
            .list(tenant, after, limit, include_revoked)
            .await?)
    }

    /// Revokes a client of `tenant`; this instance refuses its key from now on, others
    /// within the cache TTL.
    pub async fn revoke(
        &self,
        tenant: TenantId,
        id: ApiClientId,
        actor: &Actor,
    ) -> Result<ApiClient, CoreError> {
        let client = self
            .repo
            .revoke(tenant, id, self.clock.now())
            .await?
            .ok_or(CoreError::NotFound("API client"))?;
        if let Some(cache) = &self.cache {
            cache.remove(id);
        }
        tracing::info!(api_client = %id, tenant = %tenant, "API client revoked");
        self.record(&client, AuditKind::ApiClientRevoked, actor)
            .await;
        Ok(client)
    }

    /// A tenant named by id or slug (the command line's `--tenant`).
    pub async fn tenant_by_ref(&self, reference: &str) -> Result<Tenant, CoreError> {
        let reference = reference.trim();
        let found = match reference.parse::<TenantId>() {
            Ok(id) => self.tenants.get(id).await?,
            Err(_) => self.tenants.get_by_slug(reference).await?,
        };
        found.ok_or(CoreError::NotFound("tenant"))
    }

    /// The default tenant, created when missing, as start-up does (`admin::
    /// ensure_default_tenant`, which needs every dependency of a running server): the first
    /// admin key may be made before the server ever ran.
    pub async fn default_tenant(&self) -> Result<Tenant, CoreError> {
        if let Some(t) = self.tenants.get_by_slug(Tenant::DEFAULT_SLUG).await? {
            return Ok(t);
        }
        let tenant = Tenant {
            id: TenantId::random(),
            slug: Tenant::DEFAULT_SLUG.to_owned(),
            name: "Default".to_owned(),
            app_name: "twostep".to_owned(),
            policy: Policy::default(),
            created_at: self.clock.now(),
        };
        match self.tenants.create(&tenant).await {
            Ok(()) => Ok(tenant),
            // Another process created it at the same moment.
            Err(crate::ports::RepoError::Conflict { .. }) => self
                .tenants
                .get_by_slug(Tenant::DEFAULT_SLUG)
                .await?
                .ok_or(CoreError::Internal("default tenant vanished".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// The stored client of a key id, through the cache when there is one.
    async fn client(&self, id: ApiClientId) -> Result<Option<Arc<ApiClient>>, RepoError> {
        let (repo, clock) = (Arc::clone(&self.repo), Arc::clone(&self.clock));
        let read = move |id| async move { read_and_touch(&*repo, &*clock, id).await };
        match &self.cache {
            Some(cache) => cache.get(id, read).await,
            None => Ok(read(id).await?.map(Arc::new)),
        }
    }

    /// An audit event about a client: its id, name and scopes, never its key.
    async fn record(&self, client: &ApiClient, kind: AuditKind, actor: &Actor) {
        let details = BTreeMap::from([
            ("api_client_id".to_owned(), client.id.to_string()),
            ("name".to_owned(), client.name.clone()),
            ("scopes".to_owned(), client.scopes.to_list()),
        ]);
        let event = AuditEvent {
            id: uuid::Uuid::now_v7(),
            at: self.clock.now(),
            tenant: client.tenant,
            actor: actor.clone(),
            user: None,
            kind,
            masked_phone: None,
            client_ip: None,
            user_agent: String::new(),
            details,
        };
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(kind = kind.as_str(), error = %e, "audit event not recorded");
        }
    }
}

/// Reads a client, and records its use now and then.
async fn read_and_touch(
    repo: &dyn ApiClientRepo,
    clock: &dyn Clock,
    id: ApiClientId,
) -> Result<Option<ApiClient>, RepoError> {
    let Some(client) = repo.get(id).await? else {
        return Ok(None);
    };
    let now = clock.now();
    let stale = client
        .last_used_at
        .is_none_or(|at| now.signed_duration_since(at) >= TOUCH_EVERY);
    if stale
        && client.revoked_at.is_none()
        && let Err(e) = repo.touch(client.id, now).await
    {
        // Only bookkeeping: the call goes on.
        tracing::warn!(api_client = %client.id, error = %e, "last_used_at not recorded");
    }
    Ok(Some(client))
}

/// Whether `scopes` allow a call that needs `needed`. `operator` includes `admin`.
pub fn allows(scopes: Scopes, needed: Scope) -> bool {
    scopes.contains(needed) || (needed == Scope::Admin && scopes.contains(Scope::Operator))
}
