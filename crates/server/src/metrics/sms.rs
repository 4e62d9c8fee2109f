//! `twostep_sms_sends_total` by `provider` and `outcome`: what the outbox worker recorded for
//! each message (`sent`, `retry`, `failed`, `expired`). The provider is the one that accepted
//! the message (a configured provider's name, a tenant's provider id, or `console`), and
//! empty for the other outcomes: a failed send may have tried several providers, whose
//! health the breaker gauge and the log lines show.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use twostep_sms_gateway::outbox::{OutboxObserver, SendOutcome};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SendLabels {
    provider: String,
    outcome: &'static str,
}

/// The counters the worker's outcomes go to; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SmsSends {
    sends: Family<SendLabels, Counter>,
}

impl SmsSends {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "twostep_sms_sends",
            "SMS outcomes recorded by the outbox worker, by provider (empty unless sent) and \
             outcome: sent, retry, failed, expired",
            self.sends.clone(),
        );
    }
}

impl OutboxObserver for SmsSends {
    fn outcomes(&self, provider: Option<&str>, outcome: SendOutcome, count: u64) {
        let labels = SendLabels {
            provider: provider.unwrap_or_default().to_owned(),
            outcome: outcome.as_str(),
        };
        self.sends.get_or_create(&labels).inc_by(count);
    }
}
