#![allow(clippy::unwrap_used, reason = "tests")]

use std::convert::Infallible;

use tower::{Layer as _, ServiceExt as _};
use twostep_sms_gateway::outbox::SendOutcome;
use twostep_sms_gateway::routing::BreakerState;

use super::grpc::response_code;
use super::*;

fn metrics() -> Metrics {
    Metrics::new(GrpcMethods::served().unwrap())
}

/// The sample lines of `name` in a scrape.
fn samples<'a>(scrape: &'a str, name: &str) -> Vec<&'a str> {
    scrape
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .collect()
}

#[track_caller]
fn check_code(grpc_status: Option<&str>, expected: &str) {
    let mut headers = http::HeaderMap::new();
    if let Some(value) = grpc_status {
        headers.insert("grpc-status", value.parse().unwrap());
    }
    assert_eq!(response_code(&headers), expected, "{grpc_status:?}");
}

#[test]
fn a_status_in_the_headers_is_the_code_and_none_is_ok() {
    check_code(None, "OK");
    check_code(Some("0"), "OK");
    check_code(Some("1"), "CANCELLED");
    check_code(Some("3"), "INVALID_ARGUMENT");
    check_code(Some("7"), "PERMISSION_DENIED");
    check_code(Some("8"), "RESOURCE_EXHAUSTED");
    check_code(Some("9"), "FAILED_PRECONDITION");
    check_code(Some("12"), "UNIMPLEMENTED");
    check_code(Some("13"), "INTERNAL");
    check_code(Some("14"), "UNAVAILABLE");
    check_code(Some("16"), "UNAUTHENTICATED");
    // Not a code: what a gRPC client makes of it, never the raw text.
    check_code(Some("99"), "UNKNOWN");
    check_code(Some("+31612345678"), "UNKNOWN");
}

#[test]
fn every_code_has_its_canonical_name() {
    for (number, name) in [
        (0, "OK"),
        (2, "UNKNOWN"),
        (4, "DEADLINE_EXCEEDED"),
        (5, "NOT_FOUND"),
        (6, "ALREADY_EXISTS"),
        (10, "ABORTED"),
        (11, "OUT_OF_RANGE"),
        (15, "DATA_LOSS"),
    ] {
        assert_eq!(code_name(tonic::Code::from(number)), name);
    }
}

#[track_caller]
fn check_name(path: &str, service: &str, method: &str) {
    let name = GrpcMethods::served().unwrap().name(path);
    assert_eq!(
        (name.service.as_str(), name.method.as_str()),
        (service, method),
        "{path}"
    );
}

#[test]
fn served_methods_keep_their_names() {
    check_name(
        "/twostep.v1.AuthService/StartLogin",
        "twostep.v1.AuthService",
        "StartLogin",
    );
    check_name(
        "/twostep.v1.AdminService/SetSmsProviders",
        "twostep.v1.AdminService",
        "SetSmsProviders",
    );
    check_name(
        "/twostep.v1.AccountService/GetProfile",
        "twostep.v1.AccountService",
        "GetProfile",
    );
    check_name(
        "/grpc.health.v1.Health/Check",
        "grpc.health.v1.Health",
        "Check",
    );
    check_name(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
    );
    check_name(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
    );
}

#[test]
fn paths_not_served_collapse_to_unknown() {
    // A method a served service does not have keeps the service only.
    for path in [
        "/twostep.v1.AuthService/StartLogin2",
        "/twostep.v1.AuthService/StartLogin/extra",
        "/twostep.v1.AuthService/",
    ] {
        check_name(path, "twostep.v1.AuthService", "unknown");
    }
    for path in [
        "/twostep.v2.AuthService/StartLogin",
        "/twostep.v1.Nothing/StartLogin",
        "/+31612345678/StartLogin",
        "/twostep.v1.AuthService",
        "/",
        "",
        "StartLogin",
    ] {
        check_name(path, "unknown", "unknown");
    }
}

/// One call through the layer, to a service answering with `grpc-status` in its headers
/// when `status` is set.
async fn call(layer: &GrpcMetricsLayer, status: Option<&'static str>, path: &str) {
    let inner = tower::service_fn(move |_req: http::Request<()>| async move {
        let mut res = http::Response::new(());
        if let Some(status) = status {
            res.headers_mut()
                .insert("grpc-status", http::HeaderValue::from_static(status));
        }
        Ok::<_, Infallible>(res)
    });
    let req = http::Request::builder().uri(path).body(()).unwrap();
    layer.layer(inner).oneshot(req).await.unwrap();
}

#[tokio::test]
async fn the_layer_counts_and_times_calls_by_method_and_code() {
    let metrics = metrics();
    let layer = metrics.grpc_layer();
    call(&layer, None, "/twostep.v1.AuthService/StartLogin").await;
    call(&layer, None, "/twostep.v1.AuthService/StartLogin").await;
    call(&layer, Some("3"), "/twostep.v1.AuthService/VerifyCode").await;
    call(&layer, Some("12"), "/secret-path-123456/Anything").await;
    // A call dropped before its answer (the request timeout, a client gone).
    let pending = tower::service_fn(|_req: http::Request<()>| {
        std::future::pending::<Result<http::Response<()>, Infallible>>()
    });
    let req = http::Request::builder()
        .uri("/twostep.v1.AuthService/ResendCode")
        .body(())
        .unwrap();
    let dropped = layer.layer(pending).oneshot(req);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(10), dropped)
            .await
            .is_err()
    );

    let scrape = metrics.encode().unwrap();
    let requests = samples(&scrape, "twostep_grpc_requests_total");
    for line in [
        r#"twostep_grpc_requests_total{service="twostep.v1.AuthService",method="StartLogin",code="OK"} 2"#,
        r#"twostep_grpc_requests_total{service="twostep.v1.AuthService",method="VerifyCode",code="INVALID_ARGUMENT"} 1"#,
        r#"twostep_grpc_requests_total{service="unknown",method="unknown",code="UNIMPLEMENTED"} 1"#,
        r#"twostep_grpc_requests_total{service="twostep.v1.AuthService",method="ResendCode",code="CANCELLED"} 1"#,
    ] {
        assert!(requests.contains(&line), "{line} not in:\n{scrape}");
    }
    assert_eq!(requests.len(), 4, "{scrape}");
    assert!(
        scrape.contains(
            r#"twostep_grpc_request_duration_seconds_count{service="twostep.v1.AuthService",method="StartLogin",code="OK"} 2"#
        ),
        "{scrape}"
    );
    assert!(!scrape.contains("123456"), "{scrape}");
}

