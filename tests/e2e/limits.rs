//! Issue 6, items 1–3: layered send limits with a retry-after, account lockout that is neither
//! an oracle nor reopened by a Redis flush, and the SMS kill switch.

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, RedisServer, SharedStores, TestServer};

use crate::helpers::*;

fn secs(n: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: n,
        nanos: 0,
    }
}

async fn phone_login_in(
    server: &TestServer,
    tenant: &str,
    phone: &str,
) -> Result<pb::Challenge, tonic::Status> {
    phone_login_from(server, tenant, phone, client()).await
}

async fn phone_login_from(
    server: &TestServer,
    tenant: &str,
    phone: &str,
    client: Option<pb::ClientContext>,
) -> Result<pb::Challenge, tonic::Status> {
    let res = start_phone_login_in(server, tenant, phone, client)
        .await?
        .into_inner();
    match res.result {
        Some(pb::start_login_response::Result::Challenge(c)) => Ok(c),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

async fn resend_in(
    server: &TestServer,
    tenant: &str,
    challenge_id: &str,
) -> Result<pb::ResendCodeResponse, tonic::Status> {
    let req = pb::ResendCodeRequest {
        client: client(),
        challenge_id: challenge_id.into(),
    };
    server
        .auth()
        .await
        .resend_code(for_tenant(tenant, req))
        .await
        .map(tonic::Response::into_inner)
}

/// RESOURCE_EXHAUSTED with a RetryInfo delay and the seconds in the message.
#[track_caller]
fn assert_refused_with_retry_after<T: std::fmt::Debug>(
    res: Result<T, tonic::Status>,
) -> std::time::Duration {
    assert_retry_after(&assert_code(res, Code::ResourceExhausted))
}

/// A wrong code that is surely not the right one.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &code[1..])
}

/// R15: the 11th code SMS to one number in a day is refused with a retry-after, for a known
/// and an unknown number alike (R18), and nothing is sent for it.
#[tokio::test]
async fn eleventh_sms_refused_with_retry_after() {
    let server = TestServer::start(Backend::Embedded).await;
    let known = random_us_number();
    create_phone_user(&server, &known).await;
    let unknown = format!("+1 212 555 {}", last_four(&random_us_number()));
    // Each number from its own IP, so only the per-number limit is reached (10 per IP per
    // hour is a limit of its own).
    let from = |ip: &str| {
        Some(pb::ClientContext {
            ip_address: ip.into(),
            ..Default::default()
        })
    };
    for (phone, ip) in [(&known, "198.51.100.1"), (&unknown, "198.51.100.2")] {
        for _ in 0..10 {
            phone_login_from(&server, "default", phone, from(ip))
                .await
                .unwrap();
        }
    }
    let sent = server.sms_count(&last_four(&known));
    let known_delay = assert_refused_with_retry_after(
        phone_login_from(&server, "default", &known, from("198.51.100.3")).await,
    );
    let unknown_delay = assert_refused_with_retry_after(
        phone_login_from(&server, "default", &unknown, from("198.51.100.4")).await,
    );
    // Both answers name the same kind of wait: up to a day.
    for d in [known_delay, unknown_delay] {
        assert!(d.as_secs() <= 24 * 3600, "{d:?}");
    }
    assert_eq!(
        server.sms_count(&last_four(&known)),
        sent,
        "no SMS for a refusal"
    );
}

/// §3.2: numbers that share all but their last 4 digits share one hourly budget.
#[tokio::test]
async fn pumping_prefix_limit_blocks_adjacent_numbers() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(
        &server,
        pb::TenantPolicy {
            limits: Some(pb::LimitsPolicy {
                per_prefix_per_hour: 3,
                ..Default::default()
            }),
            ..policy(pb::TwoStepMode::Optional)
        },
    )
    .await;
    for n in 0..3 {
        phone_login_in(&server, &tenant, &format!("+1 415 555 01{n:02}"))
            .await
            .unwrap();
    }
    assert_refused_with_retry_after(phone_login_in(&server, &tenant, "+1 415 555 0177").await);
    // Another prefix still has its budget.
    phone_login_in(&server, &tenant, "+1 415 556 0177")
        .await
        .unwrap();
}

/// A number outside the tenant's allowed countries is refused before anything is sent.
#[tokio::test]
async fn disallowed_country_is_refused_before_sending() {
    let server = TestServer::start(Backend::Embedded).await;
    let status = assert_code(
        start_phone_login(&server, "+44 7911 123456").await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("COUNTRY_NOT_ALLOWED"),
        "{status:?}"
    );
    assert_eq!(server.sms_count("3456"), 0);
}

