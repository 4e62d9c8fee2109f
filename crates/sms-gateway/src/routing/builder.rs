//! Assembling a [`Router`]: providers in default order, routes by country, the policy; the
//! names are checked once here so a typo in a route fails at start-up, not on a send.

use std::collections::HashMap;
use std::sync::Arc;

use twostep_core::clock::Clock;
use twostep_core::phone::Region;
use twostep_core::ports::SmsSender;

use super::breaker::Breaker;
use super::{Provider, Router, RouterPolicy};

/// Collects providers and routes; [`RouterBuilder::build`] checks them.
pub struct RouterBuilder {
    pub(super) providers: Vec<(String, Arc<dyn SmsSender>)>,
    pub(super) routes: Vec<(Region, Vec<String>)>,
    /// The order for numbers without a route; `None` means every provider in order.
    pub(super) default_order: Option<Vec<String>>,
    pub(super) policy: RouterPolicy,
    pub(super) clock: Arc<dyn Clock>,
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

    /// Sends numbers of countries without a route through these providers only (a tenant's
    /// providers limited to some countries serve no other); by default, every provider.
    pub fn default_order<S: Into<String>>(
        mut self,
        providers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.default_order = Some(providers.into_iter().map(Into::into).collect());
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
        let default_route = match self.default_order {
            None => (0..self.providers.len()).collect(),
            Some(names) => names
                .into_iter()
                .filter_map(|name| index.get(&name).copied())
                .collect(),
        };
        let policy = self.policy;
        Ok(Router {
            default_route,
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
