//! Building the [`Router`] from configuration: one [`ProviderSpec`] per configured provider
//! (its name and its kind's settings, in the adapters' own config structs), optional routes
//! by country, and the routing policy. The server turns its config file into these; nothing
//! here reads files or the environment.

use std::sync::Arc;
use std::time::Duration;

use twostep_core::clock::Clock;
use twostep_core::phone::Region;
use twostep_core::ports::SmsSender;

use crate::console::ConsoleSink;
use crate::providers::generic_http::{self, GenericHttpConfig, GenericHttpSms};
use crate::providers::{
    BulkSms, BulkSmsConfig, BulkSmsEapi, BulkSmsEapiConfig, ClickatellConfig,
    ClickatellLegacyConfig, ClickatellLegacySms, ClickatellSms, MessageBirdConfig, MessageBirdSms,
    PlivoConfig, PlivoSms, TwilioConfig, TwilioSms, VonageConfig, VonageSms,
};
use crate::routing::{Router, RouterError, RouterPolicy};
use crate::transport;

/// One provider kind with its settings.
#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// The development sink (standard error). The server refuses it in production.
    Console,
    Twilio(TwilioConfig),
    Clickatell(ClickatellConfig),
    ClickatellLegacy(ClickatellLegacyConfig),
    Vonage(VonageConfig),
    Plivo(PlivoConfig),
    BulkSms(BulkSmsConfig),
    BulkSmsEapi(BulkSmsEapiConfig),
    MessageBird(MessageBirdConfig),
    /// Its `name` is replaced by the spec's.
    GenericHttp(GenericHttpConfig),
}

impl ProviderKind {
    /// The configuration spelling (`kind = "…"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::Console => "console",
            ProviderKind::Twilio(_) => "twilio",
            ProviderKind::Clickatell(_) => "clickatell",
            ProviderKind::ClickatellLegacy(_) => "clickatell_legacy",
            ProviderKind::Vonage(_) => "vonage",
            ProviderKind::Plivo(_) => "plivo",
            ProviderKind::BulkSms(_) => "bulksms",
            ProviderKind::BulkSmsEapi(_) => "bulksms_eapi",
            ProviderKind::MessageBird(_) => "messagebird",
            ProviderKind::GenericHttp(_) => "generic_http",
        }
    }

    /// The adapter's own per-request timeout.
    fn timeout(&self) -> Option<Duration> {
        match self {
            ProviderKind::Console => None,
            ProviderKind::Twilio(c) => Some(c.timeout),
            ProviderKind::Clickatell(c) => Some(c.timeout),
            ProviderKind::ClickatellLegacy(c) => Some(c.timeout),
            ProviderKind::Vonage(c) => Some(c.timeout),
            ProviderKind::Plivo(c) => Some(c.timeout),
            ProviderKind::BulkSms(c) => Some(c.timeout),
            ProviderKind::BulkSmsEapi(c) => Some(c.timeout),
            ProviderKind::MessageBird(c) => Some(c.timeout),
            ProviderKind::GenericHttp(c) => Some(c.timeout),
        }
    }
}

/// A configured provider: the name routes and outbox rows use, and its kind.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub name: String,
    pub kind: ProviderKind,
}

