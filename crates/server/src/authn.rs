//! Caller authentication: a tower layer in front of every twostep service. It reads the API
//! key from `authorization: Bearer <key>`, checks the scope the service needs, settles the
//! tenant, and records a [`Caller`] in the request's extensions for the services
//! (`caller::tenant`, `caller::actor`, `caller::api_client`). Health and reflection pass
//! through unauthenticated.
//!
//! Scopes: AuthService needs `auth`; AccountService `account` (its RPCs act only with the end
//! user's own access token or ticket, so `auth` is not needed as well); AdminService `admin`
//! or `operator`. A missing, malformed, unknown or revoked key is UNAUTHENTICATED with one
//! fixed message; a valid key without the scope, or naming another tenant, is
//! PERMISSION_DENIED.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::HeaderMap;
use tonic::Status;
use tonic::transport::server::TcpConnectInfo;
use twostep_core::api_client::{Scope, Scopes};
use twostep_core::flows::api_clients::{self, ApiClients};
use twostep_core::ids::TenantId;

use crate::caller::{Caller, TENANT_HEADER};
use crate::error::{invalid_argument, to_status, unauthenticated_caller};
use crate::state::AppState;

/// Everything the layer needs; shared by every connection.
pub struct Authn {
    state: AppState,
    clients: Arc<ApiClients>,
    /// Development only: calls without a key from loopback peers.
    allow_unauthenticated: bool,
}

impl Authn {
    pub fn new(state: AppState, allow_unauthenticated: bool) -> Self {
        let clients = Arc::clone(&state.api_clients);
        Self {
            state,
            clients,
            allow_unauthenticated,
        }
    }

    /// The caller of a call to a service that needs `needed`, or the status that refuses it.
    async fn caller(
        &self,
        needed: Scope,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<Caller, Status> {
        let Some(authorization) = headers.get(http::header::AUTHORIZATION) else {
            if self.allow_unauthenticated && peer.is_some_and(|p| is_loopback(p.ip())) {
                let tenant = match self.named_tenant(headers).await? {
                    Some(t) => t,
                    None => self.state.default_tenant,
                };
                return Ok(Caller {
                    api_client: None,
                    tenant,
                    scopes: Scopes::all(),
                });
            }
            return Err(unauthenticated_caller());
        };
        let key = authorization
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or_else(unauthenticated_caller)?;
        let client = self
            .clients
            .authenticate(key)
            .await
            .map_err(to_status)?
            .ok_or_else(unauthenticated_caller)?;
        if !api_clients::allows(client.scopes, needed) {
            return Err(Status::permission_denied(format!(
                "the API key lacks the {} scope",
                needed.as_str()
            )));
        }
        let tenant = match self.named_tenant(headers).await? {
            None => client.tenant,
            Some(t) if t == client.tenant => t,
            Some(t) if needed == Scope::Admin && client.scopes.contains(Scope::Operator) => t,
            Some(_) => {
                return Err(Status::permission_denied(
                    "the API key is bound to another tenant",
                ));
            }
        };
        Ok(Caller {
            api_client: Some(client.id),
            tenant,
            scopes: client.scopes,
        })
    }

    /// The tenant `x-twostep-tenant` names (an id, or a slug looked up), if it is set.
    async fn named_tenant(&self, headers: &HeaderMap) -> Result<Option<TenantId>, Status> {
        let Some(value) = headers.get(TENANT_HEADER) else {
            return Ok(None);
        };
        let value = value
            .to_str()
            .map_err(|_| invalid_argument(TENANT_HEADER, "is not text"))?
            .trim();
        if let Ok(id) = value.parse::<TenantId>() {
            return Ok(Some(id));
        }
        match self.state.deps.tenants.get_by_slug(value).await {
            Ok(Some(t)) => Ok(Some(t.id)),
            Ok(None) => Err(Status::permission_denied("unknown tenant")),
            Err(e) => Err(to_status(e.into())),
        }
    }
}

/// The key of `Bearer <key>` (the scheme is case-insensitive, RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(key.trim())
        .filter(|k| !k.is_empty())
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The scope a gRPC path needs; `None` for services open to all (health, reflection).
fn needed_scope(path: &str) -> Option<Scope> {
    let service = path.strip_prefix('/')?.split('/').next()?;
    match service {
        "twostep.v1.AuthService" => Some(Scope::Auth),
        "twostep.v1.AccountService" => Some(Scope::Account),
        // Any other twostep service is an administrator's until it says otherwise.
        s if s.starts_with("twostep.") => Some(Scope::Admin),
        _ => None,
    }
}

/// The peer's address, on plaintext and TLS connections alike.
fn peer<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<tonic::transport::server::TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

#[derive(Clone)]
pub struct AuthnLayer {
    authn: Arc<Authn>,
}

impl AuthnLayer {
    pub fn new(authn: Authn) -> Self {
        Self {
            authn: Arc::new(authn),
        }
    }
}

impl<S> tower::Layer<S> for AuthnLayer {
    type Service = AuthnService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthnService {
            inner,
            authn: Arc::clone(&self.authn),
        }
    }
}

#[derive(Clone)]
pub struct AuthnService<S> {
    inner: S,
    authn: Arc<Authn>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for AuthnService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let Some(needed) = needed_scope(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        // The service that was polled ready is the one to call (tower's clone-and-swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authn = Arc::clone(&self.authn);
        Box::pin(async move {
            let peer = peer(&request);
            match authn.caller(needed, request.headers(), peer).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_the_key_of_the_bearer_scheme_only() {
        assert_eq!(bearer("Bearer tsk_abc"), Some("tsk_abc"));
        assert_eq!(bearer("bearer  tsk_abc "), Some("tsk_abc"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("tsk_abc"), None);
    }

    #[test]
    fn services_need_their_scope_and_health_needs_none() {
        assert_eq!(
            needed_scope("/twostep.v1.AuthService/StartLogin"),
            Some(Scope::Auth)
        );
        assert_eq!(
            needed_scope("/twostep.v1.AccountService/GetProfile"),
            Some(Scope::Account)
        );
        assert_eq!(
            needed_scope("/twostep.v1.AdminService/CreateUser"),
            Some(Scope::Admin)
        );
        assert_eq!(
            needed_scope("/twostep.v2.Anything/Else"),
            Some(Scope::Admin)
        );
        assert_eq!(needed_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            needed_scope("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
    }

    #[test]
    fn only_loopback_peers_count_as_local() {
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(
                is_loopback(ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
                "{ip}"
            );
        }
        for ip in ["10.0.0.1", "192.0.2.7", "::ffff:10.0.0.1"] {
            assert!(
                !is_loopback(ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{ip}"
            );
        }
    }
}