/// R15, R14: a resend while cooling down is RESOURCE_EXHAUSTED with the wait; after a resend
/// the wait grows (backoff), never shrinks.
#[tokio::test]
async fn r15_resend_cooldown_answers_retry_after() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(
        &server,
        pb::TenantPolicy {
            code: Some(pb::CodePolicy {
                resend_cooldown: Some(secs(0)),
                ..Default::default()
            }),
            ..policy(pb::TwoStepMode::Optional)
        },
    )
    .await;
    let phone = random_us_number();
    create_password_user(&server, &tenant, &random_email(), Some(&phone)).await;
    let challenge = phone_login_in(&server, &tenant, &phone).await.unwrap();
    let resent = resend_in(&server, &tenant, &challenge.challenge_id)
        .await
        .unwrap()
        .challenge
        .unwrap();
    let wait = resent.resend_after.unwrap().seconds;
    // 1 min ± 20 %.
    assert!((47..=72).contains(&wait), "{wait}");
    assert_refused_with_retry_after(resend_in(&server, &tenant, &challenge.challenge_id).await);
}

/// The tenant policy for the lockout tests: small thresholds, long delays.
fn lockout_policy(lockout: pb::LockoutPolicy) -> pb::TenantPolicy {
    pb::TenantPolicy {
        lockout: Some(lockout),
        code: Some(pb::CodePolicy {
            resend_cooldown: Some(secs(0)),
            ..Default::default()
        }),
        ..policy(pb::TwoStepMode::Optional)
    }
}

/// R9: the account-wide count spans challenges and resends; at the hard lock even the right
/// code fails.
#[tokio::test]
async fn r09_resend_does_not_reset_account_failures() {
    let server = TestServer::start(Backend::PostgresRedis).await;
    let tenant = create_tenant(
        &server,
        lockout_policy(pb::LockoutPolicy {
            otp_soft_lock_at: 5,
            otp_hard_lock_at: 5,
            ..Default::default()
        }),
    )
    .await;
    let phone = random_us_number();
    create_password_user(&server, &tenant, &random_email(), Some(&phone)).await;
    let four = last_four(&phone);
    let c = phone_login_in(&server, &tenant, &phone).await.unwrap();
    let code = server.last_code_for(&four).await;
    for _ in 0..3 {
        assert_code(
            verify_in(&server, &tenant, &c.challenge_id, &wrong(&code)).await,
            Code::Unauthenticated,
        );
    }
    let seen = server.sms_count(&four);
    resend_in(&server, &tenant, &c.challenge_id).await.unwrap();
    let code = server.next_code_for(&four, seen).await;
    for _ in 0..2 {
        assert_code(
            verify_in(&server, &tenant, &c.challenge_id, &wrong(&code)).await,
            Code::Unauthenticated,
        );
    }
    // Five failures across a resend: hard-locked. A new challenge's right code fails.
    let seen = server.sms_count(&four);
    let fresh = phone_login_in(&server, &tenant, &phone).await.unwrap();
    let code = server.next_code_for(&four, seen).await;
    let status = assert_code(
        verify_in(&server, &tenant, &fresh.challenge_id, &code).await,
        Code::Unauthenticated,
    );
    assert_eq!(status.message(), "authentication failed");
}

/// R10: success clears the run: 3 wrong, 1 right, 3 wrong is not locked (soft lock at 4).
#[tokio::test]
async fn r10_success_clears_the_run() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = create_tenant(
        &server,
        lockout_policy(pb::LockoutPolicy {
            otp_soft_lock_at: 4,
            otp_hard_lock_at: 4,
            ..Default::default()
        }),
    )
    .await;
    let phone = random_us_number();
    create_password_user(&server, &tenant, &random_email(), Some(&phone)).await;
    let four = last_four(&phone);
    for _ in 0..2 {
        let seen = server.sms_count(&four);
        let c = phone_login_in(&server, &tenant, &phone).await.unwrap();
        let code = server.next_code_for(&four, seen).await;
        for _ in 0..3 {
            assert_code(
                verify_in(&server, &tenant, &c.challenge_id, &wrong(&code)).await,
                Code::Unauthenticated,
            );
        }
        verify_in(&server, &tenant, &c.challenge_id, &code)
            .await
            .unwrap();
    }
}

