//! A fake provider on loopback (hyper 1, port 0): it records every request exactly as it
//! arrived and answers with scripted replies, in order, the last one repeating. Tests then
//! assert on the recorded request (method, path, headers, body) and on the adapter's result.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            content_type: "text/plain",
            ..Self::json(status, body)
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Answers only after `delay`, to exercise timeouts.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as `application/x-www-form-urlencoded` pairs, in order, decoded as UTF-8.
    pub fn form(&self) -> Vec<(String, String)> {
        pairs(&self.body)
    }

    /// The query string as decoded pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        pairs(self.query.as_deref().unwrap_or_default().as_bytes())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("request body is UTF-8")
    }

    /// The `Authorization: Basic` user and password.
    pub fn basic_auth(&self) -> (String, String) {
        let value = self
            .header("authorization")
            .expect("an Authorization header");
        let encoded = value.strip_prefix("Basic ").expect("the Basic scheme");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64 credentials");
        let decoded = String::from_utf8(decoded).expect("UTF-8 credentials");
        let (user, password) = decoded.split_once(':').expect("user:password");
        (user.to_owned(), password.to_owned())
    }
}

fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

/// The running fake. It stops when dropped.
pub struct Fake {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "a fake needs at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (recorded, script) = (recorded.clone(), script.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (recorded, script) = (recorded.clone(), script.clone());
                        async move { Ok::<_, Infallible>(answer(req, &recorded, &script).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`, the base URL adapters are pointed at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The single request this fake received.
    pub fn only_request(&self) -> Recorded {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request");
        all.remove(0)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: Request<Incoming>,
    recorded: &Mutex<Vec<Recorded>>,
    script: &Mutex<VecDeque<Reply>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    recorded.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: body.to_vec(),
    });
    let reply = {
        let mut script = script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script.front().cloned().unwrap()
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut res = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type);
    for (name, value) in &reply.headers {
        res = res.header(*name, value);
    }
    res.body(Full::new(Bytes::from(reply.body))).unwrap()
}

/// An address where nothing listens, for connection-refused tests.
pub async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
