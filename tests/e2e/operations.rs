//! What an operator sees: health, configuration errors, graceful shutdown.

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use twostep_proto::v1 as pb;
use twostep_tests::server::twostepd_path;
use twostep_tests::{Backend, TestServer};

#[tokio::test]
async fn health_is_serving_for_the_server_and_each_service() {
    let server = TestServer::start(Backend::Embedded).await;
    for service in [
        "",
        "twostep.v1.AuthService",
        "twostep.v1.AccountService",
        "twostep.v1.AdminService",
    ] {
        assert_eq!(
            server.health(service).await,
            ServingStatus::Serving as i32,
            "{service}"
        );
    }
}

#[tokio::test]
async fn a_missing_config_file_is_named_and_exits_non_zero() {
    let out = std::process::Command::new(twostepd_path())
        .args(["--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent.toml"), "{stderr}");
}

#[tokio::test]
async fn a_malformed_listen_addr_is_named_and_exits_non_zero() {
    let out = std::process::Command::new(twostepd_path())
        .env("TWOSTEP_SERVER__LISTEN_ADDR", "localhost:abc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TWOSTEP_SERVER__LISTEN_ADDR"), "{stderr}");
}

/// SIGTERM while an RPC is running: the RPC completes, then the process exits 0. A password
/// hash with many iterations makes CreateUser slow enough to be in flight: 300 iterations take
/// about 2 s on the project's 2-core machine (one iteration of m=19456 KiB is ~6 ms there), so
/// the RPC is still running 300 ms in however fast the machine is. 40 iterations (~250 ms)
/// finished before the signal on a quiet machine.
#[tokio::test]
async fn sigterm_lets_the_in_flight_rpc_finish_then_exits_zero() {
    let mut server = TestServer::start_with(
        Backend::Embedded,
        &[
            ("TWOSTEP_SECURITY__ARGON2_ITERATIONS", "300"),
            ("TWOSTEP_SERVER__REQUEST_TIMEOUT_MS", "120000"),
        ],
    )
    .await;
    let mut admin = server.admin().await;
    let call = tokio::spawn(async move {
        admin
            .create_user(pb::CreateUserRequest {
                display_name: "Slow".into(),
                email: "slow@example.com".into(),
                password: "a long enough passphrase".into(),
                ..Default::default()
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the RPC should still be running");
    server.signal("TERM");
    let res = call.await.unwrap();
    assert!(res.is_ok(), "in-flight RPC failed: {res:?}");
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr_text());
}
