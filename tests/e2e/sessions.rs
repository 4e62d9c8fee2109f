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
