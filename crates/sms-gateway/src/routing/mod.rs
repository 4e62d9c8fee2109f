//! Routing with failover: an `SmsSender` over several providers, so one provider's outage,
//! throttling or empty balance does not stop codes from arriving.
//!
//! For each message the router picks the route of the number's country (or the default
//! order) and walks it:
//!
//! - a provider whose circuit breaker is open is skipped (see [`breaker`]);
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
mod policy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twostep_core::clock::Clock;
use twostep_core::phone::Region;
use twostep_core::ports::{OutgoingSms, PermanentKind, SendError, SentSms, SmsSender};

pub use breaker::{BreakerPolicy, BreakerState};
pub use policy::RouterPolicy;

use breaker::{Breaker, Refusal};

/// An ordered list of providers with per-country routes; see the module docs.
pub struct Router {
    providers: Vec<Provider>,
    default_route: Vec<usize>,
    routes: HashMap<Region, Vec<usize>>,
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
}

/// Collects providers and routes; [`RouterBuilder::build`] checks them.
pub struct RouterBuilder {
    providers: Vec<(String, Arc<dyn SmsSender>)>,
    routes: Vec<(Region, Vec<String>)>,
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("a router needs at least one provider")]
    NoProviders,
    #[error("provider name {0:?} is used twice")]
    DuplicateProvider(String),
    #[error("the route for {region} names unknown provider {name:?}")]
    UnknownProvider { region: Region, name: String },
    #[error("the route for {0} names no provider")]
    EmptyRoute(Region),
}

struct Provider {
    name: String,
    sender: Arc<dyn SmsSender>,
    breaker: Breaker,
}

/// What the walk over a route has seen so far.
#[derive(Default)]
struct Failures {
    reasons: Vec<String>,
    any_retryable: bool,
    last_permanent: Option<PermanentKind>,
    reopens_at: Option<DateTime<Utc>>,
}

// === impl RouterBuilder ===

impl RouterBuilder {
    /// Adds a provider to the end of the default order; `name` is what `SentSms.provider`
    /// reports and what routes refer to.
    pub fn provider(mut self, name: impl Into<String>, sender: Arc<dyn SmsSender>) -> Self {
        self.providers.push((name.into(), sender));
        self
    }

    /// Sends numbers of `region` through these providers, in this order, instead of the
    /// default order.
    pub fn route<S: Into<String>>(
        mut self,
        region: Region,
        providers: impl IntoIterator<Item = S>,
    ) -> Self {
        let names = providers.into_iter().map(Into::into).collect();
        self.routes.push((region, names));
        self
    }

    pub fn policy(mut self, policy: RouterPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn build(self) -> Result<Router, RouterError> {
        if self.providers.is_empty() {
            return Err(RouterError::NoProviders);
        }
        let mut index = HashMap::new();
        for (i, (name, _)) in self.providers.iter().enumerate() {
            if index.insert(name.clone(), i).is_some() {
                return Err(RouterError::DuplicateProvider(name.clone()));
            }
        }
        let mut routes = HashMap::new();
        for (region, names) in self.routes {
            if names.is_empty() {
                return Err(RouterError::EmptyRoute(region));
            }
            let order = names
                .into_iter()
                .map(|name| {
                    index
                        .get(&name)
                        .copied()
                        .ok_or(RouterError::UnknownProvider { region, name })
                })
                .collect::<Result<Vec<_>, _>>()?;
            routes.insert(region, order);
        }
        let policy = self.policy;
        Ok(Router {
            default_route: (0..self.providers.len()).collect(),
            providers: self
                .providers
                .into_iter()
                .map(|(name, sender)| Provider {
                    name,
                    sender,
                    breaker: Breaker::new(policy.breaker),
                })
                .collect(),
            routes,
            policy,
            clock: self.clock,
        })
    }
}

// === impl Router ===

impl Router {
    /// `clock` drives the circuit breakers and the expiry check.
    pub fn builder(clock: Arc<dyn Clock>) -> RouterBuilder {
        RouterBuilder {
            providers: Vec::new(),
            routes: Vec::new(),
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

    fn route_for(&self, sms: &OutgoingSms) -> &[usize] {
        sms.to
            .region()
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
                    tracing::info!(provider = %p.name, to = ?sms.to, %reason, "number refused; not failing over");
                    return Err(SendError::Permanent {
                        kind,
                        reason: format!("{}: {reason}", p.name),
                    });
                }
                Err(SendError::Permanent { kind, reason }) => {
                    permit.failure(self.clock.now());
                    tracing::warn!(provider = %p.name, to = ?sms.to, %reason, "provider failed; failing over");
                    seen.permanent(&p.name, kind, &reason);
                    return Ok(None);
                }
                Err(SendError::Retryable {
                    retry_after,
                    reason,
                }) => {
                    permit.failure(self.clock.now());
                    tracing::warn!(provider = %p.name, to = ?sms.to, %reason, retry, "provider failed; may retry");
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

impl Failures {
    fn skipped(&mut self, name: &str, refusal: Refusal) {
        self.any_retryable = true;
        match refusal {
            Refusal::OpenUntil(until) => {
                self.reasons.push(format!("{name}: circuit open"));
                self.reopens_at = Some(self.reopens_at.map_or(until, |t| t.min(until)));
            }
            Refusal::ProbeInFlight => self.reasons.push(format!("{name}: circuit half-open")),
        }
    }

    fn permanent(&mut self, name: &str, kind: PermanentKind, reason: &str) {
        self.last_permanent = Some(kind);
        self.reasons.push(format!("{name}: {reason}"));
    }

    fn retryable(&mut self, name: &str, reason: &str) {
        self.any_retryable = true;
        self.reasons.push(format!("{name}: {reason}"));
    }

    fn into_error(self, now: DateTime<Utc>) -> SendError {
        let reason = format!(
            "no provider accepted the message ({})",
            self.reasons.join("; ")
        );
        if self.any_retryable {
            let retry_after = self
                .reopens_at
                .and_then(|at| (at - now).to_std().ok())
                .filter(|d| *d > Duration::ZERO);
            return SendError::Retryable {
                retry_after,
                reason,
            };
        }
        SendError::Permanent {
            kind: self.last_permanent.unwrap_or(PermanentKind::Other),
            reason,
        }
    }
}
