//! Issue 3: the short-lived store fails closed and recovers by itself, and several instances
//! share one Redis and one PostgreSQL.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, RedisServer, SharedStores, TestServer};

use crate::helpers::*;

/// R38: with Redis down, StartLogin and VerifyCode answer UNAVAILABLE within the command
/// timeout, no SMS goes out and no code is accepted; health turns NOT_SERVING. When Redis comes
/// back, the same process serves again without a restart.
#[tokio::test]
async fn r38_redis_outage_fails_closed_and_recovers_without_restart() {
    let mut redis = RedisServer::start();
    let stores = SharedStores::new(redis.url()).await;
    let server = TestServer::start_with(
        Backend::Shared(stores),
        &[("TWOSTEP_REDIS__COMMAND_TIMEOUT_MS", "300")],
    )
    .await;
    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    let before = start_phone_login(&server, &phone).await.unwrap();
    let code = server.last_code_for(&last_four(&phone)).await;
    let sent_before = server.sms_count(&last_four(&phone));

    redis.kill();
    let started = Instant::now();
    let status = assert_code(start_phone_login(&server, &phone).await, Code::Unavailable);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(!status.message().contains(&phone));
    assert_code(
        verify(&server, &before.challenge_id, &code).await,
        Code::Unavailable,
    );
    server
        .wait_for_health(ServingStatus::NotServing as i32)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.sms_count(&last_four(&phone)),
        sent_before,
        "no SMS while Redis is down"
    );

    redis.restart();
    server.wait_until_serving().await;
    // The restarted Redis is empty: the old challenge is gone, a new login works.
    phone_login_once_serving_again(&server, &phone).await;
}

/// Two instances on one Redis and one PostgreSQL: a challenge started on one verifies on the
/// other, and a rate limit counted on both holds in total.
#[tokio::test]
async fn two_instances_share_challenges_and_limits() {
    let redis_url = twostep_tests::env::required("TWOSTEP_TEST_REDIS_URL");
    let stores = SharedStores::new(redis_url).await;
    let a = TestServer::start(Backend::Shared(stores.clone())).await;
    let b = TestServer::start(Backend::Shared(stores)).await;
    let phone = random_us_number();
    create_phone_user(&a, &phone).await;

    let challenge = start_phone_login(&a, &phone).await.unwrap();
    let code = a.last_code_for(&last_four(&phone)).await;
    let res = verify(&b, &challenge.challenge_id, &code).await.unwrap();
    assert!(matches!(
        res.result,
        Some(pb::verify_code_response::Result::Session(_))
    ));

    // 10 sends per number per day, counted across both instances: 1 done, 9 more alternate,
    // then the 11th is refused on either.
    for i in 0..9 {
        let server = if i % 2 == 0 { &b } else { &a };
        start_phone_login(server, &phone).await.unwrap();
    }
    let status = assert_code(start_phone_login(&a, &phone).await, Code::ResourceExhausted);
    assert!(status.metadata().get("retry-after").is_some());
    assert_code(start_phone_login(&b, &phone).await, Code::ResourceExhausted);
}

/// R39 (a): Redis replication is asynchronous, so a failover can promote a replica that still
/// holds a challenge the old primary had consumed. Play that by putting the consumed
/// challenge's hash back as it was; the replayed code must still fail, because SQL remembers.
#[tokio::test]
async fn r39_a_code_revived_by_a_failover_is_refused() {
    let redis_url = twostep_tests::env::required("TWOSTEP_TEST_REDIS_URL");
    let stores = SharedStores::new(redis_url.clone()).await;
    let prefix = stores.key_prefix.clone();
    let server = TestServer::start(Backend::Shared(stores)).await;
    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    let challenge = start_phone_login(&server, &phone).await.unwrap();
    let code = server.last_code_for(&last_four(&phone)).await;

    let key = format!("{prefix}{{c:{}}}", challenge.challenge_id);
    let fields = redis_cli(&redis_url, &["HGETALL", &key]);
    assert!(fields.len() >= 2, "challenge {key} not found in Redis");
    let res = verify(&server, &challenge.challenge_id, &code)
        .await
        .unwrap();
    assert!(matches!(
        res.result,
        Some(pb::verify_code_response::Result::Session(_))
    ));

    let mut hset = vec!["HSET", key.as_str()];
    hset.extend(fields.iter().map(String::as_str));
    redis_cli(&redis_url, &hset);
    redis_cli(&redis_url, &["PEXPIRE", &key, "60000"]);
    assert_code(
        verify(&server, &challenge.challenge_id, &code).await,
        Code::Unauthenticated,
    );
}

/// Runs `redis-cli` (installed beside redis-server by scripts/test) and returns its lines.
fn redis_cli(url: &str, args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .arg("-u")
        .arg(url)
        .arg("--raw")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
