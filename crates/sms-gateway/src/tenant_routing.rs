//! [`TenantRouting`]: the `SmsSender` the outbox worker sends through. A message of a tenant
//! that set its own providers (SetSmsProviders) goes through the tenant's router; any other
//! through the global one from configuration.
//!
//! A provider-code message (a Twilio Verify start) goes to the tenant's [`VerifyServices`]
//! and nowhere else: a text provider would send an empty SMS, so it never fails over. The
//! tenant's text router leaves its `twilio_verify` entry out; a tenant whose only entry is
//! that one sends its notices through the global providers.
//!
//! A tenant's router is built from its settings when first needed and kept while the
//! settings' `updated_at` stays the same, so its circuit breakers keep their state between
//! messages; a change (seen within the settings cache's lifetime on every instance) builds a
//! new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twostep_core::ids::TenantId;
use twostep_core::ports::{
    OutgoingSms, PermanentKind, ProviderEntry, SendError, SentSms, SmsSender, SmsSettingsStore,
};

use crate::routing::{BreakerState, Router};
use crate::verify_services::{self, VerifyServices};

/// Builds a tenant's router from its provider entries (the server checks and converts them
/// as it does its configuration file, and points their status callbacks at the tenant's
/// receipt endpoints, hence the tenant). The error is a one-line reason without secrets.
pub type BuildRouter = dyn Fn(TenantId, &[ProviderEntry]) -> Result<Router, String> + Send + Sync;

/// The providers a message can go through: a router and each provider's kind by name.
#[derive(Clone)]
pub struct Route {
    pub sender: Arc<dyn SmsSender>,
    pub router: Option<Arc<Router>>,
    pub kinds: Arc<HashMap<String, String>>,
    /// Whether these are the tenant's own providers (else the global ones).
    pub tenant_specific: bool,
}

impl Route {
    /// The provider called `name` alone (no failover), with its kind.
    pub fn provider(&self, name: &str) -> Option<(Arc<dyn SmsSender>, String)> {
        let sender = self.router.as_ref()?.provider(name)?;
        let kind = self.kinds.get(name).cloned().unwrap_or_default();
        Some((sender, kind))
    }
}

/// A tenant's router, with the `updated_at` of the settings it was built from.
type Built = (Option<DateTime<Utc>>, Route);

pub struct TenantRouting {
    settings: Arc<dyn SmsSettingsStore>,
    global: Route,
    build: Arc<BuildRouter>,
    routers: Mutex<HashMap<TenantId, Built>>,
    verify: Option<Arc<VerifyServices>>,
}

impl TenantRouting {
    pub fn new(
        settings: Arc<dyn SmsSettingsStore>,
        global: Route,
        build: Arc<BuildRouter>,
    ) -> Self {
        Self {
            settings,
            global,
            build,
            routers: Mutex::new(HashMap::new()),
            verify: None,
        }
    }

    /// Sends provider-code messages through `verify` (without it they fail permanently).
    pub fn with_verify(mut self, verify: Arc<VerifyServices>) -> Self {
        self.verify = Some(verify);
        self
    }

    /// The route of the tenant's messages now.
    pub async fn route(&self, tenant: TenantId) -> Result<Route, SendError> {
        let settings = self
            .settings
            .get(tenant)
            .await
            .map_err(|e| SendError::Retryable {
                retry_after: None,
                reason: format!("tenant SMS settings unavailable: {e}"),
            })?;
        let is_text = |p: &&ProviderEntry| p.kind != verify_services::KIND;
        let mut routers = self.routers.lock().unwrap_or_else(|e| e.into_inner());
        if !settings.providers.iter().any(|p| is_text(&p)) {
            // A router of providers the tenant has since removed would still be counted by
            // `tenant_breaker_states`.
            routers.remove(&tenant);
            return Ok(self.global.clone());
        }
        if let Some((at, route)) = routers.get(&tenant)
            && *at == settings.updated_at
        {
            return Ok(route.clone());
        }
        let text: Vec<ProviderEntry> = settings.providers.iter().filter(is_text).cloned().collect();
        let router = match (self.build)(tenant, &text) {
            Ok(router) => Arc::new(router),
            Err(reason) => {
                // Stored settings were checked when set; this is a newer binary refusing them.
                tracing::error!(tenant = %tenant, %reason, "the tenant's SMS providers do not build; using the global providers");
                return Ok(self.global.clone());
            }
        };
        let kinds = text
            .iter()
            .map(|p| (p.id.clone(), p.kind.clone()))
            .collect();
        let route = Route {
            sender: Arc::clone(&router) as Arc<dyn SmsSender>,
            router: Some(router),
            kinds: Arc::new(kinds),
            tenant_specific: true,
        };
        routers.insert(tenant, (settings.updated_at, route.clone()));
        Ok(route)
    }

