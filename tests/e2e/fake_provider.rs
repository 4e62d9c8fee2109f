//! A loopback fake SMS provider of the generic HTTP kind (`kind = "generic_http"`), shared by
//! the tests that need real provider traffic instead of the console sink: the outbox tests and
//! the TRACE hygiene test (where the console sink would print every code to the log).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One message as the fake received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub text: String,
    /// The request line and headers, lower-cased (to check credentials arrived).
    pub head: String,
}

impl Received {
    /// The code at the start of the text (`123456 is your … code. …`).
    pub fn code(&self) -> String {
        self.text.chars().take_while(char::is_ascii_digit).collect()
    }
}

/// An HTTP/1.1 server on loopback that takes `POST /send` with the JSON body
/// `{"to":"…","text":"…"}` and answers `200 {"id":"fake-N"}` after `delay`.
pub struct FakeProvider {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeProvider {
    pub async fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, Arc::clone(&sink), delay));
            }
        });
        Self {
            port,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/send", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn to(&self, phone: &str) -> Vec<Received> {
        let e164 = e164(phone);
        self.messages()
            .into_iter()
            .filter(|m| m.to == e164)
            .collect()
    }

    /// The first message to `phone`, waiting (bounded) for it.
    pub async fn wait_for(&self, phone: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self.to(phone).into_iter().next() {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no message to {phone}; got {:?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 request as a loopback fake reads it.
pub struct HttpRequest {
    /// `POST /path HTTP/1.1`, as sent.
    pub request_line: String,
    /// The request line and headers, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The target of the request line (`/v2/Services/…`).
    pub fn path(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or_default()
    }
}

/// Reads one request (head, then `Content-Length` bytes of body) from `conn`.
pub async fn read_http_request(conn: &mut TcpStream) -> Option<HttpRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (at + 4, length);
        }
    };
    while buf.len() < head_end + length {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    Some(HttpRequest {
        request_line: head.lines().next().unwrap_or_default().to_owned(),
        head,
        body: buf[head_end..head_end + length].to_vec(),
    })
}

async fn serve(mut conn: TcpStream, sink: Arc<Mutex<Vec<Received>>>, delay: Duration) {
    let Some(req) = read_http_request(&mut conn).await else {
        return;
    };
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let n = {
        let mut sink = sink.lock().unwrap();
        sink.push(Received {
            to: json_field(&body, "to"),
            text: json_field(&body, "text"),
            head: req.head.to_ascii_lowercase(),
        });
        sink.len()
    };
    tokio::time::sleep(delay).await;
    let reply = format!("{{\"id\":\"fake-{n}\"}}");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = conn.write_all(response.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// The string value of `"field":"…"` in a flat JSON object without escapes in it (numbers
/// and code texts have none).
fn json_field(body: &str, field: &str) -> String {
    let marker = format!("\"{field}\":\"");
    body.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

pub fn e164(phone: &str) -> String {
    format!(
        "+{}",
        phone
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    )
}

/// A loopback port nothing listens on: a provider that is down.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// The `[[sms.providers]]` entry of a generic HTTP provider that posts
/// `{"to":"…","text":"…"}` to `url`, as [`FakeProvider`] expects.
pub fn generic_provider(name: &str, url: &str) -> String {
    format!(
        r#"
[[sms.providers]]
name = "{name}"
kind = "generic_http"
url = "{url}"
method = "POST"
headers = {{ "Content-Type" = "application/json" }}
payload = '{{"to":"$ctx.num","text":"$ctx.msg"}}'
message_id_pointer = "/id"
timeout_ms = 5000
"#
    )
}
