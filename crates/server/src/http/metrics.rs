//! `GET /metrics`: the process's metrics in the text format Prometheus scrapes. Anything else
//! on the metrics listener is 404 (405 for another method on `/metrics`).

use std::sync::Arc;

use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{Endpoint, text};
use crate::metrics::{self, Metrics};

pub const METRICS_PATH: &str = "/metrics";

pub struct MetricsEndpoint {
    metrics: Arc<Metrics>,
}

impl MetricsEndpoint {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }

    fn scrape(&self) -> Response<Full<Bytes>> {
        match self.metrics.encode() {
            Ok(body) => {
                let mut res = Response::new(Full::new(Bytes::from(body)));
                res.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                res
            }
            Err(e) => {
                tracing::error!(error = %e, "metrics: encoding failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable")
            }
        }
    }
}

impl Endpoint for MetricsEndpoint {
    fn answer(&self, req: Request<Incoming>) -> BoxFuture<'_, Response<Full<Bytes>>> {
        let res = if req.uri().path() != METRICS_PATH {
            text(StatusCode::NOT_FOUND, "not found")
        } else if req.method() != Method::GET {
            let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            res
        } else {
            self.scrape()
        };
        Box::pin(std::future::ready(res))
    }
}