    /// The circuit breaker state of each of the tenants' own providers, for metrics. Only
    /// the routers this instance has built are known: a tenant's is built by its first
    /// message since the start or since its settings changed.
    pub fn tenant_breaker_states(&self) -> Vec<BreakerState> {
        let routers = self.routers.lock().unwrap_or_else(|e| e.into_inner());
        routers
            .values()
            .filter_map(|(_, route)| route.router.as_ref())
            .flat_map(|router| router.breaker_states().into_iter().map(|(_, state)| state))
            .collect()
    }
}

#[async_trait]
impl SmsSender for TenantRouting {
    fn name(&self) -> &str {
        "tenant-routing"
    }

    async fn send(&self, message: &OutgoingSms) -> Result<SentSms, SendError> {
        if message.provider_code {
            return match &self.verify {
                Some(verify) => verify.start(message).await,
                None => Err(SendError::Permanent {
                    kind: PermanentKind::Other,
                    reason: "provider-managed codes are not set up on this instance".to_owned(),
                }),
            };
        }
        let route = self.route(message.tenant).await?;
        route.sender.send(message).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use twostep_core::clock::SystemClock;
    use twostep_core::phone::PhoneNumber;
    use twostep_core::ports::{RepoError, SmsSettingsError, SmsText, TenantSmsSettings};

    use super::*;
    use crate::routing::{BreakerPolicy, RouterPolicy};

    /// Answers `SentSms` naming itself.
    struct Named(&'static str);

    #[async_trait]
    impl SmsSender for Named {
        fn name(&self) -> &str {
            self.0
        }
        async fn send(&self, _: &OutgoingSms) -> Result<SentSms, SendError> {
            Ok(SentSms {
                provider: self.0.to_owned(),
                provider_message_id: "id".to_owned(),
            })
        }
    }

    #[derive(Default)]
    struct Settings(Mutex<HashMap<TenantId, Arc<TenantSmsSettings>>>);

    #[async_trait]
    impl SmsSettingsStore for Settings {
        async fn get(&self, tenant: TenantId) -> Result<Arc<TenantSmsSettings>, RepoError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(&tenant)
                .cloned()
                .unwrap_or_default())
        }
        async fn put(
            &self,
            tenant: TenantId,
            settings: TenantSmsSettings,
            _: DateTime<Utc>,
        ) -> Result<Arc<TenantSmsSettings>, SmsSettingsError> {
            let settings = Arc::new(settings);
            self.0.lock().unwrap().insert(tenant, Arc::clone(&settings));
            Ok(settings)
        }
    }

    fn entry(id: &str) -> ProviderEntry {
        ProviderEntry {
            id: id.into(),
            kind: "generic_http".into(),
            settings: Default::default(),
            secrets: Default::default(),
            countries: Vec::new(),
            timeout: None,
        }
    }

    /// The global route: one provider that names itself `global`.
    fn global() -> Route {
        Route {
            sender: Arc::new(Named("global")),
            router: None,
            kinds: Arc::new(HashMap::new()),
            tenant_specific: false,
        }
    }

    fn sms(tenant: TenantId) -> OutgoingSms {
        OutgoingSms {
            tenant,
            to: PhoneNumber::from_e164("+14155550100").unwrap(),
            text: SmsText::new("hi".into()),
            provider_code: false,
            purpose: None,
            idempotency_key: "k".into(),
            expires_at: Utc::now() + chrono::Duration::minutes(5),
        }
    }

    #[tokio::test]
    async fn a_tenant_with_providers_uses_its_router_others_the_global_one() {
        let settings = Arc::new(Settings::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&builds);
        let build: Arc<BuildRouter> = Arc::new(move |_: TenantId, entries: &[ProviderEntry]| {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut b = Router::builder(Arc::new(SystemClock));
            for e in entries {
                let name: &'static str = if e.id == "own" { "own" } else { "own-2" };
                b = b.provider(e.id.clone(), Arc::new(Named(name)));
            }
            b.build().map_err(|e| e.to_string())
        });
        let global = global();
        let routing = TenantRouting::new(settings.clone(), global, build);
        let (a, b) = (TenantId::random(), TenantId::random());
        let now = Utc::now();
        let with = |id: &str, at: DateTime<Utc>| TenantSmsSettings {
            providers: vec![entry(id)],
            updated_at: Some(at),
            ..TenantSmsSettings::default()
        };
        settings.put(a, with("own", now), now).await.unwrap();

        assert_eq!(routing.send(&sms(a)).await.unwrap().provider, "own");
        assert_eq!(routing.send(&sms(b)).await.unwrap().provider, "global");
        assert_eq!(routing.send(&sms(a)).await.unwrap().provider, "own");
        assert_eq!(builds.load(Ordering::SeqCst), 1, "kept while unchanged");
        let route = routing.route(a).await.unwrap();
        assert!(route.tenant_specific);
        assert!(route.provider("own").is_some() && route.provider("nope").is_none());

        let later = now + chrono::Duration::seconds(1);
        settings.put(a, with("other", later), later).await.unwrap();
        assert_eq!(routing.send(&sms(a)).await.unwrap().provider, "other");
        assert_eq!(builds.load(Ordering::SeqCst), 2, "rebuilt on change");

        settings
            .put(a, TenantSmsSettings::default(), later)
            .await
            .unwrap();
        assert_eq!(routing.send(&sms(a)).await.unwrap().provider, "global");
    }

