//! Assembles the server: storage, short-lived store, SMS outbox, flows, gRPC services,
//! health and reflection, tower layers, the HTTP listeners (receipts, metrics); and runs it
//! until a shutdown signal.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use twostep_core::audit_buffer::BufferedAuditLog;
use twostep_core::clock::{Clock, SystemClock};
use twostep_core::flows::api_clients::ApiClients;
use twostep_core::flows::pumping::KillSwitch;
use twostep_core::flows::{
    Deps, admin, audit_retention, numbering_plans, session_retention, suspicious,
    tenants::TenantCache,
};
use twostep_core::otp::CodeKey;
use twostep_core::password::{HashCost, PasswordHasher};
use twostep_core::ports::SessionEvents;
use twostep_core::ports::SmsSettingsStore;
use twostep_core::ports::{
    NoRiskSource, NumberRiskCheck, ShortLivedStore, SmsSender, StaticSimSwapList, TenantRepo,
};
use twostep_core::session_cache::CachedSessions;
use twostep_proto::v1::account_service_server::AccountServiceServer;
use twostep_proto::v1::admin_service_server::AdminServiceServer;
use twostep_proto::v1::auth_service_server::AuthServiceServer;
use twostep_shortlived::{MemorySessionEvents, MemoryStore, RedisConfig, RedisStore};
use twostep_sms_gateway::factory::{self, FactoryError};
use twostep_sms_gateway::{
    ConsoleSink, NoProvider, OutboxKey, OutboxWorker, Route, SealedSmsSettings, SqlOutbox,
    TenantRouting, VerifyServices,
};
use twostep_storage::{Database, DbOptions};

use crate::authn::{Authn, AuthnLayer};
use crate::config::{Environment, Settings};
use crate::health::{self, Probe};
use crate::http::{HttpServer, MetricsEndpoint, ReceiptEndpoint, RunningHttp, TenantVerifiers};
use crate::memory;
use crate::metrics::{GrpcMethods, Metrics};
use crate::services::account::AccountApi;
use crate::services::admin::AdminApi;
use crate::services::auth::AuthApi;
use crate::state::AppState;
use crate::tls;
use crate::{tenant_sms, tenant_verify};

/// Watch messages in flight to the abandoned-login task; a burst beyond it goes unwatched
/// (logged), never slows a login.
const ABANDONED_WATCH_QUEUE: usize = 10_000;
/// Audit events queued for the writer; a full queue makes requests wait, never drops one.
const AUDIT_QUEUE: usize = 4096;

const BACKUP_CODE_COST: HashCost = HashCost {
    m_kib: 4096,
    t: 1,
    p: 1,
};

pub struct Application {
    listener: TcpListener,
    settings: Settings,
    state: AppState,
    database: Database,
    store: Arc<dyn ShortLivedStore>,
    /// Started by `run_until_stopped`, stopped after the last RPC.
    outbox_worker: OutboxWorker,
    /// The delivery-receipt listener (`[http]`), bound; served by `run_until_stopped`.
    http: Option<HttpServer>,
    /// The Prometheus listener (`[metrics]`), bound; served by `run_until_stopped`.
    metrics_http: Option<HttpServer>,
    metrics: Arc<Metrics>,
    /// Alerts on abandoned second factors (R13); started by `run_until_stopped`.
    abandoned_watcher: suspicious::AbandonedWatcher,
}

