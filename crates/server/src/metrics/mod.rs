//! Prometheus metrics (the `prometheus-client` crate), served by the `[metrics]` listener as
//! `GET /metrics` (`http::MetricsEndpoint`):
//!
//! - `twostep_grpc_requests_total` and `twostep_grpc_request_duration_seconds` by `service`,
//!   `method` and `code` ([`grpc`]: a tower layer on the gRPC server);
//! - `twostep_sms_sends_total` by `provider` and `outcome` ([`sms`]: the outbox worker's
//!   recorded outcomes);
//! - `twostep_sms_breaker_state` by `provider` ([`breakers`]: the configured providers'
//!   circuit breakers, read at each scrape);
//! - `twostep_sms_tenant_breakers` by `state` ([`breakers`]: how many of the tenants' own
//!   providers have their breaker closed, half-open or open);
//! - `twostep_sms_receipts_total` by `outcome` ([`receipts`]: the delivery-receipt endpoints);
//! - `twostep_log_lines_dropped_total` ([`logs`]: lines the log writer thread fell behind on);
//! - `twostep_build_info` by `version`, always 1.
//!
//! Every label value comes from a bounded set fixed by the code or the deployment (gRPC
//! methods of the served descriptors, status codes, outcome words, provider names from the
//! configuration or tenants' provider ids): never a phone number, a code, a token, a key, a
//! tenant or a user id, and nothing a caller can choose freely.

mod breakers;
mod grpc;
mod logs;
mod receipts;
mod sms;

use std::fmt;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use twostep_sms_gateway::outbox::OutboxObserver;
use twostep_sms_gateway::{Router, TenantRouting};

pub use grpc::{GrpcMethods, GrpcMetricsLayer, GrpcMetricsService, RpcName, code_name};
pub use receipts::{ReceiptCounts, ReceiptOutcome};
pub use sms::SmsSends;

/// The content type of [`Metrics::encode`]'s text: Prometheus' text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The process's metrics: registered once at start-up, then shared.
pub struct Metrics {
    registry: Registry,
    grpc: GrpcMetricsLayer,
    sms: SmsSends,
    receipts: ReceiptCounts,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

impl Metrics {
    /// Every metric, with the gRPC methods `methods` names (any other is `unknown`).
    pub fn new(methods: GrpcMethods) -> Self {
        let mut registry = Registry::default();
        let grpc = GrpcMetricsLayer::new(methods);
        grpc.register(&mut registry);
        let sms = SmsSends::default();
        sms.register(&mut registry);
        let receipts = ReceiptCounts::default();
        receipts.register(&mut registry);
        registry.register_collector(Box::new(logs::DroppedLogLines));
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "twostep_build_info",
            "The running twostepd's version (always 1)",
            build,
        );
        Self {
            registry,
            grpc,
            sms,
            receipts,
        }
    }

    /// Reports the circuit breakers of `router` (the configured providers') at each scrape.
    /// Tenants' own routers are counted apart ([`Metrics::watch_tenant_breakers`]): their
    /// provider ids are unique within a tenant only, and a tenant id is no label.
    pub fn watch_breakers(&mut self, router: Arc<Router>) {
        self.registry
            .register_collector(Box::new(breakers::Breakers::new(router)));
    }

    /// Reports how many of the tenants' own providers have their breaker in each state.
    pub fn watch_tenant_breakers(&mut self, routing: Arc<TenantRouting>) {
        self.registry
            .register_collector(Box::new(breakers::TenantBreakers::new(routing)));
    }

    /// The tower layer that counts and times gRPC calls.
    pub fn grpc_layer(&self) -> GrpcMetricsLayer {
        self.grpc.clone()
    }

    /// What the outbox worker reports its outcomes to.
    pub fn sms_observer(&self) -> Arc<dyn OutboxObserver> {
        Arc::new(self.sms.clone())
    }

    /// The delivery-receipt counters.
    pub fn receipts(&self) -> ReceiptCounts {
        self.receipts.clone()
    }

    /// Every metric in Prometheus' text format ([`CONTENT_TYPE`]; counters end in `_total`).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