/// R39 b: after 4 wrong guesses, a Redis flush (here: Redis restarted empty) does not reopen
/// them: the total before the hard lock stays at the SQL cap.
#[tokio::test]
async fn r39b_flushall_does_not_reopen_guesses() {
    let mut redis = RedisServer::start();
    let stores = SharedStores::new(redis.url()).await;
    let server = TestServer::start(Backend::Shared(stores)).await;
    let tenant = create_tenant(
        &server,
        lockout_policy(pb::LockoutPolicy {
            otp_soft_lock_at: 8,
            otp_hard_lock_at: 8,
            ..Default::default()
        }),
    )
    .await;
    let phone = random_us_number();
    create_password_user(&server, &tenant, &random_email(), Some(&phone)).await;
    let four = last_four(&phone);
    let c = phone_login_in(&server, &tenant, &phone).await.unwrap();
    let code = server.last_code_for(&four).await;
    for _ in 0..4 {
        assert_code(
            verify_in(&server, &tenant, &c.challenge_id, &wrong(&code)).await,
            Code::Unauthenticated,
        );
    }

    redis.restart();
    server.wait_until_serving().await;

    // Only 4 more wrong guesses remain (a success would end the run, so none is tried).
    let seen = server.sms_count(&four);
    let c = loop {
        match phone_login_in(&server, &tenant, &phone).await {
            Ok(c) => break c,
            Err(s) if s.code() == Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    };
    let code = server.next_code_for(&four, seen).await;
    for _ in 0..4 {
        assert_code(
            verify_in(&server, &tenant, &c.challenge_id, &wrong(&code)).await,
            Code::Unauthenticated,
        );
    }
    // 4 before the flush + 4 after = the cap of 8: even the right code now fails.
    let seen = server.sms_count(&four);
    let c = phone_login_in(&server, &tenant, &phone).await.unwrap();
    let code = server.next_code_for(&four, seen).await;
    assert_code(
        verify_in(&server, &tenant, &c.challenge_id, &code).await,
        Code::Unauthenticated,
    );
}

/// R11, R13: while a password soft lock runs, the right password gets exactly the answer of
/// a wrong one and of an unknown login; an admin unlock clears it (and the SQL record).
#[tokio::test]
async fn r11_lockout_delays_grow_and_are_not_an_oracle() {
    let server = TestServer::start(Backend::PostgresRedis).await;
    let tenant = create_tenant(
        &server,
        lockout_policy(pb::LockoutPolicy {
            password_soft_lock_at: 2,
            password_hard_lock_at: 50,
            first_delay: Some(secs(3600)),
            ..Default::default()
        }),
    )
    .await;
    let email = random_email();
    let user = create_password_user(&server, &tenant, &email, None).await;
    for _ in 0..2 {
        assert_code(
            password_login(&server, &tenant, &email, "not the passphrase at all").await,
            Code::Unauthenticated,
        );
    }
    let wrong = assert_code(
        password_login(&server, &tenant, &email, "still not the passphrase").await,
        Code::Unauthenticated,
    );
    let right = assert_code(
        password_login(&server, &tenant, &email, PASSWORD).await,
        Code::Unauthenticated,
    );
    let unknown = assert_code(
        password_login(&server, &tenant, &random_email(), PASSWORD).await,
        Code::Unauthenticated,
    );
    for s in [&right, &unknown] {
        assert_eq!(s.message(), wrong.message());
        assert_eq!(s.details(), wrong.details());
    }

    let req = pb::UnlockUserRequest {
        tenant_id: String::new(),
        user_id: user.user_id.clone(),
    };
    server
        .admin()
        .await
        .unlock_user(for_tenant(&tenant, req))
        .await
        .unwrap();
    password_login(&server, &tenant, &email, PASSWORD)
        .await
        .unwrap();
}

/// The SMS kill switch refuses every send with UNAVAILABLE, known and unknown numbers alike,
/// and nothing is sent.
#[tokio::test]
async fn kill_switch_refuses_every_send_alike() {
    let server = TestServer::start_with(
        Backend::Embedded,
        &[("TWOSTEP_SECURITY__SMS_KILL_SWITCH", "true")],
    )
    .await;
    let known = random_us_number();
    create_phone_user(&server, &known).await;
    let a = assert_code(start_phone_login(&server, &known).await, Code::Unavailable);
    let b = assert_code(
        start_phone_login(&server, "+1 212 555 0199").await,
        Code::Unavailable,
    );
    assert_eq!(a.message(), b.message());
    assert_eq!(server.sms_count(&last_four(&known)), 0);
}
