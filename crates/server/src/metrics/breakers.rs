//! `twostep_sms_breaker_state` by `provider`: each configured provider's circuit breaker, read
//! from the router at each scrape (0 closed, 1 half-open, 2 open), so the value is never
//! stale and nothing has to be updated as breakers move.
//!
//! `twostep_sms_tenant_breakers` by `state`: how many of the tenants' own providers have their
//! breaker in each state, read the same way. Counts, not one series per provider: a tenant's
//! provider ids are unique within the tenant only, and tenant ids are no labels (their number
//! has no bound). An alert on `open > 0` says some tenant's provider is failing; the log lines
//! (`provider failed`, with the tenant) say whose.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use twostep_sms_gateway::routing::BreakerState;
use twostep_sms_gateway::{Router, TenantRouting};

pub(super) struct Breakers {
    router: Arc<Router>,
}

impl Breakers {
    pub(super) fn new(router: Arc<Router>) -> Self {
        Self { router }
    }
}

impl fmt::Debug for Breakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breakers").finish_non_exhaustive()
    }
}

/// The gauge's value for a state: higher is worse, so `> 0` means "not closed".
pub(super) fn value(state: BreakerState) -> i64 {
    match state {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    }
}

impl Collector for Breakers {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let states = self.router.breaker_states();
        let mut family = encoder.encode_descriptor(
            "twostep_sms_breaker_state",
            "Circuit breaker of each configured SMS provider: 0 closed, 1 half-open, 2 open",
            None,
            MetricType::Gauge,
        )?;
        for (provider, state) in states {
            let gauge = ConstGauge::new(value(state));
            gauge.encode(family.encode_family(&[("provider", provider)])?)?;
        }
        Ok(())
    }
}

pub(super) struct TenantBreakers {
    routing: Arc<TenantRouting>,
}

impl TenantBreakers {
    pub(super) fn new(routing: Arc<TenantRouting>) -> Self {
        Self { routing }
    }
}

impl fmt::Debug for TenantBreakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantBreakers").finish_non_exhaustive()
    }
}

impl Collector for TenantBreakers {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let states = self.routing.tenant_breaker_states();
        let mut family = encoder.encode_descriptor(
            "twostep_sms_tenant_breakers",
            "Tenants' own SMS providers by circuit breaker state (closed, half_open, open), \
             among those this instance has sent through since it started",
            None,
            MetricType::Gauge,
        )?;
        // Every state, zeros included, so that an alert on `open` has a series to read.
        for (label, state) in [
            ("closed", BreakerState::Closed),
            ("half_open", BreakerState::HalfOpen),
            ("open", BreakerState::Open),
        ] {
            let count = states.iter().filter(|s| **s == state).count();
            let gauge = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&[("state", label)])?)?;
        }
        Ok(())
    }
}