impl Application {
    /// Connects to the dependencies, runs migrations when configured, makes sure the default
    /// tenant exists, and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let database = connect_database(&settings).await?;
        if settings.run_migrations {
            database
                .migrate()
                .await
                .context("running database migrations")?;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // Session revocations travel with the short-lived store: Redis pub/sub when
        // instances share a Redis, a direct call in the one-process embedded default.
        let (store, session_events): (Arc<dyn ShortLivedStore>, Arc<dyn SessionEvents>) =
            match &settings.redis {
                None => (
                    Arc::new(MemoryStore::new(Arc::clone(&clock))),
                    Arc::new(MemorySessionEvents::new()),
                ),
                Some(redis) => {
                    let store = RedisStore::connect(RedisConfig {
                        url: redis.url.expose_secret().to_owned(),
                        sentinel_password: redis
                            .sentinel_password
                            .as_ref()
                            .map(|p| p.expose_secret().to_owned()),
                        key_prefix: redis.key_prefix.clone(),
                        command_timeout: redis.command_timeout,
                    })
                    .await
                    .context("configuring the Redis store (redis.url)")?;
                    let events = store.session_events();
                    (Arc::new(store), Arc::new(events))
                }
            };
        let sessions = CachedSessions::new(
            Arc::new(database.sessions()),
            session_events,
            Arc::clone(&clock),
            settings.session_cache,
        );
        let global_route = sms_sender(&settings, Arc::clone(&clock))?;
        let mut metrics = Metrics::new(
            GrpcMethods::served().context("reading the served gRPC methods for metrics")?,
        );
        if let Some(router) = &global_route.router {
            metrics.watch_breakers(Arc::clone(router));
        }
        // Tenants' own settings; stored only with a configured key (sealed secrets must
        // open after a restart and on every instance).
        let sms_settings: Arc<dyn SmsSettingsStore> = Arc::new(SealedSmsSettings::new(
            Arc::new(database.sms_settings()),
            settings.outbox_key.clone(),
            SealedSmsSettings::DEFAULT_TTL,
        ));
        // A tenant's Twilio Verify: started by the outbox worker, checked by VerifyCode.
        let verify_services = Arc::new(VerifyServices::new(
            Arc::clone(&sms_settings),
            tenant_verify::builder().context("building the HTTP client for Twilio Verify")?,
        ));
        let sms_routing = Arc::new(
            TenantRouting::new(
                Arc::clone(&sms_settings),
                global_route,
                tenant_sms::router_builder(
                    settings.sms.routing,
                    Arc::clone(&clock),
                    is_production(&settings),
                    // Tenants' Twilio and Plivo get their receipt endpoint as status callback.
                    settings.http.as_ref().map(|h| h.public_base_url.clone()),
                ),
            )
            .with_verify(Arc::clone(&verify_services)),
        );
        metrics.watch_tenant_breakers(Arc::clone(&sms_routing));
        let sender: Arc<dyn SmsSender> = Arc::clone(&sms_routing) as Arc<dyn SmsSender>;
        let outbox_key = match settings.outbox_key.clone() {
            Some(key) => key,
            None => {
                tracing::warn!(
                    "security.outbox_key is not set: using a random key; SMS queued by this \
                     process cannot be sent by another or after a restart"
                );
                OutboxKey::random().map_err(|e| anyhow::anyhow!("generating an outbox key: {e}"))?
            }
        };
        let outbox = SqlOutbox::new(Arc::new(database.outbox()), outbox_key, Arc::clone(&clock))
            .with_observer(metrics.sms_observer());
        let outbox_worker = outbox.worker(sender, settings.sms.outbox);
        let code_key = settings.code_key.clone().unwrap_or_else(|| {
            tracing::warn!(
                "security.code_key is not set: using a random key; codes do not survive a restart"
            );
            CodeKey::random()
        });
        let passwords = PasswordHasher::with_priority(
            settings.hash_cost,
            settings.hash_permits,
            settings.hash_max_wait,
            settings.hash_priority,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        // Backup codes carry ~50 bits: a low argon2id cost is allowed (R26), so checking the
        // ten of a batch stays cheap.
        let backup_code_hasher = PasswordHasher::with_priority(
            BACKUP_CODE_COST,
            settings.hash_permits,
            settings.hash_max_wait,
            settings.hash_priority,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters for backup codes: {e}"))?;
        let (abandoned, abandoned_watcher) = suspicious::abandoned_watch(ABANDONED_WATCH_QUEUE);
        // Audit rows are written off the request path (R19); see `audit_buffer`.
        let (audit, audit_writer) = BufferedAuditLog::new(Arc::new(database.audit()), AUDIT_QUEUE);
        // Running from here on: start-up itself records events (the default tenant).
        tokio::spawn(audit_writer.run());
        let deps = Arc::new(Deps {
            tenants: Arc::new(database.tenants()),
            users: Arc::new(database.users()),
            sessions: Arc::new(sessions),
            backup_codes: Arc::new(database.backup_codes()),
            audit: Arc::new(audit),
            consumed: Arc::new(database.consumed_challenges()),
            store: Arc::clone(&store),
            outbox: Arc::new(outbox),
            sms_settings,
            clock,
            code_key,
            passwords,
            backup_code_hasher,
            tenant_cache: TenantCache::default(),
            lockouts: Arc::new(database.lockouts()),
            kill_switch: KillSwitch::new(settings.sms_kill_switch),
            number_risk: number_risk(&settings),
            abandoned,
            provider_codes: verify_services,
        });
        let default_tenant = admin::ensure_default_tenant(&deps)
            .await
            .map_err(|e| anyhow::anyhow!("creating the default tenant: {e}"))?;
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("binding server.listen_addr {}", settings.listen_addr))?;
        let http = receipt_listener(&settings, &database, &deps, &metrics).await?;
        let metrics = Arc::new(metrics);
        let metrics_http = metrics_listener(&settings, &metrics).await?;
        let api_clients = Arc::new(api_clients(
            &database,
            Arc::clone(&deps.clock),
            settings.auth.key_cache_ttl,
        ));
        let state = AppState {
            deps,
            default_tenant: default_tenant.id,
            api_clients,
            sms_routing,
            production: is_production(&settings),
        };
        Ok(Self {
            listener,
            settings,
            state,
            database,
            store,
            outbox_worker,
            http,
            metrics_http,
            metrics,
            abandoned_watcher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The receipt listener's address, when `[http]` is configured.
    pub fn http_local_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|h| h.local_addr().ok())
    }

    /// The metrics listener's address, when `[metrics]` is configured.
    pub fn metrics_local_addr(&self) -> Option<SocketAddr> {
        self.metrics_http.as_ref().and_then(|h| h.local_addr().ok())
    }

    /// Serves until `shutdown` resolves; then reports NOT_SERVING, lets in-flight RPCs finish
    /// (for at most `server.shutdown_grace_secs`) and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            listener,
            settings,
            state,
            database,
            store,
            outbox_worker,
            http,
            metrics_http,
            metrics,
            abandoned_watcher,
        } = self;
        let deps = Arc::clone(&state.deps);
        let outbox_worker = outbox_worker.spawn();
        let abandoned_watcher = tokio::spawn(abandoned_watcher.run(Arc::clone(&state.deps)));
        let session_pruner = {
            let deps = Arc::clone(&state.deps);
            tokio::spawn(async move { session_retention::run(&*deps.sessions, &*deps.clock).await })
        };
        // One-shot and short: not aborted at shutdown.
        tokio::spawn(prepare_numbering_plans(Arc::clone(&state.deps.tenants)));
        let audit_pruner = settings.audit_retention.map(|keep| {
            let (audit, clock) = (database.audit(), Arc::clone(&state.deps.clock));
            tokio::spawn(async move { audit_retention::run(&audit, keep, &*clock).await })
        });
        let memory_trimmer = settings
            .memory_trim_interval
            .map(|every| tokio::spawn(memory::run_trimmer(every)));
        let listeners: Vec<RunningHttp> = [http, metrics_http]
            .into_iter()
            .flatten()
            .map(|server| {
                if let Ok(addr) = server.local_addr() {
                    let name = server.name();
                    tracing::info!(%addr, "{name} listener on http");
                }
                server.spawn()
            })
            .collect();
        let (reporter, health_service) = tonic_health::server::health_reporter();
        health::set_all(&reporter, ServingStatus::NotServing).await;
        let watcher = tokio::spawn(health::watch(
            reporter.clone(),
            probes(database, store),
            settings.health_interval,
        ));

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(twostep_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("building reflection v1")?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(twostep_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .context("building reflection v1alpha")?;

        // Only a scraped process pays for counting every call.
        let grpc_metrics = settings.metrics.as_ref().map(|_| metrics.grpc_layer());
        let limits = tower::ServiceBuilder::new()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                settings.max_concurrent_requests,
            ))
            .into_inner();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let addr = listener.local_addr()?;
        let authn = AuthnLayer::new(Authn::new(
            state.clone(),
            settings.auth.allow_unauthenticated,
        ));
        let server = tls::server_builder(settings.tls.as_ref())
            .context("configuring TLS ([server.tls])")?
            .timeout(settings.request_timeout)
            // Outermost of ours, so calls that authn refuses count too.
            .layer(tower::util::option_layer(grpc_metrics))
            .layer(limits)
            .layer(authn)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(AuthServiceServer::new(AuthApi {
                state: state.clone(),
            }))
            .add_service(AccountServiceServer::new(AccountApi {
                state: state.clone(),
            }))
            .add_service(AdminServiceServer::new(AdminApi { state }))
            // tonic sets TCP_NODELAY only on listeners it binds itself; without it a response
            // written in two segments waits for the client's delayed ACK (40 ms on Linux).
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = stop_rx.await;
                },
            );
        tracing::info!(
            %addr,
            environment = ?settings.environment,
            tls = settings.tls.is_some(),
            "twostepd listening"
        );
        tokio::pin!(server);
        tokio::select! {
            res = &mut server => {
                watcher.abort();
                abandoned_watcher.abort();
                session_pruner.abort();
                if let Some(pruner) = &audit_pruner {
                    pruner.abort();
                }
                if let Some(trimmer) = &memory_trimmer {
                    trimmer.abort();
                }
                stop_listeners(listeners, settings.shutdown_grace).await;
                outbox_worker.stop(settings.shutdown_grace).await;
                flush_audit(&deps).await;
                return res.context("serving gRPC");
            }
            () = shutdown => {}
        }
        tracing::info!("shutting down: health NOT_SERVING, finishing in-flight requests");
        watcher.abort();
        abandoned_watcher.abort();
        session_pruner.abort();
        if let Some(pruner) = &audit_pruner {
            pruner.abort();
        }
        if let Some(trimmer) = &memory_trimmer {
            trimmer.abort();
        }
        health::set_all(&reporter, ServingStatus::NotServing).await;
        let _ = stop_tx.send(());
        // Receipts and scrapes are small: the HTTP listeners drain quickly, while gRPC
        // connections (spawned tasks) finish their calls.
        stop_listeners(listeners, settings.shutdown_grace).await;
        match tokio::time::timeout(settings.shutdown_grace, &mut server).await {
            Ok(res) => res.context("serving gRPC")?,
            Err(_) => tracing::warn!("grace period over; abandoning remaining requests"),
        }
        // Messages queued by the last requests are sent (or left queued for the next start).
        outbox_worker.stop(settings.shutdown_grace).await;
        flush_audit(&deps).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Compiles the numbering plans of the tenants' countries before their first numbers
