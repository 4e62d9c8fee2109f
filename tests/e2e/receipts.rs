//! Delivery receipts through the real `twostepd`: a Twilio provider pointed at a loopback
//! fake of Twilio's Messages API (fact sheet §1), the receipt listener on
//! (`[http] listen_addr`), and the test playing Twilio's status callback: a form POST signed
//! with `X-Twilio-Signature` over the public URL. A bad signature is refused with 403 and
//! changes nothing; a good one turns the outbox row `delivered`. Rows are read with the
//! `sqlite3` and `psql` command-line clients, as in the outbox tests.
//!
//! The same for a tenant's own Twilio (SetSmsProviders): its messages carry the tenant's
//! endpoint as `StatusCallback`, receipts there are checked with the tenant's Auth Token, and
//! another tenant's endpoint cannot reach the tenant's rows.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use twostep_proto::v1 as pb;
use twostep_tests::server::TempDir;
use twostep_tests::{Backend, SharedStores, TestServer, env};

use crate::helpers::*;

const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token";
/// What providers would call: a proxy's address, not the listener's loopback one.
const PUBLIC_BASE_URL: &str = "https://receipts.example.test";
const OUTBOX_KEY: &str = "6f7574626f78206b657920666f722074776f7374657020653265207465737473";

// === reading an HTTP/1.1 request and answering it, on loopback ===

