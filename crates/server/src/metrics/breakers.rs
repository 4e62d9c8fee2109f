//! `twostep_sms_breaker_state` by `provider`: each configured provider's circuit breaker, read
//! from the router at each scrape (0 closed, 1 half-open, 2 open), so the value is never
//! stale and nothing has to be updated as breakers move.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use twostep_sms_gateway::Router;
use twostep_sms_gateway::routing::BreakerState;

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
