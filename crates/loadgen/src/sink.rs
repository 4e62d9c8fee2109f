//! The SMS provider twostepd sends to during a run: an HTTP/1 listener that takes the JSON
//! body of the generic HTTP provider (`{"to":"...","text":"..."}`), pulls the code out of the
//! text, and hands it to whoever waits for that number (else keeps it as the number's latest
//! code). Codes are read back through the real send path, as a user's phone would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Default)]
pub struct Sink {
    /// How long each answer waits, as a slow provider would.
    delay: Duration,
    /// Only texts containing this are this run's; others are answered and ignored.
    tag: String,
    latest: Mutex<HashMap<String, String>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<String>>>,
    pub received: AtomicU64,
    pub unreadable: AtomicU64,
    pub foreign: AtomicU64,
}

impl Sink {
    /// Binds `addr` (port 0 picks one) and serves in the background; every answer waits
    /// `delay` first; texts without `tag` are ignored.
    pub async fn start(
        addr: SocketAddr,
        delay: Duration,
        tag: &str,
    ) -> anyhow::Result<(Arc<Self>, SocketAddr)> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("binding the SMS listener on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        let sink = Arc::new(Self {
            delay,
            tag: tag.to_owned(),
            ..Self::default()
        });
        let serving = Arc::clone(&sink);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sink = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let sink = Arc::clone(&sink);
                        async move { Ok::<_, Infallible>(sink.handle(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((sink, local))
    }

    /// The next code sent to `number` (any format: only its digits count). Call before the
    /// request that sends it, so the code cannot arrive first.
    pub fn expect(&self, number: &str) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.insert(digits(number), tx);
        rx
    }

    /// The last code sent to `number`, if any.
    #[cfg(test)]
    pub fn latest(&self, number: &str) -> Option<String> {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.get(&digits(number)).cloned()
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return reply(StatusCode::BAD_REQUEST, r#"{"error":"unreadable body"}"#),
        };
        let Some((to, code, text)) = parse(&body) else {
            self.unreadable.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::BAD_REQUEST, r#"{"error":"no number or code"}"#);
        };
        if !text.contains(&self.tag) {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::OK, r#"{"status":"sent","id":"ignored"}"#);
        }
        let n = self.received.fetch_add(1, Ordering::Relaxed);
        {
            let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
            latest.insert(to.clone(), code.clone());
        }
        let waiter = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.remove(&to)
        };
        if let Some(tx) = waiter {
            let _ = tx.send(code);
        }
        reply(
            StatusCode::OK,
            &format!(r#"{{"status":"sent","id":"sink-{n}"}}"#),
        )
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// `(number digits, code, text)` from a JSON body `{"to": ..., "text": ...}`; the code is
/// the first run of 4 to 10 digits in the text.
fn parse(body: &[u8]) -> Option<(String, String, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let to = digits(value.get("to")?.as_str()?);
    let text = value.get("text")?.as_str()?;
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| (4..=10).contains(&run.len()))?;
    if to.is_empty() {
        return None;
    }
    Some((to, code.to_owned(), text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code_in_the_message_text() {
        let body = br#"{"to":"+14155550100","text":"042917 is your Bench code. It expires in 5 min. Do not share it with anyone."}"#;
        let (to, code, _) = parse(body).unwrap();
        assert_eq!((to.as_str(), code.as_str()), ("14155550100", "042917"));
    }

    #[test]
    fn refuses_bodies_without_a_code() {
        assert_eq!(parse(br#"{"to":"+14155550100","text":"hello"}"#), None);
        assert_eq!(parse(b"not json"), None);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_code_posted_for_its_number() {
        let (sink, addr) = Sink::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, "qxz")
            .await
            .unwrap();
        let rx = sink.expect("+1 415 555 0100");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = r#"{"to":"+14155550100","text":"123456 is your Bench qxz code"}"#;
        let request = format!(
            "POST /sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
            .await
            .unwrap();
        assert_eq!(rx.await.unwrap(), "123456");
        assert_eq!(sink.latest("14155550100").as_deref(), Some("123456"));
        assert_eq!(sink.foreign.load(Ordering::Relaxed), 0);
    }
}
