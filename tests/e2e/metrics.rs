//! What an operator's Prometheus scrapes: the `[metrics]` listener of the real `twostepd`,
//! read over plain HTTP/1.1 after calls that end OK, INVALID_ARGUMENT and
//! RESOURCE_EXHAUSTED and an SMS through the console sink. Counters carry the method and
//! the status code; the scrape never carries the phone number.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;

/// An HTTP/1.1 answer: status, head (status line and headers) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

async fn get(addr: &str, path: &str) -> Answer {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {response:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The metrics listener's address, from the line twostepd logs when it starts serving it.
fn metrics_addr(server: &TestServer) -> String {
    server
        .stderr_text()
        .lines()
        .find(|l| l.contains("metrics listener on http"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .map(|s| s.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no metrics listener line:\n{}", server.stderr_text()))
}

/// Scrapes until a sample line is exactly `line` (the outbox worker counts a send after the
/// RPC has answered), bounded; the last scrape.
async fn scrape_until(addr: &str, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = get(addr, "/metrics").await.body;
        if scrape.lines().any(|l| l == line) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "no {line} in:\n{scrape}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn requests(service: &str, method: &str, code: &str, n: u32) -> String {
    format!(
        r#"twostep_grpc_requests_total{{service="twostep.v1.{service}",method="{method}",code="{code}"}} {n}"#
    )
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_and_sms_by_provider() {
    let server = TestServer::start_with(
        Backend::Embedded,
        &[("TWOSTEP_METRICS__LISTEN_ADDR", "127.0.0.1:0")],
    )
    .await;
    let addr = metrics_addr(&server);

    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    // OK, and a code SMS through the console sink.
    let challenge = start_phone_login(&server, &phone).await.unwrap();
    server.last_code_for(&last_four(&phone)).await;
    // RESOURCE_EXHAUSTED: a resend within the cooldown.
    let early = server
        .auth()
        .await
        .resend_code(pb::ResendCodeRequest {
            client: client(),
            challenge_id: challenge.challenge_id.clone(),
        })
        .await;
    assert_code(early, Code::ResourceExhausted);
    // INVALID_ARGUMENT: a code that is not digits.
    assert_code(
        verify(&server, &challenge.challenge_id, "12ab56").await,
        Code::InvalidArgument,
    );

    let answer = get(&addr, "/metrics").await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert!(
        answer
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        answer.head
    );
    let sent = r#"twostep_sms_sends_total{provider="console",outcome="sent"} 1"#;
    let scrape = scrape_until(&addr, sent).await;
    for line in [
        requests("AdminService", "CreateUser", "OK", 1),
        requests("AuthService", "StartLogin", "OK", 1),
        requests("AuthService", "ResendCode", "RESOURCE_EXHAUSTED", 1),
        requests("AuthService", "VerifyCode", "INVALID_ARGUMENT", 1),
        r#"twostep_grpc_request_duration_seconds_count{service="twostep.v1.AuthService",method="StartLogin",code="OK"} 1"#.to_owned(),
    ] {
        assert!(scrape.lines().any(|l| l == line), "no {line} in:\n{scrape}");
    }
    // The harness's own health checks.
    assert!(
        scrape.lines().any(|l| l.starts_with(
            r#"twostep_grpc_requests_total{service="grpc.health.v1.Health",method="Check",code="OK"}"#
        )),
        "{scrape}"
    );
    assert!(
        scrape
            .lines()
            .any(|l| l.starts_with("twostep_build_info{version=") && l.ends_with("} 1")),
        "{scrape}"
    );
    // No console provider's breaker (no router), and no number anywhere.
    assert!(!scrape.contains("twostep_sms_breaker_state{"), "{scrape}");
    // No tenant has providers of its own: every state is there, at zero.
    for state in ["closed", "half_open", "open"] {
        let line = format!(r#"twostep_sms_tenant_breakers{{state="{state}"}} 0"#);
        assert!(scrape.lines().any(|l| l == line), "no {line} in:\n{scrape}");
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    assert!(
        !scrape.contains(&digits[digits.len() - 7..]),
        "the number is in the scrape:\n{scrape}"
    );

    // Nothing else is served there.
    for path in ["/other", "/", "/metrics/extra", "/v1/receipts/twilio"] {
        assert_eq!(get(&addr, path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn without_metrics_listen_addr_there_is_no_listener() {
    let server = TestServer::start(Backend::Embedded).await;
    assert!(
        !server.stderr_text().contains("metrics listener on http"),
        "{}",
        server.stderr_text()
    );
}
