//! `/v1/receipts/{provider}` and `/v1/receipts/tenants/{tenant_id}/{provider_id}`: checks
//! a provider's callback with the parsers of `twostep_sms_gateway::receipts` and records
//! what it says on the outbox row. A tenant's endpoint reaches only that tenant's rows
//! (`ReceiptScope::Tenant`): its provider id may be another tenant's too, or a configured
//! provider's name.
//!
//! Answers, chosen so that providers retry only what a retry can fix:
//! - 200: recorded, a repeat, a message this service does not know (logged at debug; a 4xx
//!   would make some providers retry for days), or a status word we do not know (logged);
//! - 403: the signature or token does not prove the provider sent it (logged with the
//!   tenant, the provider and the reason, counted; never the body, which holds phone
//!   numbers);
//! - 400: signed but not a receipt; 404: no configured provider of that name, or no such
//!   tenant or tenant's provider, takes receipts;
//! - 413: body too large; 503: the database did not answer (the provider may retry);
//! - 405 for another method, 404 for another path.
//!
//! Every receipt checked is counted by outcome ([`ReceiptCounts`], the metrics'
//! `twostep_sms_receipts_total`), and the running total is quoted in its log line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method as HttpMethod, Request, Response, StatusCode};
use tracing::field::{DisplayValue, display};
use twostep_core::clock::Clock;
use twostep_core::ids::TenantId;
use twostep_core::ports::{OutboxRepo, ReceiptOutcome, ReceiptScope};
use twostep_sms_gateway::factory::ProviderSpec;
use twostep_sms_gateway::receipts::{Method, ReceiptError, ReceiptVerifier, WebhookRequest};

use super::tenant_receipts::TenantVerifiers;
use super::{Endpoint, MAX_BODY_BYTES, text};
// Named apart from the port's `ReceiptOutcome` (what a receipt did to its row).
use crate::metrics::{ReceiptCounts, ReceiptOutcome as Counted};

const RECEIPTS_PREFIX: &str = "/v1/receipts/";
const TENANTS_SEGMENT: &str = "tenants/";
/// SetSmsProviders' limit on a provider id.
const MAX_PROVIDER_ID: usize = 64;

/// The endpoint a request was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// `/v1/receipts/{name}`: a provider of the configuration (`[[sms.providers]]`).
    Configured(String),
    /// `/v1/receipts/tenants/{tenant_id}/{provider_id}`: a tenant's own provider.
    Tenant { tenant: TenantId, provider: String },
}

impl Target {
    /// The endpoint a path names, if any (else 404). A tenant's is accepted only as its
    /// callback URL spells it (`config::tenant_receipt_path`): the tenant id as a lower-case
    /// hyphenated UUID, and a provider id as SetSmsProviders allows it; nothing else can
    /// name a stored entry, so nothing else reaches the database.
    pub(super) fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix(RECEIPTS_PREFIX)?;
        if let Some(rest) = rest.strip_prefix(TENANTS_SEGMENT) {
            let (tenant, provider) = rest.split_once('/')?;
            let tenant = tenant
                .parse::<TenantId>()
                .ok()
                .filter(|id| id.to_string() == tenant)?;
            let id_chars = provider
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if provider.is_empty() || provider.len() > MAX_PROVIDER_ID || !id_chars {
                return None;
            }
            return Some(Target::Tenant {
                tenant,
                provider: provider.to_owned(),
            });
        }
        if rest.is_empty() || rest.contains('/') {
            return None;
        }
        Some(Target::Configured(rest.to_owned()))
    }

    fn provider(&self) -> &str {
        match self {
            Target::Configured(name) => name,
            Target::Tenant { provider, .. } => provider,
        }
    }

    /// For log lines: the tenant, when it is a tenant's endpoint.
    fn tenant(&self) -> Option<DisplayValue<TenantId>> {
        match self {
            Target::Configured(_) => None,
            Target::Tenant { tenant, .. } => Some(display(*tenant)),
        }
    }

    fn scope(&self) -> ReceiptScope {
        match self {
            Target::Configured(_) => ReceiptScope::AnyTenant,
            Target::Tenant { tenant, .. } => ReceiptScope::Tenant(*tenant),
        }
    }
}

