//! Sessions: refresh rotates and detects reuse; revocation takes effect at once.

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;

async fn logged_in(server: &TestServer) -> pb::Session {
    let tenant = "default";
    let email = random_email();
    create_password_user(server, tenant, &email, None).await;
    let res = password_login(server, tenant, &email, PASSWORD)
        .await
        .unwrap();
    let Some(pb::start_login_response::Result::Session(s)) = res.result else {
        panic!("{res:?}")
    };
    s
}

async fn refresh(server: &TestServer, token: &str) -> Result<pb::Session, tonic::Status> {
    let req = pb::RefreshSessionRequest {
        client: client(),
        refresh_token: token.into(),
    };
    server
        .auth()
        .await
        .refresh_session(req)
        .await
        .map(|r| r.into_inner().session.unwrap())
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
        .validate_session(req)
        .await
        .map(tonic::Response::into_inner)
}

/// R34: a rotated refresh token presented again kills the whole family.
#[tokio::test]
async fn r34_refresh_rotates_and_reuse_revokes_the_family() {
    let server = TestServer::start(Backend::Embedded).await;
    let first = logged_in(&server).await;
    let second = refresh(&server, &first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        second.absolute_expires_at, first.absolute_expires_at,
        "rotation never moves the absolute end"
    );
    validate(&server, &second.access_token).await.unwrap();
    assert_code(
        validate(&server, &first.access_token).await,
        Code::Unauthenticated,
    );

    // Reuse of the first refresh token: rejected, and the live second session dies with it.
    assert_code(
        refresh(&server, &first.refresh_token).await,
        Code::Unauthenticated,
    );
    assert_code(
        validate(&server, &second.access_token).await,
        Code::Unauthenticated,
    );
    assert_code(
        refresh(&server, &second.refresh_token).await,
        Code::Unauthenticated,
    );
}

#[tokio::test]
async fn revoke_logs_out_one_or_all_sessions_at_once() {
    let server = TestServer::start(Backend::Embedded).await;
    let a = logged_in(&server).await;
    let mut auth = server.auth().await;
    let res = auth
        .revoke_session(pb::RevokeSessionRequest {
            client: client(),
            access_token: a.access_token.clone(),
            target: None,
        })
        .await
        .unwrap();
    assert_eq!(res.into_inner().revoked_count, 1);
    assert_code(
        validate(&server, &a.access_token).await,
        Code::Unauthenticated,
    );
    assert_code(
        refresh(&server, &a.refresh_token).await,
        Code::Unauthenticated,
    );
}

#[tokio::test]
async fn session_rpcs_refuse_bad_input() {
    let server = TestServer::start(Backend::Embedded).await;
    let status = assert_code(refresh(&server, "").await, Code::InvalidArgument);
    assert_eq!(violated_field(&status), "refresh_token");
    assert_code(refresh(&server, "tsr_made-up").await, Code::Unauthenticated);
    let status = assert_code(validate(&server, "").await, Code::InvalidArgument);
    assert_eq!(violated_field(&status), "access_token");
}

/// ListSessions shows the login, not the last rotation: `created_at` is the family's birth
/// and stays across refreshes (`last_used_at` moves), with the login's device id and user
/// agent.
#[tokio::test]
async fn list_sessions_shows_the_login_time_and_device_across_refreshes() {
    let server = TestServer::start(Backend::Embedded).await;
    let first = logged_in(&server).await;
    let list = |token: String| {
        let server = &server;
        async move {
            server
                .account()
                .await
                .list_sessions(pb::ListSessionsRequest {
                    access_token: token,
                    client: client(),
                })
                .await
                .unwrap()
                .into_inner()
                .sessions
        }
    };
    let before = list(first.access_token.clone()).await;
    assert_eq!(before.len(), 1);
    let login = before[0].clone();
    assert_eq!(login.created_at, login.last_used_at);
    assert_eq!(login.device_id, "device-1");
    assert_eq!(login.user_agent, "e2e-test");

    let second = refresh(&server, &first.refresh_token).await.unwrap();
    let third = refresh(&server, &second.refresh_token).await.unwrap();
    let after = list(third.access_token).await;
    assert_eq!(after.len(), 1, "{after:?}");
    let s = &after[0];
    assert!(s.current);
    assert_eq!(s.created_at, login.created_at, "the login's time, kept");
    let (used, created) = (s.last_used_at.unwrap(), s.created_at.unwrap());
    assert!((used.seconds, used.nanos) >= (created.seconds, created.nanos));
    assert_eq!(s.device_id, "device-1");
    assert_eq!(s.user_agent, "e2e-test");
}
