//! `/v1/receipts/{provider}`: checks a provider's callback with the parsers of
//! `twostep_sms_gateway::receipts` and records what it says on the outbox row.
//!
//! Answers, chosen so that providers retry only what a retry can fix:
//! - 200: recorded, a repeat, a message this service does not know (logged at debug; a 4xx
//!   would make some providers retry for days), or a status word we do not know (logged);
//! - 403: the signature or token does not prove the provider sent it (logged with the
//!   provider and the reason, counted; never the body, which holds phone numbers);
//! - 400: signed but not a receipt; 404: no configured provider of that name takes receipts;
//! - 413: body too large; 503: the database did not answer (the provider may retry).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use twostep_core::clock::Clock;
use twostep_core::ports::{OutboxRepo, ReceiptOutcome};
use twostep_sms_gateway::factory::ProviderSpec;
use twostep_sms_gateway::receipts::{Method, ReceiptError, ReceiptVerifier, WebhookRequest};

use super::{MAX_BODY_BYTES, text};

/// Running totals, reported in the log lines (there is no metrics endpoint yet).
#[derive(Debug, Default)]
pub struct ReceiptCounts {
    pub recorded: AtomicU64,
    pub unchanged: AtomicU64,
    pub unknown_message: AtomicU64,
    /// Bad signature or token, or none configured.
    pub refused: AtomicU64,
    pub malformed: AtomicU64,
    pub unknown_status: AtomicU64,
}

fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed).saturating_add(1)
}

/// The receipt endpoints of the configured providers.
pub struct ReceiptEndpoint {
    public_base_url: String,
    verifiers: HashMap<String, ReceiptVerifier>,
    outbox: Arc<dyn OutboxRepo>,
    clock: Arc<dyn Clock>,
    counts: ReceiptCounts,
}

impl ReceiptEndpoint {
    /// Endpoints for those of `providers` whose kind takes receipts.
    pub fn new(
        public_base_url: &str,
        providers: &[ProviderSpec],
        outbox: Arc<dyn OutboxRepo>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let verifiers = providers
            .iter()
            .filter_map(|p| ReceiptVerifier::for_kind(&p.kind).map(|v| (p.name.clone(), v)))
            .collect();
        Self {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            verifiers,
            outbox,
            clock,
            counts: ReceiptCounts::default(),
        }
    }

    /// The providers with an endpoint, sorted.
    pub fn providers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.verifiers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn counts(&self) -> &ReceiptCounts {
        &self.counts
    }

    pub(super) async fn handle(
        &self,
        provider: &str,
        req: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        let Some(verifier) = self.verifiers.get(provider) else {
            tracing::debug!(provider, "receipt for a provider that takes none");
            return text(StatusCode::NOT_FOUND, "no such provider");
        };
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
            method: if parts.method == hyper::Method::GET {
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
            Ok(receipts) => self.record(provider, receipts).await,
            Err(e) => self.refuse(provider, &e),
        }
    }

    async fn record(
        &self,
        provider: &str,
        receipts: Vec<twostep_sms_gateway::receipts::Receipt>,
    ) -> Response<Full<Bytes>> {
        let now = self.clock.now();
        for receipt in receipts {
            let id = receipt.provider_message_id.as_str();
            match self
                .outbox
                .record_receipt(provider, id, &receipt.status, now)
                .await
            {
                Ok(ReceiptOutcome::Recorded(status)) => {
                    let total = bump(&self.counts.recorded);
                    tracing::info!(provider, provider_message_id = id, %status, recorded_total = total, "delivery receipt recorded");
                }
                Ok(ReceiptOutcome::Unchanged(status)) => {
                    bump(&self.counts.unchanged);
                    tracing::debug!(provider, provider_message_id = id, %status, "delivery receipt changes nothing");
                }
                Ok(ReceiptOutcome::UnknownMessage) => {
                    bump(&self.counts.unknown_message);
                    tracing::debug!(
                        provider,
                        provider_message_id = id,
                        "delivery receipt for an unknown message"
                    );
                }
                Err(e) => {
                    tracing::warn!(provider, error = %e, "delivery receipt not recorded");
                    return text(StatusCode::SERVICE_UNAVAILABLE, "try again later");
                }
            }
        }
        text(StatusCode::OK, "ok")
    }

    fn refuse(&self, provider: &str, e: &ReceiptError) -> Response<Full<Bytes>> {
        match e {
            ReceiptError::BadSignature(reason) | ReceiptError::NotConfigured(reason) => {
                let total = bump(&self.counts.refused);
                tracing::warn!(
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
                let total = bump(&self.counts.malformed);
                tracing::warn!(
                    provider,
                    reason,
                    malformed_total = total,
                    "delivery receipt malformed"
                );
                text(StatusCode::BAD_REQUEST, "malformed receipt")
            }
            ReceiptError::UnknownStatus(word) => {
                let total = bump(&self.counts.unknown_status);
                tracing::warn!(provider, status = %word, unknown_status_total = total, "delivery receipt with an unknown status ignored");
                text(StatusCode::OK, "ignored")
            }
        }
    }
}