/// The receipt endpoints of the configured providers and of tenants' own.
pub struct ReceiptEndpoint {
    public_base_url: String,
    verifiers: HashMap<String, ReceiptVerifier>,
    tenants: TenantVerifiers,
    outbox: Arc<dyn OutboxRepo>,
    clock: Arc<dyn Clock>,
    counts: ReceiptCounts,
}

impl ReceiptEndpoint {
    /// Endpoints for those of `providers` whose kind takes receipts, and for tenants'
    /// providers as `tenants` finds them; receipts are counted in `counts`.
    pub fn new(
        public_base_url: &str,
        providers: &[ProviderSpec],
        tenants: TenantVerifiers,
        outbox: Arc<dyn OutboxRepo>,
        clock: Arc<dyn Clock>,
        counts: ReceiptCounts,
    ) -> Self {
        let verifiers = providers
            .iter()
            .filter_map(|p| ReceiptVerifier::for_kind(&p.kind).map(|v| (p.name.clone(), v)))
            .collect();
        Self {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            verifiers,
            tenants,
            outbox,
            clock,
            counts,
        }
    }

    /// The configured providers with an endpoint, sorted.
    pub fn providers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.verifiers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The verifier of `target`, or the answer when there is none.
    async fn verifier(
        &self,
        target: &Target,
    ) -> Result<Cow<'_, ReceiptVerifier>, Response<Full<Bytes>>> {
        let found = match target {
            Target::Configured(name) => self.verifiers.get(name).map(Cow::Borrowed),
            Target::Tenant { tenant, provider } => {
                match self.tenants.verifier(*tenant, provider).await {
                    Ok(found) => found.map(Cow::Owned),
                    Err(e) => {
                        self.counts.bump(Counted::Unavailable);
                        tracing::warn!(tenant = %tenant, provider, error = %e, "delivery receipt not checked: the tenant's settings are unavailable");
                        return Err(text(StatusCode::SERVICE_UNAVAILABLE, "try again later"));
                    }
                }
            }
        };
        found.ok_or_else(|| {
            tracing::debug!(
                tenant = target.tenant(),
                provider = target.provider(),
                "receipt for a provider that takes none"
            );
            text(StatusCode::NOT_FOUND, "no such provider")
        })
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let Some(target) = Target::parse(req.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "not found");
        };
        if req.method() != HttpMethod::POST && req.method() != HttpMethod::GET {
            let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "use POST or GET");
            res.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("POST, GET"),
            );
            return res;
        }
        self.handle(&target, req).await
    }

    async fn handle(&self, target: &Target, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let verifier = match self.verifier(target).await {
            Ok(verifier) => verifier,
            Err(answer) => return answer,
        };
        let provider = target.provider();
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
                }
                tracing::debug!(provider, error = %e, "receipt body not read");
                return text(StatusCode::BAD_REQUEST, "body not read");
            }
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |pq| pq.as_str());
        let request = WebhookRequest {
            method: if parts.method == HttpMethod::GET {
                Method::Get
            } else {
                Method::Post
            },
            url: format!("{}{path_and_query}", self.public_base_url),
            headers: parts
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    value
                        .to_str()
                        .ok()
                        .map(|v| (name.as_str().to_owned(), v.to_owned()))
                })
                .collect(),
            body: body.to_vec(),
        };
        match verifier.parse(&request) {
            Ok(receipts) => self.record(target, receipts).await,
            Err(e) => self.refuse(target, &e),
        }
    }

    async fn record(
        &self,
        target: &Target,
        receipts: Vec<twostep_sms_gateway::receipts::Receipt>,
    ) -> Response<Full<Bytes>> {
        let (tenant, provider) = (target.tenant(), target.provider());
        let now = self.clock.now();
        for receipt in receipts {
            let id = receipt.provider_message_id.as_str();
            match self
                .outbox
                .record_receipt(target.scope(), provider, id, &receipt.status, now)
                .await
            {
                Ok(ReceiptOutcome::Recorded(status)) => {
                    let total = self.counts.bump(Counted::Recorded);
                    tracing::info!(tenant, provider, provider_message_id = id, %status, recorded_total = total, "delivery receipt recorded");
                }
                Ok(ReceiptOutcome::Unchanged(status)) => {
                    self.counts.bump(Counted::Unchanged);
                    tracing::debug!(tenant, provider, provider_message_id = id, %status, "delivery receipt changes nothing");
                }
                Ok(ReceiptOutcome::UnknownMessage) => {
                    self.counts.bump(Counted::UnknownMessage);
                    tracing::debug!(
                        tenant,
                        provider,
                        provider_message_id = id,
                        "delivery receipt for an unknown message"
                    );
                }
                Err(e) => {
                    self.counts.bump(Counted::Unavailable);
                    tracing::warn!(tenant, provider, error = %e, "delivery receipt not recorded");
                    return text(StatusCode::SERVICE_UNAVAILABLE, "try again later");
                }
            }
        }
        text(StatusCode::OK, "ok")
    }

    fn refuse(&self, target: &Target, e: &ReceiptError) -> Response<Full<Bytes>> {
        let (tenant, provider) = (target.tenant(), target.provider());
        match e {
            ReceiptError::BadSignature(reason) | ReceiptError::NotConfigured(reason) => {
                let total = self.counts.bump(Counted::Refused);
                tracing::warn!(
                    tenant,
                    provider,
                    reason,
                    refused_total = total,
                    "delivery receipt refused: {}",
                    if matches!(e, ReceiptError::BadSignature(_)) {
                        "bad signature"
                    } else {
                        "not configured"
                    }
                );
                text(StatusCode::FORBIDDEN, "forbidden")
            }
            ReceiptError::Malformed(reason) => {
                let total = self.counts.bump(Counted::Malformed);
                tracing::warn!(
                    tenant,
                    provider,
                    reason,
                    malformed_total = total,
                    "delivery receipt malformed"
                );
                text(StatusCode::BAD_REQUEST, "malformed receipt")
            }
            ReceiptError::UnknownStatus(word) => {
                let total = self.counts.bump(Counted::UnknownStatus);
                tracing::warn!(tenant, provider, status = %word, unknown_status_total = total, "delivery receipt with an unknown status ignored");
                text(StatusCode::OK, "ignored")
            }
        }
    }
}

