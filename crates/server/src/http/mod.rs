//! HTTP/1.1 listeners (hyper) beside the gRPC port, each serving one [`Endpoint`] with the
//! same accept loop, limits and graceful shutdown:
//!
//! - the delivery-receipt listener (`[http] listen_addr`, [`ReceiptEndpoint`]): the endpoints
//!   providers call with delivery receipts, `GET`/`POST /v1/receipts/{provider}` where
//!   `{provider}` is a configured `[[sms.providers]]` name, and
//!   `/v1/receipts/tenants/{tenant_id}/{provider_id}` for a tenant's own providers
//!   (SetSmsProviders);
//! - the metrics listener (`[metrics] listen_addr`, [`MetricsEndpoint`]): `GET /metrics` for
//!   Prometheus. A listener of its own, so that metrics never face the providers' proxy.
//!
//! Each is off unless its `listen_addr` is set. Requests are small and few: bodies are capped
//! ([`MAX_BODY_BYTES`]), headers must arrive within [`HEADER_TIMEOUT`], and shutdown stops
//! accepting, then lets open requests finish (hyper-util's graceful shutdown) within the
//! server's grace period.

mod metrics;
mod receipts;
mod tenant_receipts;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use metrics::MetricsEndpoint;
pub use receipts::ReceiptEndpoint;
pub use tenant_receipts::TenantVerifiers;

/// The largest request body read; receipts are a few hundred bytes (BulkSMS batches more).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener serves: an answer to every request.
pub trait Endpoint: Send + Sync + 'static {
    /// The answer to `req`; a failure is an answer too (a 4xx or 5xx status).
    fn answer(&self, req: Request<Incoming>) -> BoxFuture<'_, Response<Full<Bytes>>>;
}

/// A bound listener, not yet serving.
pub struct HttpServer {
    /// For log lines: `receipts`, `metrics`.
    name: &'static str,
    listener: TcpListener,
    endpoint: Arc<dyn Endpoint>,
}

/// A serving listener; [`RunningHttp::stop`] ends it.
pub struct RunningHttp {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    pub fn new(name: &'static str, listener: TcpListener, endpoint: impl Endpoint) -> Self {
        Self {
            name,
            listener,
            endpoint: Arc::new(endpoint),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves in a task until stopped.
    pub fn spawn(self) -> RunningHttp {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(self.name, self.listener, self.endpoint, stopped));
        RunningHttp {
            name: self.name,
            stop,
            task,
        }
    }
}

impl RunningHttp {
    /// Stops accepting and waits (at most `grace`) for open requests to finish.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(
                listener = self.name,
                "http: grace period over; abandoning open requests"
            );
            task.abort();
        }
    }
}

async fn serve(
    name: &'static str,
    listener: TcpListener,
    endpoint: Arc<dyn Endpoint>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(listener = name, error = %e, "http: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let endpoint = Arc::clone(&endpoint);
                let service = service_fn(move |req| {
                    let endpoint = Arc::clone(&endpoint);
                    async move { Ok::<_, Infallible>(endpoint.answer(req).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(listener = name, error = %e, "http: connection ended with an error");
                    }
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A short plain-text answer.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}