/// Request line, headers and body of one request on `conn`.
async fn read_request(conn: &mut TcpStream) -> Option<(String, String, String)> {
    let req = crate::fake_provider::read_http_request(conn).await?;
    let body = String::from_utf8_lossy(&req.body).into_owned();
    Some((req.request_line, req.head, body))
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
fn form(body: &str) -> Vec<(String, String)> {
    let decode = |part: &str| -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b'+', _) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// === a fake of Twilio's Messages API ===

/// One message as Twilio received it.
#[derive(Debug, Clone)]
struct Sent {
    to: String,
    status_callback: Option<String>,
    sid: String,
}

/// Takes `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form `To`, `From`, `Body`,
/// `StatusCallback`) and answers `201` with a Message whose `sid` is `SM` and 32 hex digits.
struct FakeTwilio {
    port: u16,
    sent: Arc<Mutex<Vec<Sent>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeTwilio {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&sent);
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let sink = Arc::clone(&sink);
                tokio::spawn(async move {
                    let Some((line, _, body)) = read_request(&mut conn).await else {
                        return;
                    };
                    let expected =
                        format!("POST /2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json ");
                    let (status, reply) = if line.starts_with(&expected) {
                        let params = form(&body);
                        let get =
                            |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
                        sink.lock().unwrap().push(Sent {
                            to: get("To").unwrap_or_default(),
                            status_callback: get("StatusCallback"),
                            sid: sid.clone(),
                        });
                        (
                            "201 Created",
                            format!(r#"{{"sid":"{sid}","status":"queued","error_code":null}}"#),
                        )
                    } else {
                        (
                            "404 Not Found",
                            r#"{"code":20404,"message":"not found","status":404}"#.to_owned(),
                        )
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                        reply.len()
                    );
                    let _ = conn.write_all(response.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self { port, sent, task }
    }

    /// The message to `phone`, waiting (bounded) for it.
    async fn wait_for(&self, phone: &str) -> Sent {
        let e164 = format!(
            "+{}",
            phone
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .sent
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.to == e164)
                .cloned();
            if let Some(sent) = found {
                return sent;
            }
            assert!(Instant::now() < deadline, "no message to {phone}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === Twilio's side of a status callback ===

/// `X-Twilio-Signature` with the configured provider's Auth Token.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    twilio_signature_with(AUTH_TOKEN, url, params)
}

/// `X-Twilio-Signature`: Base64(HMAC-SHA1(Auth Token, URL + sorted name+value pairs)),
/// written here from the fact sheet, apart from the server's implementation.
fn twilio_signature_with(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// POSTs a form to the listener with the given signature header; returns the HTTP status.
async fn post_callback(
    listener: &str,
    path: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> u16 {
    let body = params
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let signature = signature
        .map(|s| format!("X-Twilio-Signature: {s}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: receipts.example.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{signature}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut conn = TcpStream::connect(listener).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"))
}

// === the server and its rows ===

#[derive(Debug, Clone)]
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    /// `status|provider|provider_message_id|delivered` of the row to `phone`.
    fn row(&self, phone: &str) -> Option<String> {
        let sql = format!(
            "SELECT status, COALESCE(provider, ''), COALESCE(provider_message_id, ''), \
             CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END \
             FROM sms_outbox WHERE masked_to LIKE '%{}'",
            last_four(phone)
        );
        let out = match self {
            Db::Sqlite(path) => Command::new("sqlite3")
                .args(["-cmd", ".timeout 5000"])
                .arg(path)
                .arg(&sql)
                .output()
                .expect("the sqlite3 command-line client is needed for this test"),
            Db::Postgres(url) => Command::new("psql")
                .arg(url)
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", &sql])
                .output()
                .expect("psql is needed for end-to-end tests on PostgreSQL"),
        };
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert!(rows.len() <= 1, "more than one row to {phone}: {rows:?}");
        rows.first().map(|r| (*r).to_owned())
    }

    async fn wait_status(&self, phone: &str, status: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let row = self.row(phone);
            if let Some(row) = row
                .as_ref()
                .filter(|r| r.starts_with(&format!("{status}|")))
            {
                return row.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the row to {phone} never became {status}: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn config(twilio_port: u16) -> String {
    format!(
        r#"
[security]
outbox_key = "{OUTBOX_KEY}"

[sms]
console = false

[http]
listen_addr = "127.0.0.1:0"
public_base_url = "{PUBLIC_BASE_URL}"

[[sms.providers]]
name = "twilio"
kind = "twilio"
base_url = "http://127.0.0.1:{twilio_port}"
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
from = "+15005550006"
timeout_ms = 5000
"#
    )
}

/// The receipt listener's address, from the line twostepd logs when it starts serving it.
fn listener_addr(server: &TestServer) -> String {
    server
        .stderr_text()
        .lines()
        .find(|l| l.contains("receipts listener on http"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .map(|s| s.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no receipts listener line:\n{}", server.stderr_text()))
}

async fn walkthrough(backend: Backend, db: Db, extra_env: &[(&str, &str)]) {
    let twilio = FakeTwilio::start().await;
    let server = TestServer::start_with_config(backend, &config(twilio.port), extra_env).await;
    let listener = listener_addr(&server);

    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    start_phone_login(&server, &phone).await.unwrap();
    let sent = twilio.wait_for(&phone).await;
    // With a public URL configured, Twilio is told where to send status callbacks.
    let path = "/v1/receipts/twilio";
    let url = format!("{PUBLIC_BASE_URL}{path}");
    assert_eq!(sent.status_callback.as_deref(), Some(url.as_str()));
    let row = db.wait_status(&phone, "sent").await;
    assert_eq!(row, format!("sent|twilio|{}|0", sent.sid));

    let delivered = [
        ("MessageSid", sent.sid.as_str()),
        ("SmsSid", sent.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "delivered"),
        ("SmsStatus", "delivered"),
        ("To", sent.to.as_str()),
        ("From", "+15005550006"),
        ("ApiVersion", "2010-04-01"),
    ];
    // Signed for other parameters (a tampered body), or not at all: refused, row unchanged.
    let undelivered = [
        ("MessageSid", sent.sid.as_str()),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ];
    let wrong = twilio_signature(&url, &undelivered);
    assert_eq!(
        post_callback(&listener, path, &delivered, Some(&wrong)).await,
        403
    );
    assert_eq!(post_callback(&listener, path, &delivered, None).await, 403);
    assert_eq!(db.row(&phone).unwrap(), row);
    let log = server.settled_stderr_text().await;
    assert!(
        log.contains("delivery receipt refused") && log.contains("X-Twilio-Signature mismatch"),
        "{log}"
    );
    assert!(!log.contains(&sent.to), "the full number was logged");

    // Correctly signed: the row becomes delivered, and a repeat changes nothing.
    let good = twilio_signature(&url, &delivered);
    assert_eq!(
        post_callback(&listener, path, &delivered, Some(&good)).await,
        200
    );
    let row = db.wait_status(&phone, "delivered").await;
    assert_eq!(row, format!("delivered|twilio|{}|1", sent.sid));
    assert_eq!(
        post_callback(&listener, path, &delivered, Some(&good)).await,
        200
    );
    // A failure report after delivery does not move the row back.
    let late = twilio_signature(&url, &undelivered);
    assert_eq!(
        post_callback(&listener, path, &undelivered, Some(&late)).await,
        200
    );
    assert_eq!(db.row(&phone).unwrap(), row);

    // A message this service never sent: 200, so Twilio does not retry it.
    let stranger = [("MessageSid", "SM0000"), ("MessageStatus", "delivered")];
    let sig = twilio_signature(&url, &stranger);
    assert_eq!(
        post_callback(&listener, path, &stranger, Some(&sig)).await,
        200
    );
    // A provider that is not configured has no endpoint.
    assert_eq!(
        post_callback(&listener, "/v1/receipts/plivo", &stranger, Some(&sig)).await,
        404
    );
}

#[tokio::test]
async fn a_signed_twilio_receipt_marks_the_row_delivered_and_a_bad_one_is_refused() {
    let dir = TempDir::new();
    let path = dir.0.join("twostep.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    walkthrough(
        Backend::Embedded,
        Db::Sqlite(path),
        &[("TWOSTEP_DATABASE__URL", &url)],
    )
    .await;
}

#[tokio::test]
async fn receipts_on_postgres_and_redis() {
    let stores = SharedStores::new(env::required("TWOSTEP_TEST_REDIS_URL")).await;
    let db = Db::Postgres(stores.database_url.clone());
    walkthrough(Backend::Shared(stores), db, &[]).await;
}

// === a tenant's own Twilio ===

/// Sets `tenant`'s providers to one Twilio entry `provider_id` on the fake, with its own
/// Auth Token.
async fn set_tenant_twilio(
    server: &TestServer,
    tenant: &str,
    provider_id: &str,
    twilio_port: u16,
    auth_token: &str,
) {
    let entry = pb::SmsProviderConfig {
        provider_id: provider_id.into(),
        kind: pb::SmsProviderKind::Twilio.into(),
        settings: [
            ("base_url", format!("http://127.0.0.1:{twilio_port}")),
            ("account_sid", ACCOUNT_SID.to_owned()),
            ("from", "+15005550006".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        secrets: [("auth_token".to_owned(), auth_token.to_owned())].into(),
        ..Default::default()
    };
    let req = pb::SetSmsProvidersRequest {
        providers: vec![entry],
        ..Default::default()
    };
    server
        .admin()
        .await
        .set_sms_providers(for_tenant(tenant, req))
        .await
        .unwrap();
}

async fn tenant_walkthrough(backend: Backend, db: Db, extra_env: &[(&str, &str)]) {
    const TOKEN_A: &str = "tenant-a-twilio-auth-token";
    const TOKEN_B: &str = "tenant-b-twilio-auth-token";
    let twilio = FakeTwilio::start().await;
    let server = TestServer::start_with_config(backend, &config(twilio.port), extra_env).await;
    let listener = listener_addr(&server);
    // Two tenants whose own Twilio entries have the same id, each with its own Auth Token.
    let (a, a_id) = create_tenant_with_id(&server, policy(pb::TwoStepMode::Optional)).await;
    let (b, b_id) = create_tenant_with_id(&server, policy(pb::TwoStepMode::Optional)).await;
    set_tenant_twilio(&server, &a, "gateway", twilio.port, TOKEN_A).await;
    set_tenant_twilio(&server, &b, "gateway", twilio.port, TOKEN_B).await;

    let phone = random_us_number();
    create_phone_user_in(&server, &a, &phone).await;
    start_phone_login_in(&server, &a, &phone, client())
        .await
        .unwrap();
    let sent = twilio.wait_for(&phone).await;
    // The tenant's message names the tenant's endpoint, not the configured provider's.
    let path = format!("/v1/receipts/tenants/{a_id}/gateway");
    let url = format!("{PUBLIC_BASE_URL}{path}");
    assert_eq!(sent.status_callback.as_deref(), Some(url.as_str()));
    let row = db.wait_status(&phone, "sent").await;
    assert_eq!(row, format!("sent|gateway|{}|0", sent.sid));

    let delivered = [
        ("MessageSid", sent.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "delivered"),
        ("To", sent.to.as_str()),
    ];
    // Signed with another token (the configured provider's, tenant b's): refused.
    for token in [AUTH_TOKEN, TOKEN_B] {
        let sig = twilio_signature_with(token, &url, &delivered);
        assert_eq!(
            post_callback(&listener, &path, &delivered, Some(&sig)).await,
            403
        );
    }
    assert_eq!(db.row(&phone).unwrap(), row);
    let log = server.settled_stderr_text().await;
    let refusal = log
        .lines()
        .find(|l| l.contains("delivery receipt refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(
        refusal.contains(&a_id) && refusal.contains("gateway") && refusal.contains("mismatch"),
        "{refusal}"
    );
    assert!(!log.contains(&sent.to), "the full number was logged");

    // Tenant b's endpoint, properly signed by b's Twilio, for a's message id: b has no such
    // message, so nothing changes (200, or Twilio would retry).
    let b_path = format!("/v1/receipts/tenants/{b_id}/gateway");
    let b_sig = twilio_signature_with(TOKEN_B, &format!("{PUBLIC_BASE_URL}{b_path}"), &delivered);
    assert_eq!(
        post_callback(&listener, &b_path, &delivered, Some(&b_sig)).await,
        200
    );
    assert_eq!(db.row(&phone).unwrap(), row);
    // Neither can the configured provider's endpoint: no configured provider sent it.
    let global = format!("{PUBLIC_BASE_URL}/v1/receipts/twilio");
    let global_sig = twilio_signature(&global, &delivered);
    assert_eq!(
        post_callback(
            &listener,
            "/v1/receipts/twilio",
            &delivered,
            Some(&global_sig)
        )
        .await,
        200
    );
    assert_eq!(db.row(&phone).unwrap(), row);

    // Signed with a's own token at a's endpoint: delivered.
    let good = twilio_signature_with(TOKEN_A, &url, &delivered);
    assert_eq!(
        post_callback(&listener, &path, &delivered, Some(&good)).await,
        200
    );
    let row = db.wait_status(&phone, "delivered").await;
    assert_eq!(row, format!("delivered|gateway|{}|1", sent.sid));

    // No endpoint: an unknown tenant, a provider the tenant does not have.
    let stranger = uuid::Uuid::new_v4();
    for path in [
        format!("/v1/receipts/tenants/{stranger}/gateway"),
        format!("/v1/receipts/tenants/{a_id}/other"),
    ] {
        assert_eq!(
            post_callback(&listener, &path, &delivered, Some(&good)).await,
            404,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_tenants_own_twilio_reports_to_the_tenants_endpoint_only() {
    let dir = TempDir::new();
    let path = dir.0.join("twostep.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    tenant_walkthrough(
        Backend::Embedded,
        Db::Sqlite(path),
        &[("TWOSTEP_DATABASE__URL", &url)],
    )
    .await;
}

#[tokio::test]
async fn tenant_receipts_on_postgres_and_redis() {
    let stores = SharedStores::new(env::required("TWOSTEP_TEST_REDIS_URL")).await;
    let db = Db::Postgres(stores.database_url.clone());
    tenant_walkthrough(Backend::Shared(stores), db, &[]).await;
}