impl Endpoint for ReceiptEndpoint {
    fn answer(&self, req: Request<Incoming>) -> BoxFuture<'_, Response<Full<Bytes>>> {
        Box::pin(self.route(req))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::config::{receipt_path, tenant_receipt_path};

    #[test]
    fn paths_name_a_configured_provider_or_a_tenants_own() {
        let tenant = TenantId::random();
        assert_eq!(
            Target::parse(&receipt_path("twilio")),
            Some(Target::Configured("twilio".to_owned()))
        );
        // A configured provider may be called `tenants`: its path has no more segments.
        assert_eq!(
            Target::parse("/v1/receipts/tenants"),
            Some(Target::Configured("tenants".to_owned()))
        );
        let target = Target::parse(&tenant_receipt_path(tenant, "gateway_2-b")).unwrap();
        assert_eq!(
            target,
            Target::Tenant {
                tenant,
                provider: "gateway_2-b".to_owned()
            }
        );
        assert_eq!(target.scope(), ReceiptScope::Tenant(tenant));
        assert_eq!(target.provider(), "gateway_2-b");
        assert_eq!(
            Target::parse("/v1/receipts/twilio").unwrap().scope(),
            ReceiptScope::AnyTenant
        );
    }

    #[test]
    fn other_paths_are_no_endpoint() {
        let tenant = TenantId::random();
        let upper = tenant.to_string().to_uppercase();
        let simple = tenant.as_uuid().simple().to_string();
        let long = "p".repeat(65);
        for path in [
            "/",
            "/v1/receipts/",
            "/v1/receipts/twilio/extra",
            "/v1/receipts/tenants/",
            "/v1/receipts/tenants/not-a-uuid/gateway",
            &format!("/v1/receipts/tenants/{tenant}"),
            &format!("/v1/receipts/tenants/{tenant}/"),
            &format!("/v1/receipts/tenants/{tenant}/gateway/more"),
            &format!("/v1/receipts/tenants/{tenant}/gate%20way"),
            &format!("/v1/receipts/tenants/{tenant}/{long}"),
            // Only the spelling the callback URLs use.
            &format!("/v1/receipts/tenants/{upper}/gateway"),
            &format!("/v1/receipts/tenants/{simple}/gateway"),
        ] {
            assert_eq!(Target::parse(path), None, "{path}");
        }
    }
}
