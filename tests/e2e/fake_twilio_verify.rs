//! A loopback fake of Twilio Verify v2 as the fact sheet (§2) documents it, for the tests of
//! provider-managed codes: `POST /v2/Services/{sid}/Verifications` (Basic auth, form `To`
//! and `Channel=sms`) makes a 6-digit code and answers 201 `pending`; `POST
//! /v2/Services/{sid}/VerificationCheck` (`To`, `Code`) answers 200 `approved` for the code
//! (the verification ends), 200 `pending` for a wrong one, 429 / 60202 after 5 wrong checks
//! and 404 / 20404 when nothing is pending. Wrong credentials are 401 / 20003; `set_down`
//! makes every call a 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::fake_provider::read_http_request;

pub const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "verify-token-never-returned-7d1e";

/// A verification the fake started.
#[derive(Debug, Clone)]
struct Pending {
    code: String,
    wrong_checks: u32,
}

#[derive(Default)]
struct State {
    pending: HashMap<String, Pending>,
    /// Every code sent, by number, oldest first.
    sent: HashMap<String, Vec<String>>,
    starts: usize,
    checks: usize,
}

pub struct FakeTwilioVerify {
    port: u16,
    state: Arc<Mutex<State>>,
    down: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeTwilioVerify {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let down = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicUsize::new(0));
        let (s, d) = (Arc::clone(&state), Arc::clone(&down));
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(
                    conn,
                    Arc::clone(&s),
                    Arc::clone(&d),
                    Arc::clone(&counter),
                ));
            }
        });
        Self {
            port,
            state,
            down,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn starts(&self) -> usize {
        self.state.lock().unwrap().starts
    }

    pub fn checks(&self) -> usize {
        self.state.lock().unwrap().checks
    }

    /// The codes the fake sent to `e164`, oldest first.
    pub fn codes_to(&self, e164: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .sent
            .get(e164)
            .cloned()
            .unwrap_or_default()
    }

    /// The latest code sent to `e164`, waiting (bounded) for the outbox worker to start it.
    pub async fn wait_for_code(&self, e164: &str, nth: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(code) = self.codes_to(e164).get(nth - 1) {
                return code.clone();
            }
            assert!(
                Instant::now() < deadline,
                "Twilio Verify was not asked for code {nth} to {e164}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeTwilioVerify {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Request {
    /// Lower-cased request line and headers.
    head: String,
    path: String,
    form: HashMap<String, String>,
}

async fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let req = read_http_request(conn).await?;
    Some(Request {
        head: req.head.to_ascii_lowercase(),
        path: req.path().to_owned(),
        form: form_urlencoded::parse(&req.body).into_owned().collect(),
    })
}

fn reply(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn error(status: &str, code: u32, message: &str) -> String {
    let http: u16 = status.split(' ').next().unwrap().parse().unwrap();
    reply(
        status,
        &format!(
            r#"{{"code":{code},"message":"{message}","more_info":"https://www.twilio.com/docs/errors/{code}","status":{http}}}"#
        ),
    )
}

async fn serve(
    mut conn: TcpStream,
    state: Arc<Mutex<State>>,
    down: Arc<AtomicBool>,
    counter: Arc<AtomicUsize>,
) {
    let Some(req) = read_request(&mut conn).await else {
        return;
    };
    let response = answer(&req, &state, &down, &counter);
    let _ = conn.write_all(response.as_bytes()).await;
    let _ = conn.shutdown().await;
}

fn answer(req: &Request, state: &Mutex<State>, down: &AtomicBool, counter: &AtomicUsize) -> String {
    if down.load(Ordering::SeqCst) {
        return error("503 Service Unavailable", 20500, "Service unavailable");
    }
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
        .to_ascii_lowercase();
    if !req
        .head
        .lines()
        .any(|l| l == format!("authorization: basic {credentials}"))
    {
        return error("401 Unauthorized", 20003, "Authenticate");
    }
    let prefix = format!("/v2/Services/{SERVICE_SID}/");
    let Some(resource) = req.path.strip_prefix(&prefix) else {
        return error(
            "404 Not Found",
            20404,
            "The requested resource was not found",
        );
    };
    let to = req.form.get("To").cloned().unwrap_or_default();
    if !to.starts_with('+') || to.len() < 8 {
        return error("400 Bad Request", 60200, "Invalid parameter `To`");
    }
    let mut s = state.lock().unwrap();
    match resource {
        "Verifications" if req.form.get("Channel").map(String::as_str) == Some("sms") => {
            s.starts += 1;
            let n = counter.fetch_add(1, Ordering::SeqCst);
            // A pending verification is sent again with the same code, as Twilio does.
            let code = match s.pending.get(&to) {
                Some(p) => p.code.clone(),
                None => format!("{:06}", (n * 7919 + 104_729) % 1_000_000),
            };
            s.pending.entry(to.clone()).or_insert(Pending {
                code: code.clone(),
                wrong_checks: 0,
            });
            s.sent.entry(to.clone()).or_default().push(code);
            reply(
                "201 Created",
                &format!(
                    r#"{{"sid":"VE{n:032x}","service_sid":"{SERVICE_SID}","account_sid":"{ACCOUNT_SID}","to":"{to}","channel":"sms","status":"pending","valid":false}}"#
                ),
            )
        }
        "VerificationCheck" => {
            s.checks += 1;
            let code = req.form.get("Code").cloned().unwrap_or_default();
            let Some(pending) = s.pending.get_mut(&to) else {
                return error(
                    "404 Not Found",
                    20404,
                    "The requested resource /Services/VA/VerificationCheck was not found",
                );
            };
            if pending.wrong_checks >= 5 {
                return error("429 Too Many Requests", 60202, "Max check attempts reached");
            }
            if pending.code == code {
                s.pending.remove(&to);
                reply(
                    "200 OK",
                    &format!(r#"{{"sid":"VE1","to":"{to}","status":"approved","valid":true}}"#),
                )
            } else {
                pending.wrong_checks += 1;
                reply(
                    "200 OK",
                    &format!(r#"{{"sid":"VE1","to":"{to}","status":"pending","valid":false}}"#),
                )
            }
        }
        _ => error("400 Bad Request", 60200, "Invalid parameter"),
    }
}