    /// Answers every call with a retryable error, as a provider that is down.
    struct Down;

    #[async_trait]
    impl SmsSender for Down {
        fn name(&self) -> &str {
            "down"
        }
        async fn send(&self, _: &OutgoingSms) -> Result<SentSms, SendError> {
            Err(SendError::Retryable {
                retry_after: None,
                reason: "503".into(),
            })
        }
    }

    /// Each tenant's own providers are counted by their breakers' states, once their router is
    /// built, and no longer once the tenant has gone back to the global providers.
    #[tokio::test]
    async fn the_tenants_breakers_are_reported_while_their_providers_are_set() {
        let settings = Arc::new(Settings::default());
        let build: Arc<BuildRouter> = Arc::new(|_: TenantId, entries: &[ProviderEntry]| {
            let mut b = Router::builder(Arc::new(SystemClock)).policy(RouterPolicy {
                max_retries: 0,
                breaker: BreakerPolicy {
                    failure_threshold: 1,
                    ..BreakerPolicy::default()
                },
                ..RouterPolicy::default()
            });
            for e in entries {
                let sender: Arc<dyn SmsSender> = if e.id == "down" {
                    Arc::new(Down)
                } else {
                    Arc::new(Named("up"))
                };
                b = b.provider(e.id.clone(), sender);
            }
            b.build().map_err(|e| e.to_string())
        });
        let routing = TenantRouting::new(settings.clone(), global(), build);
        let (a, b) = (TenantId::random(), TenantId::random());
        let now = Utc::now();
        let providers = |ids: &[&str]| TenantSmsSettings {
            providers: ids.iter().map(|id| entry(id)).collect(),
            updated_at: Some(now),
            ..TenantSmsSettings::default()
        };
        settings
            .put(a, providers(&["down", "up"]), now)
            .await
            .unwrap();
        settings.put(b, providers(&["up"]), now).await.unwrap();
        assert!(routing.tenant_breaker_states().is_empty(), "none built yet");

        assert_eq!(routing.send(&sms(a)).await.unwrap().provider, "up");
        routing.send(&sms(b)).await.unwrap();
        let mut states = routing.tenant_breaker_states();
        states.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(
            states,
            [
                BreakerState::Closed,
                BreakerState::Closed,
                BreakerState::Open
            ]
        );

        settings
            .put(a, TenantSmsSettings::default(), now)
            .await
            .unwrap();
        assert_eq!(routing.send(&sms(a)).await.unwrap().provider, "global");
        assert_eq!(routing.tenant_breaker_states(), [BreakerState::Closed]);
    }

    #[tokio::test]
    async fn provider_codes_never_reach_a_text_provider_and_verify_entries_are_no_text_route() {
        let settings = Arc::new(Settings::default());
        let build: Arc<BuildRouter> = Arc::new(|_: TenantId, entries: &[ProviderEntry]| {
            assert!(entries.iter().all(|e| e.kind != "twilio_verify"));
            let mut b = Router::builder(Arc::new(SystemClock));
            for e in entries {
                b = b.provider(e.id.clone(), Arc::new(Named("own")));
            }
            b.build().map_err(|e| e.to_string())
        });
        let global = global();
        let routing = TenantRouting::new(settings.clone(), global, build);
        let tenant = TenantId::random();
        let now = Utc::now();
        let verify = ProviderEntry {
            kind: "twilio_verify".into(),
            ..entry("verify")
        };
        let only_verify = TenantSmsSettings {
            providers: vec![verify],
            updated_at: Some(now),
            ..TenantSmsSettings::default()
        };
        settings.put(tenant, only_verify, now).await.unwrap();
        // Notices of a tenant whose only entry makes codes go through the global providers.
        assert_eq!(routing.send(&sms(tenant)).await.unwrap().provider, "global");
        // A code start without a code provider fails for good, never as an empty text.
        let start = OutgoingSms {
            provider_code: true,
            text: SmsText::new(String::new()),
            ..sms(tenant)
        };
        assert!(matches!(
            routing.send(&start).await,
            Err(SendError::Permanent { .. })
        ));
    }
}
