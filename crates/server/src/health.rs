//! Readiness: `grpc.health.v1.Health` reports SERVING only while the database and the
//! short-lived store both answer. A background task probes them and flips every service's
//! status, so a load balancer stops sending traffic while a dependency is down and resumes by
//! itself when it returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The services whose status is reported; `""` is the server as a whole.
pub const SERVICES: &[&str] = &[
    "",
    "twostep.v1.AuthService",
    "twostep.v1.AccountService",
    "twostep.v1.AdminService",
];

pub type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for service in SERVICES {
        reporter.set_service_status(*service, status).await;
    }
}

/// Probes every `interval` until the process stops. Each probe is bounded by `interval`, so
/// a hanging dependency counts as down.
pub async fn watch(
    reporter: HealthReporter,
    probes: Vec<(&'static str, Probe)>,
    interval: Duration,
) {
    let mut last: Option<bool> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut ready = true;
        for (name, probe) in &probes {
            let outcome =
                tokio::time::timeout(interval.max(Duration::from_millis(200)), probe()).await;
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("timed out".to_owned()),
            };
            if let Some(why) = failure {
                ready = false;
                if last != Some(false) {
                    tracing::warn!(dependency = name, error = %why, "dependency down; health NOT_SERVING");
                }
            }
        }
        if last != Some(ready) {
            let status = if ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            set_all(&reporter, status).await;
            if ready {
                tracing::info!("all dependencies reachable; health SERVING");
            }
            last = Some(ready);
        }
    }
}