#[test]
fn sms_outcomes_receipts_and_build_info_are_scraped() {
    let metrics = metrics();
    let sms = metrics.sms_observer();
    sms.outcomes(Some("twilio"), SendOutcome::Sent, 1);
    sms.outcomes(Some("twilio"), SendOutcome::Sent, 1);
    sms.outcomes(None, SendOutcome::Expired, 3);
    let receipts = metrics.receipts();
    assert_eq!(receipts.bump(ReceiptOutcome::Recorded), 1);
    assert_eq!(receipts.bump(ReceiptOutcome::Recorded), 2);
    assert_eq!(receipts.bump(ReceiptOutcome::Refused), 1);
    assert_eq!(metrics.receipts().get(ReceiptOutcome::Recorded), 2);

    let scrape = metrics.encode().unwrap();
    for line in [
        r#"twostep_sms_sends_total{provider="twilio",outcome="sent"} 2"#,
        r#"twostep_sms_sends_total{provider="",outcome="expired"} 3"#,
        r#"twostep_sms_receipts_total{outcome="recorded"} 2"#,
        r#"twostep_sms_receipts_total{outcome="refused"} 1"#,
        "twostep_log_lines_dropped_total 0",
        &format!(
            r#"twostep_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(
            scrape.lines().any(|l| l == line),
            "{line} not in:\n{scrape}"
        );
    }
}

#[test]
fn breaker_states_are_ordered_by_severity() {
    assert_eq!(breakers::value(BreakerState::Closed), 0);
    assert_eq!(breakers::value(BreakerState::HalfOpen), 1);
    assert_eq!(breakers::value(BreakerState::Open), 2);
}

#[test]
fn the_configured_providers_breakers_are_read_at_each_scrape() {
    let clock: std::sync::Arc<dyn twostep_core::clock::Clock> =
        std::sync::Arc::new(twostep_core::clock::SystemClock);
    let router = Router::builder(clock)
        .provider(
            "primary",
            std::sync::Arc::new(twostep_sms_gateway::ConsoleSink),
        )
        .provider(
            "backup",
            std::sync::Arc::new(twostep_sms_gateway::ConsoleSink),
        )
        .build()
        .unwrap();
    let mut metrics = metrics();
    metrics.watch_breakers(std::sync::Arc::new(router));
    let scrape = metrics.encode().unwrap();
    assert!(
        scrape.contains("# TYPE twostep_sms_breaker_state gauge"),
        "{scrape}"
    );
    assert_eq!(
        samples(&scrape, "twostep_sms_breaker_state"),
        [
            r#"twostep_sms_breaker_state{provider="primary"} 0"#,
            r#"twostep_sms_breaker_state{provider="backup"} 0"#,
        ],
        "{scrape}"
    );
}

/// No tenant has its own providers: the settings of every tenant are empty.
struct NoTenantSettings;

#[async_trait::async_trait]
impl twostep_core::ports::SmsSettingsStore for NoTenantSettings {
    async fn get(
        &self,
        _: twostep_core::ids::TenantId,
    ) -> Result<
        std::sync::Arc<twostep_core::ports::TenantSmsSettings>,
        twostep_core::ports::RepoError,
    > {
        Ok(std::sync::Arc::default())
    }
    async fn put(
        &self,
        _: twostep_core::ids::TenantId,
        settings: twostep_core::ports::TenantSmsSettings,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<
        std::sync::Arc<twostep_core::ports::TenantSmsSettings>,
        twostep_core::ports::SmsSettingsError,
    > {
        Ok(std::sync::Arc::new(settings))
    }
}

/// Every state has a series, zeros included, before any tenant's provider is used (which
/// `TenantRouting`'s own tests count).
#[test]
fn the_tenants_breakers_are_counted_by_state() {
    let global = twostep_sms_gateway::Route {
        sender: std::sync::Arc::new(twostep_sms_gateway::ConsoleSink),
        router: None,
        kinds: std::sync::Arc::default(),
        tenant_specific: false,
    };
    let routing = twostep_sms_gateway::TenantRouting::new(
        std::sync::Arc::new(NoTenantSettings),
        global,
        std::sync::Arc::new(|_, _: &[_]| Err("no tenant providers here".to_owned())),
    );
    let mut metrics = metrics();
    metrics.watch_tenant_breakers(std::sync::Arc::new(routing));
    let scrape = metrics.encode().unwrap();
    assert!(
        scrape.contains("# TYPE twostep_sms_tenant_breakers gauge"),
        "{scrape}"
    );
    assert_eq!(
        samples(&scrape, "twostep_sms_tenant_breakers"),
        [
            r#"twostep_sms_tenant_breakers{state="closed"} 0"#,
            r#"twostep_sms_tenant_breakers{state="half_open"} 0"#,
            r#"twostep_sms_tenant_breakers{state="open"} 0"#,
        ],
        "{scrape}"
    );
}