/// Numbers of `region` go through `providers`, in order, instead of the default order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub region: Region,
    pub providers: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("provider {index} ({name:?}): {source}")]
    GenericHttp {
        index: usize,
        name: String,
        #[source]
        source: generic_http::ConfigError,
    },
    #[error(transparent)]
    Router(#[from] RouterError),
    #[error("the HTTP client could not be built")]
    Http(#[source] reqwest::Error),
}

/// Builds the adapters (sharing one HTTP client) and the router over them, in the order
/// given. The router's per-call timeout is raised, if needed, to a second above the
/// longest adapter timeout, so that each adapter's own `timeout_ms` is what limits a call.
pub fn build(
    providers: &[ProviderSpec],
    routes: &[RouteSpec],
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
) -> Result<Router, FactoryError> {
    build_with_default_order(providers, routes, None, policy, clock)
}

/// As [`build`], with numbers of countries without a route sent through `default_order`
/// only (a tenant's providers limited to some countries); `None` means every provider.
pub fn build_with_default_order(
    providers: &[ProviderSpec],
    routes: &[RouteSpec],
    default_order: Option<&[String]>,
    mut policy: RouterPolicy,
    clock: Arc<dyn Clock>,
) -> Result<Router, FactoryError> {
    let http = transport::shared_client().map_err(FactoryError::Http)?;
    if let Some(longest) = providers.iter().filter_map(|p| p.kind.timeout()).max() {
        policy.call_timeout = policy
            .call_timeout
            .max(longest.saturating_add(Duration::from_secs(1)));
    }
    let mut builder = Router::builder(clock).policy(policy);
    for (index, spec) in providers.iter().enumerate() {
        builder = builder.provider(spec.name.clone(), sender(index, spec, &http)?);
    }
    for route in routes {
        builder = builder.route(route.region, route.providers.iter().cloned());
    }
    if let Some(order) = default_order {
        builder = builder.default_order(order.iter().cloned());
    }
    Ok(builder.build()?)
}

/// The adapter for one spec.
pub fn sender(
    index: usize,
    spec: &ProviderSpec,
    http: &reqwest::Client,
) -> Result<Arc<dyn SmsSender>, FactoryError> {
    let http = http.clone();
    Ok(match &spec.kind {
        ProviderKind::Console => Arc::new(ConsoleSink),
        ProviderKind::Twilio(c) => Arc::new(TwilioSms::new(http, c.clone())),
        ProviderKind::Clickatell(c) => Arc::new(ClickatellSms::new(http, c.clone())),
        ProviderKind::ClickatellLegacy(c) => Arc::new(ClickatellLegacySms::new(http, c.clone())),
        ProviderKind::Vonage(c) => Arc::new(VonageSms::new(http, c.clone())),
        ProviderKind::Plivo(c) => Arc::new(PlivoSms::new(http, c.clone())),
        ProviderKind::BulkSms(c) => Arc::new(BulkSms::new(http, c.clone())),
        ProviderKind::BulkSmsEapi(c) => Arc::new(BulkSmsEapi::new(http, c.clone())),
        ProviderKind::MessageBird(c) => Arc::new(MessageBirdSms::new(http, c.clone())),
        ProviderKind::GenericHttp(c) => {
            let config = GenericHttpConfig {
                name: spec.name.clone(),
                ..c.clone()
            };
            Arc::new(GenericHttpSms::new(http, config).map_err(|source| {
                FactoryError::GenericHttp {
                    index,
                    name: spec.name.clone(),
                    source,
                }
            })?)
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use secrecy::SecretString;
    use twostep_core::clock::SystemClock;

    use super::*;
    use crate::providers::generic_http::HttpMethod;

    fn generic(name: &str, url: &str) -> ProviderSpec {
        ProviderSpec {
            name: name.to_owned(),
            kind: ProviderKind::GenericHttp(GenericHttpConfig::new(
                "ignored",
                SecretString::from(url.to_owned()),
                HttpMethod::Post,
            )),
        }
    }

    #[test]
    fn builds_a_router_in_the_configured_order_with_routes() {
        let providers = [
            generic("primary", "http://127.0.0.1:1/send"),
            ProviderSpec {
                name: "dev".to_owned(),
                kind: ProviderKind::Console,
            },
        ];
        let routes = [RouteSpec {
            region: Region::parse("NL").unwrap(),
            providers: vec!["dev".to_owned()],
        }];
        let router = build(
            &providers,
            &routes,
            RouterPolicy::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        assert!(router.breaker_state("primary").is_some());
        assert!(router.breaker_state("dev").is_some());
    }

    #[test]
    fn bad_specs_are_refused_naming_the_provider() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let e = build(
            &[generic("gw", "ftp://example.com")],
            &[],
            RouterPolicy::default(),
            Arc::clone(&clock),
        )
        .err()
        .unwrap();
        assert!(
            matches!(e, FactoryError::GenericHttp { index: 0, ref name, .. } if name == "gw"),
            "{e}"
        );
        let e = build(&[], &[], RouterPolicy::default(), Arc::clone(&clock))
            .err()
            .unwrap();
        assert!(matches!(e, FactoryError::Router(RouterError::NoProviders)));
        let route = RouteSpec {
            region: Region::parse("DE").unwrap(),
            providers: vec!["nope".to_owned()],
        };
        let e = build(
            &[generic("gw", "http://127.0.0.1:1/")],
            &[route],
            RouterPolicy::default(),
            clock,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
