//! Backup codes in place of the SMS code (R26, R27).

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::helpers::*;

/// Logs in with password and SMS, and returns (session, a fresh batch of backup codes).
async fn user_with_backup_codes(
    server: &TestServer,
    tenant: &str,
    email: &str,
    phone: &str,
) -> Vec<String> {
    create_password_user(server, tenant, email, Some(phone)).await;
    let res = password_login(server, tenant, email, PASSWORD)
        .await
        .unwrap();
    let Some(pb::start_login_response::Result::Challenge(c)) = res.result else {
        panic!("{res:?}")
    };
    let code = server.last_code_for(&last_four(phone)).await;
    let res = verify_in(server, tenant, &c.challenge_id, &code)
        .await
        .unwrap();
    let Some(pb::verify_code_response::Result::Session(session)) = res.result else {
        panic!("{res:?}")
    };
    let req = pb::RegenerateBackupCodesRequest {
        access_token: session.access_token,
        client: client(),
        reauth: Some(pb::Reauthentication {
            method: Some(pb::reauthentication::Method::CurrentPassword(
                PASSWORD.into(),
            )),
        }),
    };
    let res = server
        .account()
        .await
        .regenerate_backup_codes(for_tenant(tenant, req))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::regenerate_backup_codes_response::Result::BackupCodes(batch)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(batch.codes.len(), 10);
    batch.codes
}

async fn second_factor_challenge(server: &TestServer, tenant: &str, email: &str) -> pb::Challenge {
    let res = password_login(server, tenant, email, PASSWORD)
        .await
        .unwrap();
    let Some(pb::start_login_response::Result::Challenge(c)) = res.result else {
        panic!("{res:?}")
    };
    c
}

async fn use_code(
    server: &TestServer,
    tenant: &str,
    challenge: &str,
    code: &str,
) -> Result<pb::UseBackupCodeResponse, tonic::Status> {
    let req = pb::UseBackupCodeRequest {
        client: client(),
        challenge_id: challenge.into(),
        backup_code: code.into(),
    };
    server
        .auth()
        .await
        .use_backup_code(for_tenant(tenant, req))
        .await
        .map(tonic::Response::into_inner)
}

/// R26, R27: a backup code replaces the SMS code once, the SMS code of that challenge then
/// fails, the user is notified, and the count of codes left is returned.
#[tokio::test]
async fn r27_a_backup_code_finishes_the_login_once_and_notifies() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let (email, phone) = (random_email(), random_us_number());
    let codes = user_with_backup_codes(&server, &tenant, &email, &phone).await;

    let c = second_factor_challenge(&server, &tenant, &email).await;
    let sms = server.next_code_for(&last_four(&phone), 1).await;
    let res = use_code(&server, &tenant, &c.challenge_id, &codes[0].to_lowercase())
        .await
        .unwrap();
    assert_eq!(res.remaining_backup_codes, 9);
    let Some(pb::use_backup_code_response::Result::Session(s)) = res.result else {
        panic!("{res:?}")
    };
    assert_eq!(s.auth_method, pb::AuthMethod::PasswordAndBackupCode as i32);
    // The challenge is over: its SMS code no longer works.
    assert_code(
        verify_in(&server, &tenant, &c.challenge_id, &sms).await,
        Code::Unauthenticated,
    );
    server
        .wait_for_sms(&last_four(&phone), "backup code was used")
        .await;

    // The same backup code works once only.
    let c = second_factor_challenge(&server, &tenant, &email).await;
    assert_code(
        use_code(&server, &tenant, &c.challenge_id, &codes[0]).await,
        Code::Unauthenticated,
    );
    assert!(
        use_code(&server, &tenant, &c.challenge_id, &codes[1])
            .await
            .is_ok()
    );
}

/// R26: of concurrent uses of one code, exactly one succeeds.
#[tokio::test]
async fn r26_concurrent_uses_of_one_backup_code_succeed_once() {
    let server = TestServer::start(Backend::PostgresRedis).await;
    let tenant = create_tenant(&server, policy(pb::TwoStepMode::Optional)).await;
    let (email, phone) = (random_email(), random_us_number());
    let codes = user_with_backup_codes(&server, &tenant, &email, &phone).await;
    let mut challenges = Vec::new();
    for _ in 0..5 {
        challenges.push(
            second_factor_challenge(&server, &tenant, &email)
                .await
                .challenge_id,
        );
    }
    let mut tasks = Vec::new();
    for c in challenges {
        let (url, tenant, code) = (server.url(), tenant.clone(), codes[3].clone());
        tasks.push(tokio::spawn(async move {
            let channel = tonic::transport::Channel::from_shared(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut auth = pb::auth_service_client::AuthServiceClient::new(channel);
            let req = pb::UseBackupCodeRequest {
                client: client(),
                challenge_id: c,
                backup_code: code,
            };
            auth.use_backup_code(for_tenant(&tenant, req)).await.is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn a_backup_code_only_answers_second_factor_challenges() {
    let server = TestServer::start(Backend::Embedded).await;
    let phone = random_us_number();
    create_phone_user(&server, &phone).await;
    let c = start_phone_login(&server, &phone).await.unwrap();
    assert_code(
        use_code(&server, "default", &c.challenge_id, "ABCDE-FGHJK").await,
        Code::Unauthenticated,
    );
    let status = assert_code(
        use_code(&server, "default", "nope", "ABCDE-FGHJK").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_field(&status), "challenge_id");
}
