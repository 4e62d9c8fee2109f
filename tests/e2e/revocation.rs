//! R34 across instances: each instance caches validated sessions, and a revocation on one
//! instance must end the session on every other at once, with the other's cache warm.
//!
//! Two twostepd share PostgreSQL and Redis. Instance B validates first (filling its cache),
//! instance A revokes, and B's very next validation must be UNAUTHENTICATED.

use std::time::Duration;

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, RedisServer, SharedStores, TestServer};

use crate::helpers::*;

const TENANT: &str = "default";

/// Two instances on the same stores, each with its revocation subscription up (so B's cache
/// is in use, not bypassed).
async fn two_instances(redis_url: String, extra_env: &[(&str, &str)]) -> (TestServer, TestServer) {
    let stores = SharedStores::new(redis_url).await;
    let a = TestServer::start_with(Backend::Shared(stores.clone()), extra_env).await;
    let b = TestServer::start_with(Backend::Shared(stores), extra_env).await;
    for server in [&a, &b] {
        wait_for_log(server, "session revocations: subscribed").await;
    }
    (a, b)
}

async fn wait_for_log(server: &TestServer, needle: &str) {
    for _ in 0..1000 {
        if server.stderr_text().contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("twostepd never logged {needle:?}");
}

/// A new user logged in by password on `server`: its user id and session.
async fn logged_in(server: &TestServer) -> (String, pb::Session) {
    let email = random_email();
    let user = create_password_user(server, TENANT, &email, None).await;
    let res = password_login(server, TENANT, &email, PASSWORD)
        .await
        .unwrap();
    let Some(pb::start_login_response::Result::Session(s)) = res.result else {
        panic!("{res:?}")
    };
    (user.user_id, s)
}

async fn validate(
    server: &TestServer,
    token: &str,
) -> Result<pb::ValidateSessionResponse, tonic::Status> {
    let req = pb::ValidateSessionRequest {
        access_token: token.into(),
    };
    server
        .auth()
        .await
        .validate_session(for_tenant(TENANT, req))
        .await
        .map(tonic::Response::into_inner)
}

/// Validates twice on `server`: the first fills its cache, the second is served from it.
async fn warm(server: &TestServer, token: &str) {
    validate(server, token).await.unwrap();
    validate(server, token).await.unwrap();
}

async fn refresh(server: &TestServer, token: &str) -> Result<pb::Session, tonic::Status> {
    let req = pb::RefreshSessionRequest {
        client: client(),
        refresh_token: token.into(),
    };
    server
        .auth()
        .await
        .refresh_session(for_tenant(TENANT, req))
        .await
        .map(|r| r.into_inner().session.unwrap())
}

async fn revoke(server: &TestServer, token: &str, all: bool) -> u32 {
    let req = pb::RevokeSessionRequest {
        client: client(),
        access_token: token.into(),
        target: Some(pb::revoke_session_request::Target::AllSessions(all)),
    };
    server
        .auth()
        .await
        .revoke_session(for_tenant(TENANT, req))
        .await
        .unwrap()
        .into_inner()
        .revoked_count
}

/// Logout and revoke-all on A end the sessions B has cached.
#[tokio::test]
async fn r34_revocation_is_immediate_across_instances() {
    let redis = twostep_tests::env::required("TWOSTEP_TEST_REDIS_URL");
    let (a, b) = two_instances(redis, &[]).await;

    // Logout.
    let (_, s) = logged_in(&a).await;
    warm(&b, &s.access_token).await;
    assert_eq!(revoke(&a, &s.access_token, false).await, 1);
    assert_code(validate(&b, &s.access_token).await, Code::Unauthenticated);

    // Revoke all: two sessions of one user, both cached on B.
    let email = random_email();
    create_password_user(&a, TENANT, &email, None).await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let res = password_login(&a, TENANT, &email, PASSWORD).await.unwrap();
        let Some(pb::start_login_response::Result::Session(s)) = res.result else {
            panic!("{res:?}")
        };
        warm(&b, &s.access_token).await;
        sessions.push(s);
    }
    assert_eq!(revoke(&a, &sessions[0].access_token, true).await, 2);
    for s in &sessions {
        assert_code(validate(&b, &s.access_token).await, Code::Unauthenticated);
    }
}

/// A refresh on A ends the old access token on B; reuse of the old refresh token on A kills
/// the family, including the successor B has cached.
#[tokio::test]
async fn r34_refresh_token_reuse_kills_the_family_across_instances() {
    let redis = twostep_tests::env::required("TWOSTEP_TEST_REDIS_URL");
    let (a, b) = two_instances(redis, &[]).await;
    let (_, first) = logged_in(&a).await;
    warm(&b, &first.access_token).await;

    let second = refresh(&a, &first.refresh_token).await.unwrap();
    assert_code(
        validate(&b, &first.access_token).await,
        Code::Unauthenticated,
    );
    warm(&b, &second.access_token).await;

    assert_code(
        refresh(&a, &first.refresh_token).await,
        Code::Unauthenticated,
    );
    assert_code(
        validate(&b, &second.access_token).await,
        Code::Unauthenticated,
    );
    assert_code(
        validate(&a, &second.access_token).await,
        Code::Unauthenticated,
    );
}

/// An admin's LockUser on A ends the user's sessions on B.
#[tokio::test]
async fn r34_admin_lock_ends_sessions_across_instances() {
    let redis = twostep_tests::env::required("TWOSTEP_TEST_REDIS_URL");
    let (a, b) = two_instances(redis, &[]).await;
    let (user_id, s) = logged_in(&a).await;
    warm(&b, &s.access_token).await;

    let req = pb::LockUserRequest {
        user_id,
        reason: "stolen device".into(),
        ..Default::default()
    };
    a.admin()
        .await
        .lock_user(for_tenant(TENANT, req))
        .await
        .unwrap();
    assert_code(validate(&b, &s.access_token).await, Code::Unauthenticated);
}

/// With Redis down, A cannot publish; B has lost its subscription too and must not trust its
/// cache: the revocation (durable in PostgreSQL) still holds on B.
#[tokio::test]
async fn r34_revocation_holds_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let (a, b) = two_instances(redis.url(), &[("TWOSTEP_REDIS__COMMAND_TIMEOUT_MS", "300")]).await;
    let (_, s) = logged_in(&a).await;
    warm(&b, &s.access_token).await;

    redis.kill();
    assert_eq!(revoke(&a, &s.access_token, false).await, 1);
    assert_code(validate(&b, &s.access_token).await, Code::Unauthenticated);
    assert_code(validate(&a, &s.access_token).await, Code::Unauthenticated);
}
