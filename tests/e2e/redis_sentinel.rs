//! Redis behind Sentinels, as an operator runs it: `twostepd` is given only
//! `redis+sentinel://…/twostep`, finds the primary through the Sentinel, and when the primary
//! dies it answers UNAVAILABLE until the Sentinel has promoted the replica, then serves logins
//! again without a restart.

use std::process::Command;
use std::time::{Duration, Instant};

use tonic::Code;
use twostep_tests::{Backend, RedisServer, SharedStores, TestServer};

use crate::helpers::*;

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--raw"])
        .args(args)
        .output()
        .expect("redis-cli is needed for this test (scripts/test installs redis)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn named_primary(sentinel: &RedisServer) -> String {
    redis_cli(
        sentinel.port,
        &["SENTINEL", "get-master-addr-by-name", "twostep"],
    )
}

#[tokio::test]
async fn logins_go_on_after_the_sentinel_promotes_the_replica() {
    let mut primary = RedisServer::start();
    let replica = RedisServer::replica_of(&primary);
    wait_for("the replica is in sync", || {
        redis_cli(replica.port, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let sentinel = RedisServer::sentinel("twostep", &primary);
    wait_for("the sentinel sees the replica", || {
        redis_cli(sentinel.port, &["SENTINEL", "replicas", "twostep"])
            .contains(&replica.port.to_string())
    });
    let url = format!("redis+sentinel://127.0.0.1:{}/twostep", sentinel.port);
    let server = TestServer::start_with(
        Backend::Shared(SharedStores::new(url).await),
        &[("TWOSTEP_REDIS__COMMAND_TIMEOUT_MS", "300")],
    )
    .await;
    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    phone_login_gives_a_session(&server, &phone).await;

    primary.kill();
    assert_code(start_phone_login(&server, &phone).await, Code::Unavailable);
    wait_for("the sentinel names the replica", || {
        named_primary(&sentinel).contains(&replica.port.to_string())
    });
    server.wait_until_serving().await;
    // The first calls after the Sentinel named the replica may still find the old address.
    phone_login_once_serving_again(&server, &phone).await;
    assert!(
        server
            .stderr_text()
            .contains("the sentinels name the primary"),
        "twostepd says which primary it uses"
    );
}