/// arrive (`flows::numbering_plans`).
async fn prepare_numbering_plans(tenants: Arc<dyn TenantRepo>) {
    match numbering_plans::prepare_tenants_countries(&*tenants).await {
        Ok(countries) => tracing::debug!(
            countries,
            "numbering plans of the tenants' countries compiled"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "reading the tenants' countries failed: their numbering plans compile on first use"
        ),
    }
}

/// Stops the HTTP listeners together, each within `grace`.
async fn stop_listeners(listeners: Vec<RunningHttp>, grace: std::time::Duration) {
    futures::future::join_all(listeners.into_iter().map(|l| l.stop(grace))).await;
}

/// Writes the audit events the last requests queued.
async fn flush_audit(deps: &Deps) {
    if let Err(e) = deps.audit.flush().await {
        tracing::error!(error = %e, "audit events queued at shutdown were not written");
    }
}

/// The SMS sender behind the outbox: the router over the configured providers; the console
/// sink in development when none is configured; otherwise a sender that fails every message.
/// The global providers from configuration, as a route (the sender and, for SendTestSms
/// with a provider, the router and each provider's kind).
fn sms_sender(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Route> {
    let only = |sender: Arc<dyn SmsSender>| Route {
        kinds: Arc::new(HashMap::from([(
            sender.name().to_owned(),
            sender.name().to_owned(),
        )])),
        sender,
        router: None,
        tenant_specific: false,
    };
    let sms = &settings.sms;
    if sms.providers.is_empty() {
        if settings.sms_console {
            tracing::info!("no SMS provider is configured: printing messages (sms.console)");
            return Ok(only(Arc::new(ConsoleSink)));
        }
        tracing::warn!("no SMS provider is configured: codes cannot be delivered");
        return Ok(only(Arc::new(NoProvider)));
    }
    let router =
        factory::build(&sms.providers, &sms.routes, sms.routing, clock).map_err(|e| match e {
            FactoryError::GenericHttp { index, source, .. } => {
                anyhow::anyhow!("invalid configuration key sms.providers[{index}]: {source}")
            }
            other => anyhow::anyhow!("building the SMS providers (sms.providers): {other}"),
        })?;
    let names: Vec<&str> = sms.providers.iter().map(|p| p.name.as_str()).collect();
    tracing::info!(
        providers = %names.join(", "),
        routes = sms.routes.len(),
        "sms providers configured"
    );
    let router = Arc::new(router);
    let kinds = sms
        .providers
        .iter()
        .map(|p| (p.name.clone(), p.kind.as_str().to_owned()))
        .collect();
    Ok(Route {
        sender: Arc::clone(&router) as Arc<dyn SmsSender>,
        router: Some(router),
        kinds: Arc::new(kinds),
        tenant_specific: false,
    })
}

/// The API-client flows over the database (shared by the server and `create-api-client`).
pub fn api_clients(
    database: &Database,
    clock: Arc<dyn Clock>,
    key_cache_ttl: std::time::Duration,
) -> ApiClients {
    ApiClients::new(
        Arc::new(database.api_clients()),
        Arc::new(database.tenants()),
        Arc::new(database.audit()),
        clock,
        key_cache_ttl,
    )
}

/// Binds the delivery-receipt listener when `[http]` is configured: endpoints for the
/// configured providers whose kind takes receipts and for tenants' own providers (read
/// through the flows' settings store, so they share its cache), recording them on the
/// outbox rows.
async fn receipt_listener(
    settings: &Settings,
    database: &Database,
    deps: &Deps,
    metrics: &Metrics,
) -> anyhow::Result<Option<HttpServer>> {
    let Some(http) = &settings.http else {
        return Ok(None);
    };
    let listener = TcpListener::bind(http.listen_addr)
        .await
        .with_context(|| format!("binding http.listen_addr {}", http.listen_addr))?;
    let tenants = TenantVerifiers::new(
        Arc::clone(&deps.tenants),
        Arc::clone(&deps.sms_settings),
        is_production(settings),
    );
    let endpoint = ReceiptEndpoint::new(
        &http.public_base_url,
        &settings.sms.providers,
        tenants,
        Arc::new(database.outbox()),
        Arc::clone(&deps.clock),
        metrics.receipts(),
    );
    tracing::info!(
        public_base_url = %http.public_base_url,
        providers = %endpoint.providers().join(", "),
        "delivery receipts accepted at <public_base_url>/v1/receipts/<provider> and, for \
         tenants' own providers, /v1/receipts/tenants/<tenant_id>/<provider_id>"
    );
    Ok(Some(HttpServer::new("receipts", listener, endpoint)))
}

/// Binds the metrics listener when `[metrics]` is configured: `GET /metrics`, on a port of
/// its own (never the receipt listener's, which faces the providers).
async fn metrics_listener(
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Option<HttpServer>> {
    let Some(config) = &settings.metrics else {
        return Ok(None);
    };
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("binding metrics.listen_addr {}", config.listen_addr))?;
    let endpoint = MetricsEndpoint::new(Arc::clone(metrics));
    Ok(Some(HttpServer::new("metrics", listener, endpoint)))
}

pub async fn connect_database(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database_url.expose_secret();
    let options = DbOptions {
        acquire_timeout: settings.database_connect_timeout,
        ..DbOptions::default()
    };
    Database::connect(url, &options)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the database (database.url): {e}"))
}

fn probes(database: Database, store: Arc<dyn ShortLivedStore>) -> Vec<(&'static str, Probe)> {
    let db: Probe = Arc::new(move || {
        let database = database.clone();
        Box::pin(async move { database.ping().await.map_err(|e| e.to_string()) })
    });
    let st: Probe = Arc::new(move || {
        let store = Arc::clone(&store);
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    vec![("database", db), ("short-lived store", st)]
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

pub fn is_production(settings: &Settings) -> bool {
    settings.environment == Environment::Production
}

/// The SIM-swap hook (R30): the static list of `[risk] sim_swap_numbers` when one is given,
/// else no risk source.
fn number_risk(settings: &Settings) -> Arc<dyn NumberRiskCheck> {
    let numbers = &settings.risk.sim_swap_numbers;
    if numbers.is_empty() {
        Arc::new(NoRiskSource)
    } else {
        tracing::warn!(
            count = numbers.len(),
            "[risk] sim_swap_numbers is set: these numbers get backup-code-only second factors"
        );
        Arc::new(StaticSimSwapList::new(numbers.iter().cloned()))
    }
}
