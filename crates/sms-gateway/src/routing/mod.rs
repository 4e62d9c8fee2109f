//! Routing with failover: an `SmsSender` over several providers, so one provider's outage,
//! throttling or empty balance does not stop codes from arriving.
//!
//! For each message the router picks the route of the number's country (or the default
//! order) and walks it:
//!
//! - a provider whose circuit breaker is open is skipped (see [`BreakerState`]);
//! - each call has a timeout; a timeout or a retryable error is retried on the same
//!   provider with exponential backoff (or the provider's `retry_after` if longer), at most
//!   `max_retries` times, then the router fails over to the next provider;
//! - `InvalidNumber` and `Rejected` are about the number, not the provider: the send stops
//!   there, since every provider would refuse it too (and the breaker counts it a success);
//! - `Authentication`, `InsufficientBalance` and `Other` fail over at once, without retries.
//!
//! When every provider failed, the answer is retryable if any failure was (the outbox may
//! try later), otherwise the last permanent error; its reason lists each provider's.

mod breaker;
mod builder;
mod failures;
mod policy;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use twostep_core::clock::Clock;
use twostep_core::phone::{PhoneNumber, Region};
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

pub use breaker::{BreakerPolicy, BreakerState};
pub use builder::{RouterBuilder, RouterError};
pub use policy::RouterPolicy;

use breaker::Breaker;
use failures::Failures;

/// An ordered list of providers with per-country routes; see the module docs.
pub struct Router {
    providers: Vec<Provider>,
    default_route: Vec<usize>,
    routes: HashMap<Region, Vec<usize>>,
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
}

struct Provider {
    name: String,
    sender: Arc<dyn SmsSender>,
    breaker: Breaker,
}

// === impl Router ===

impl Router {
    /// `clock` drives the circuit breakers and the expiry check.
    pub fn builder(clock: Arc<dyn Clock>) -> RouterBuilder {
        RouterBuilder {
            providers: Vec::new(),
            routes: Vec::new(),
            default_order: None,
            policy: RouterPolicy::default(),
            clock,
        }
    }

    /// The breaker state of the provider called `name`.
    pub fn breaker_state(&self, name: &str) -> Option<BreakerState> {
        let now = self.clock.now();
        self.providers
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.breaker.state(now))
    }

    /// Every provider's name and breaker state, in the configured order (for metrics).
    pub fn breaker_states(&self) -> Vec<(&str, BreakerState)> {
        let now = self.clock.now();
        self.providers
            .iter()
            .map(|p| (p.name.as_str(), p.breaker.state(now)))
            .collect()
    }

    /// The adapter called `name`, to send through it alone (SendTestSms with a provider):
    /// no retries, no failover, no breaker.
    pub fn provider(&self, name: &str) -> Option<Arc<dyn SmsSender>> {
        self.providers
            .iter()
            .find(|p| p.name == name)
            .map(|p| Arc::clone(&p.sender))
    }

    /// Whether any provider serves numbers of `to`'s country (a route, or the default order).
    pub fn serves(&self, to: &PhoneNumber) -> bool {
        !self.route_for_number(to).is_empty()
    }

    fn route_for(&self, sms: &OutgoingSms) -> &[usize] {
        self.route_for_number(&sms.to)
    }

    fn route_for_number(&self, to: &PhoneNumber) -> &[usize] {
        to.region()
            .and_then(|region| self.routes.get(&region))
            .unwrap_or(&self.default_route)
    }

    /// Tries one provider: its calls with retries. `Ok(Some)` delivered, `Ok(None)` fail
    /// over, `Err` stop the whole send.
    async fn try_provider(
        &self,
        p: &Provider,
        sms: &OutgoingSms,
        seen: &mut Failures,
    ) -> Result<Option<SentSms>, SendError> {
        for retry in 0..=self.policy.max_retries {
            let now = self.clock.now();
            if sms.expires_at <= now {
                return Err(SendError::Permanent {
                    kind: PermanentKind::Other,
                    reason: "the message expired before it could be sent".to_owned(),
                });
            }
            let permit = match p.breaker.try_acquire(now) {
                Ok(permit) => permit,
                Err(refusal) => {
                    seen.skipped(&p.name, refusal);
                    return Ok(None);
                }
            };
            let res = tokio::time::timeout(self.policy.call_timeout, p.sender.send(sms))
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::Retryable {
                        retry_after: None,
                        reason: "call timed out".to_owned(),
                    })
                });
            match res {
                Ok(sent) => {
                    permit.success();
                    return Ok(Some(SentSms {
                        provider: p.name.clone(),
                        provider_message_id: sent.provider_message_id,
                    }));
                }
                Err(SendError::Permanent { kind, reason })
                    if matches!(kind, PermanentKind::InvalidNumber | PermanentKind::Rejected) =>
                {
                    permit.success();
                    tracing::info!(tenant = %sms.tenant, provider = %p.name, to = ?sms.to, %reason, "number refused; not failing over");
                    return Err(SendError::Permanent {
                        kind,
                        reason: format!("{}: {reason}", p.name),
                    });
                }
                Err(SendError::Permanent { kind, reason }) => {
                    permit.failure(self.clock.now());
                    tracing::warn!(tenant = %sms.tenant, provider = %p.name, to = ?sms.to, %reason, "provider failed; failing over");
                    seen.permanent(&p.name, kind, &reason);
                    return Ok(None);
                }
                Err(SendError::Retryable {
                    retry_after,
                    reason,
                }) => {
                    permit.failure(self.clock.now());
                    tracing::warn!(tenant = %sms.tenant, provider = %p.name, to = ?sms.to, %reason, retry, "provider failed; may retry");
                    seen.retryable(&p.name, &reason);
                    if retry == self.policy.max_retries {
                        return Ok(None);
                    }
                    let Some(delay) = self.policy.delay(retry, retry_after) else {
                        return Ok(None);
                    };
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl SmsSender for Router {
    fn name(&self) -> &str {
        "router"
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<SentSms, SendError> {
        // Its text is empty: only the tenant's code provider may take it (`TenantRouting`).
        if sms.provider_code {
            return Err(SendError::Permanent {
                kind: PermanentKind::Other,
                reason: "a provider-managed code has no text for a text provider".to_owned(),
            });
        }
        let mut seen = Failures::default();
        for &i in self.route_for(sms) {
            let Some(p) = self.providers.get(i) else {
                continue;
            };
            if let Some(sent) = self.try_provider(p, sms, &mut seen).await? {
                return Ok(sent);
            }
        }
        Err(seen.into_error(self.clock.now()))
    }
}

// === impl Failures ===
