//! gRPC calls by `service`, `method` and `code`: `twostep_grpc_requests_total` and
//! `twostep_grpc_request_duration_seconds`, recorded by a tower layer around every service
//! (outside `authn`, so refused calls count too).
//!
//! Labels stay bounded whatever a caller sends: the service and method are kept only when the
//! served descriptors name them ([`GrpcMethods`]); any other path is `unknown` (an unknown
//! method of a known service keeps its service). The code is the name of a gRPC status code.
//!
//! The code is read from the response headers: tonic answers an error trailers-only, with
//! `grpc-status` among the headers, and a success with the status in trailers after the
//! body. So a response without `grpc-status` in its headers counts as `OK` (the body is not
//! wrapped to read trailers): a call that fails only while its response body streams would
//! count as OK, which no unary twostep RPC does. A call dropped before it answered (the
//! server's request timeout, which tonic reports as CANCELLED, or a client that went away)
//! counts as `CANCELLED`. The duration runs from the call to the response headers, after the
//! wait for a concurrency slot.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use prost::Message as _;
use tonic::Code;

/// The label value of anything not served.
const UNKNOWN: &str = "unknown";

/// Seconds: from a cached session check (well under a millisecond) to a password hash that
/// waited for its slot, up to the default request timeout (10 s).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A call's service and method, as labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RpcName {
    pub service: String,
    pub method: String,
}

/// The methods served, by path (`/twostep.v1.AuthService/StartLogin`).
#[derive(Debug, Default)]
pub struct GrpcMethods {
    by_path: HashMap<String, RpcName>,
    services: HashSet<String>,
}

impl GrpcMethods {
    /// The methods of the services twostepd serves: twostep's own, health, and reflection
    /// (v1 and v1alpha), read from their file descriptor sets.
    pub fn served() -> Result<Self, prost::DecodeError> {
        Self::from_descriptor_sets(&[
            twostep_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ])
    }

    /// The methods of every service in `sets` (encoded `FileDescriptorSet`s).
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut methods = Self::default();
        for bytes in sets {
            let set = prost_types::FileDescriptorSet::decode(*bytes)?;
            for file in &set.file {
                for service in &file.service {
                    let name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        methods.by_path.insert(
                            format!("/{name}/{}", method.name()),
                            RpcName {
                                service: name.clone(),
                                method: method.name().to_owned(),
                            },
                        );
                    }
                    methods.services.insert(name);
                }
            }
        }
        Ok(methods)
    }

    /// The labels of a request path: the served method's, else `unknown` for what is not
    /// served (keeping a served service's name).
    pub fn name(&self, path: &str) -> RpcName {
        if let Some(name) = self.by_path.get(path) {
            return name.clone();
        }
        let service = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map(|(service, _)| service)
            .filter(|service| self.services.contains(*service))
            .unwrap_or(UNKNOWN);
        RpcName {
            service: service.to_owned(),
            method: UNKNOWN.to_owned(),
        }
    }
}

/// The canonical name of a gRPC status code (`INVALID_ARGUMENT`), as gRPC's own metrics spell
/// it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The code of a response by its headers: `grpc-status` when tonic answered trailers-only (an
/// error), else OK (see the module docs). A value that is no code is `UNKNOWN`, as gRPC
/// clients read it.
pub(super) fn response_code(headers: &http::HeaderMap) -> &'static str {
    match headers.get("grpc-status") {
        None => code_name(Code::Ok),
        Some(value) => code_name(Code::from_bytes(value.as_bytes())),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RpcLabels {
    service: String,
    method: String,
    code: &'static str,
}

type Histograms = Family<RpcLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

struct Instruments {
    methods: GrpcMethods,
    requests: Family<RpcLabels, Counter>,
    durations: Histograms,
}

/// Counts and times every call of the services it wraps; cheap to clone.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    instruments: Arc<Instruments>,
}

impl GrpcMetricsLayer {
    pub(super) fn new(methods: GrpcMethods) -> Self {
        Self {
            instruments: Arc::new(Instruments {
                methods,
                requests: Family::default(),
                durations: Family::new_with_constructor(histogram),
            }),
        }
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "twostep_grpc_requests",
            "gRPC calls answered, by service, method and status code",
            self.instruments.requests.clone(),
        );
        registry.register(
            "twostep_grpc_request_duration_seconds",
            "Time from a gRPC call to its response headers, by service, method and status code",
            self.instruments.durations.clone(),
        );
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            instruments: Arc::clone(&self.instruments),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    instruments: Arc<Instruments>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let call = Call {
            instruments: Arc::clone(&self.instruments),
            name: Some(self.instruments.methods.name(request.uri().path())),
            started: Instant::now(),
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let res = response.await;
            let code = match &res {
                Ok(res) => response_code(res.headers()),
                // tonic turns an error of the stack into a status of its own; none of the
                // layers inside makes one.
                Err(_) => code_name(Code::Unknown),
            };
            call.finish(code);
            res
        })
    }
}

/// One call being timed; dropped unfinished, it counts as CANCELLED.
struct Call {
    instruments: Arc<Instruments>,
    /// Taken when recorded.
    name: Option<RpcName>,
    started: Instant,
}

impl Call {
    fn finish(mut self, code: &'static str) {
        self.record(code);
    }

    fn record(&mut self, code: &'static str) {
        let Some(RpcName { service, method }) = self.name.take() else {
            return;
        };
        let labels = RpcLabels {
            service,
            method,
            code,
        };
        self.instruments.requests.get_or_create(&labels).inc();
        self.instruments
            .durations
            .get_or_create(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record(code_name(Code::Cancelled));
    }
}
