//! R17, issue 6 item 7: every flow runs against a `twostepd` logging at TRACE (its own
//! events and every dependency's: sea-orm, sqlx, redis, hyper, h2, tonic), and no code,
//! password, token, ticket, backup code or full phone number appears anywhere in its
//! standard error. The SMS go to a loopback provider, not to the console sink (which prints
//! codes by design), so every code is known to the test and absent from the log.

use std::time::Duration;

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

use crate::fake_provider::{FakeProvider, e164, generic_provider};
use crate::helpers::*;
use crate::requirements::{challenge_of, reauth_password, session_of, use_backup_code};
use crate::store_dump::{find_digits, find_text};

const OUTBOX_KEY: &str = "68796769656e65206f7574626f78206b657920666f7220653265207465737421";

/// Everything secret the flows handled, to be searched for in the log.
#[derive(Default)]
struct Secrets {
    /// Codes: searched as whole digit runs.
    codes: Vec<String>,
    /// Everything else: searched as text.
    texts: Vec<(String, &'static str)>,
}

impl Secrets {
    fn text(&mut self, value: &str, what: &'static str) {
        assert!(!value.is_empty(), "empty {what}");
        self.texts.push((value.to_owned(), what));
    }

    fn token(&mut self, token: &str, what: &'static str) {
        // The random part alone catches a log that strips or masks the prefix.
        self.text(&token[4..], what);
    }

    fn session(&mut self, s: &pb::Session) {
        self.token(&s.access_token, "access token");
        self.token(&s.refresh_token, "refresh token");
    }

    fn password(&mut self, password: &str) {
        self.text(password, "password");
    }

    /// Every spelling of a US number: E.164, national digits, and the usual separators.
    fn phone(&mut self, phone: &str) {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let national = &digits[1..];
        let (area, exchange, line) = (&national[..3], &national[3..6], &national[6..]);
        self.text(&e164(phone), "phone (E.164)");
        self.text(national, "phone (national digits)");
        self.text(&format!("{area} {exchange} {line}"), "phone (spaced)");
        self.text(&format!("({area}) {exchange}-{line}"), "phone (national)");
        self.text(&format!("{area}-{exchange}-{line}"), "phone (dashed)");
    }

    fn backup_codes(&mut self, codes: &[String]) {
        for code in codes {
            self.text(code, "backup code");
            let compact: String = code.chars().filter(char::is_ascii_alphanumeric).collect();
            self.text(&compact, "backup code");
            self.text(&compact.to_ascii_lowercase(), "backup code");
        }
    }
}

/// A tenant for the run, with 10-digit codes: a 6-digit code could turn up by chance among
/// the many numbers of a TRACE log, a 10-digit one cannot; a leak prints the whole code
/// whatever its length.
async fn hygiene_tenant(server: &TestServer) -> String {
    let mut p = policy(pb::TwoStepMode::Optional);
    p.code = Some(pb::CodePolicy {
        length: 10,
        ..Default::default()
    });
    // Every flow from one client address: per-IP limits are not what this test is about.
    p.limits = Some(pb::LimitsPolicy {
        per_ip_per_hour: 1000,
        password_per_ip_per_hour: 1000,
        ..Default::default()
    });
    create_tenant(server, p).await
}

struct Run<'a> {
    server: &'a TestServer,
    sms: &'a FakeProvider,
    tenant: String,
    secrets: Secrets,
}

impl Run<'_> {
    /// The code of the next SMS to `phone` (waits for it), recorded as a secret.
    async fn code_after(&mut self, phone: &str, seen: usize) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let to = self.sms.to(phone);
            if let Some(m) = to.iter().skip(seen).rfind(|m| !m.code().is_empty()) {
                let code = m.code();
                assert_eq!(code.len(), 10, "{m:?}");
                self.secrets.codes.push(code.clone());
                return code;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no code to {phone}: {:?}",
                self.sms.messages()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn seen(&self, phone: &str) -> usize {
        self.sms.to(phone).len()
    }

    fn req<T>(&self, message: T) -> tonic::Request<T> {
        for_tenant(&self.tenant, message)
    }

    fn number(&mut self) -> String {
        let phone = random_us_number();
        self.secrets.phone(&phone);
        phone
    }

    async fn verify(&mut self, challenge: &pb::Challenge, code: &str) -> pb::VerifyCodeResponse {
        verify_in(self.server, &self.tenant, &challenge.challenge_id, code)
            .await
            .unwrap()
    }

    async fn phone_login(&mut self, phone: &str) -> pb::Challenge {
        let req = pb::StartLoginRequest {
            client: client(),
            method: Some(pb::start_login_request::Method::Phone(
                pb::PhoneCredentials {
                    phone_number: phone.into(),
                },
            )),
        };
        let res = self
            .server
            .auth()
            .await
            .start_login(self.req(req))
            .await
            .unwrap();
        challenge_of(res.into_inner())
    }
}

async fn every_flow(run: &mut Run<'_>) {
    let server = run.server;
    let mut auth = server.auth().await;
    let mut account = server.account().await;
    let mut admin = server.admin().await;
    let password = format!("hygiene passphrase {}", uuid_part());
    run.secrets.password(&password);

    // --- Registration by email, with a phone to verify later.
    let email = random_email();
    let req = pb::StartRegistrationRequest {
        client: client(),
        method: Some(pb::start_registration_request::Method::Email(
            pb::EmailRegistration {
                email: email.clone(),
                password: password.clone(),
                display_name: "Hy".into(),
                ..Default::default()
            },
        )),
    };
    let res = auth.start_registration(run.req(req)).await.unwrap();
    let Some(pb::start_registration_response::Result::Session(email_session)) =
        res.into_inner().result
    else {
        panic!("email registration gives a session")
    };
    run.secrets.session(&email_session);
    // A blocklisted password is refused with its reason, and is a secret too.
    let weak = "password1234";
    let req = pb::StartRegistrationRequest {
        client: client(),
        method: Some(pb::start_registration_request::Method::Email(
            pb::EmailRegistration {
                email: random_email(),
                password: weak.into(),
                display_name: "Weak".into(),
                ..Default::default()
            },
        )),
    };
    assert!(auth.start_registration(run.req(req)).await.is_err());
    run.secrets.password(weak);

    // --- Enrollment: the email user verifies a phone; two-step on, backup codes.
    let phone1 = run.number();
    let req = pb::StartPhoneVerificationRequest {
        access_token: email_session.access_token.clone(),
        client: client(),
        phone_number: phone1.clone(),
        ..Default::default()
    };
    let challenge = account
        .start_phone_verification(run.req(req))
        .await
        .unwrap()
        .into_inner()
        .challenge
        .unwrap();
    let code = run.code_after(&phone1, 0).await;
    // A wrong code first.
    assert_code(
        verify_in(server, &run.tenant, &challenge.challenge_id, "1111111111").await,
        Code::Unauthenticated,
    );
    let res = run.verify(&challenge, &code).await;
    let Some(pb::verify_code_response::Result::PhoneVerified(enrolled)) = res.result else {
        panic!("{res:?}")
    };
    run.secrets.backup_codes(&enrolled.backup_codes);
    let backup_codes = enrolled.backup_codes.clone();

    // --- Password login with the SMS second factor (by email, then by phone number).
    let seen = run.seen(&phone1);
    let c = challenge_of(
        password_login(server, &run.tenant, &email, &password)
            .await
            .unwrap(),
    );
    let code = run.code_after(&phone1, seen).await;
    let session = session_of(run.verify(&c, &code).await);
    run.secrets.session(&session);
    let seen = run.seen(&phone1);
    let c = challenge_of(
        password_login(server, &run.tenant, &phone1, &password)
            .await
            .unwrap(),
    );
    // A resend inside the cooldown is refused; then the code.
    let _ = auth
        .resend_code(run.req(pb::ResendCodeRequest {
            client: client(),
            challenge_id: c.challenge_id.clone(),
        }))
        .await;
    let code = run.code_after(&phone1, seen).await;
    let session = session_of(run.verify(&c, &code).await);
    run.secrets.session(&session);
    // A wrong password.
    let wrong = format!("wrong passphrase {}", uuid_part());
    run.secrets.password(&wrong);
    assert!(
        password_login(server, &run.tenant, &email, &wrong)
            .await
            .is_err()
    );

    // --- A backup code in place of the SMS code, then a new batch.
    let seen = run.seen(&phone1);
    let c = challenge_of(
        password_login(server, &run.tenant, &email, &password)
            .await
            .unwrap(),
    );
    run.code_after(&phone1, seen).await;
    let res = use_backup_code(server, &run.tenant, &c.challenge_id, &backup_codes[0])
        .await
        .unwrap();
    let Some(pb::use_backup_code_response::Result::Session(session)) = res.result else {
        panic!("{res:?}")
    };
    run.secrets.session(&session);
    let req = pb::RegenerateBackupCodesRequest {
        access_token: session.access_token.clone(),
        client: client(),
        reauth: reauth_password(&password),
    };
    let res = account
        .regenerate_backup_codes(run.req(req))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::regenerate_backup_codes_response::Result::BackupCodes(batch)) = res.result else {
        panic!("{res:?}")
    };
    run.secrets.backup_codes(&batch.codes);

    // --- Number change: password re-authentication, the new number's code.
    let phone2 = run.number();
    let req = pb::StartPhoneVerificationRequest {
        access_token: session.access_token.clone(),
        client: client(),
        phone_number: phone2.clone(),
        reauth: reauth_password(&password),
        ..Default::default()
    };
    let challenge = account
        .start_phone_verification(run.req(req))
        .await
        .unwrap()
        .into_inner()
        .challenge
        .unwrap();
    let code = run.code_after(&phone2, 0).await;
    run.verify(&challenge, &code).await;

    // --- Refresh, validate, list, revoke.
    let refreshed = auth
        .refresh_session(run.req(pb::RefreshSessionRequest {
            client: client(),
            refresh_token: session.refresh_token.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    run.secrets.session(&refreshed);
    // Reusing the old refresh token revokes the family.
    assert!(
        auth.refresh_session(run.req(pb::RefreshSessionRequest {
            client: client(),
            refresh_token: session.refresh_token.clone(),
        }))
        .await
        .is_err()
    );
    let seen = run.seen(&phone2);
    let c = challenge_of(
        password_login(server, &run.tenant, &email, &password)
            .await
            .unwrap(),
    );
    let code = run.code_after(&phone2, seen).await;
    let session = session_of(run.verify(&c, &code).await);
    run.secrets.session(&session);
    auth.validate_session(run.req(pb::ValidateSessionRequest {
        access_token: session.access_token.clone(),
    }))
    .await
    .unwrap();
    account
        .list_sessions(run.req(pb::ListSessionsRequest {
            access_token: session.access_token.clone(),
            client: client(),
        }))
        .await
        .unwrap();
    account
        .get_profile(run.req(pb::GetProfileRequest {
            access_token: session.access_token.clone(),
            client: client(),
        }))
        .await
        .unwrap();

    // --- Password change, then two-step off.
    let new_password = format!("changed passphrase {}", uuid_part());
    run.secrets.password(&new_password);
    account
        .change_password(run.req(pb::ChangePasswordRequest {
            access_token: session.access_token.clone(),
            client: client(),
            current_password: password.clone(),
            new_password: new_password.clone(),
            revoke_other_sessions: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    account
        .disable_two_step(run.req(pb::DisableTwoStepRequest {
            access_token: session.access_token.clone(),
            client: client(),
            reauth: reauth_password(&new_password),
        }))
        .await
        .unwrap();
    auth.revoke_session(run.req(pb::RevokeSessionRequest {
        client: client(),
        access_token: session.access_token.clone(),
        target: Some(pb::revoke_session_request::Target::AllSessions(true)),
    }))
    .await
    .unwrap();

    // --- Registration by phone: code, ticket, name and password.
    let phone3 = run.number();
    let req = pb::StartRegistrationRequest {
        client: client(),
        method: Some(pb::start_registration_request::Method::Phone(
            pb::PhoneRegistration {
                phone_number: phone3.clone(),
            },
        )),
    };
    let res = auth.start_registration(run.req(req)).await.unwrap();
    let Some(pb::start_registration_response::Result::Challenge(c)) = res.into_inner().result
    else {
        panic!("phone registration gives a challenge")
    };
    let code = run.code_after(&phone3, 0).await;
    let res = run.verify(&c, &code).await;
    let Some(pb::verify_code_response::Result::RegistrationTicket(ticket)) = res.result else {
        panic!("{res:?}")
    };
    run.secrets.token(&ticket.ticket, "registration ticket");
    let phone_password = format!("phone user passphrase {}", uuid_part());
    run.secrets.password(&phone_password);
    let res = auth
        .complete_registration(run.req(pb::CompleteRegistrationRequest {
            client: client(),
            ticket: ticket.ticket.clone(),
            display_name: "Ph".into(),
            email: random_email(),
            password: Some(phone_password.clone()),
        }))
        .await
        .unwrap()
        .into_inner();
    run.secrets.session(&res.session.unwrap());
    // Registering the same number again: same answer, a notice to the owner, no code.
    let req = pb::StartRegistrationRequest {
        client: client(),
        method: Some(pb::start_registration_request::Method::Phone(
            pb::PhoneRegistration {
                phone_number: format!("+{}", &e164(&phone3)[1..]),
            },
        )),
    };
    auth.start_registration(run.req(req)).await.unwrap();

    // --- Phone login, in a national spelling; and an unknown number (a decoy).
    let digits: String = phone3.chars().filter(char::is_ascii_digit).collect();
    let national = format!("({}) {}-{}", &digits[1..4], &digits[4..7], &digits[7..]);
    let seen = run.seen(&phone3);
    let c = run.phone_login(&national).await;
    let code = run.code_after(&phone3, seen).await;
    let session = session_of(run.verify(&c, &code).await);
    run.secrets.session(&session);
    let unknown = run.number();
    let c = run.phone_login(&unknown).await;
    assert_code(
        verify_in(server, &run.tenant, &c.challenge_id, "2222222222").await,
        Code::Unauthenticated,
    );

    // --- Admin actions.
    let admin_phone = run.number();
    let admin_password = format!("admin made passphrase {}", uuid_part());
    run.secrets.password(&admin_password);
    let user = admin
        .create_user(run.req(pb::CreateUserRequest {
            display_name: "Ad".into(),
            email: random_email(),
            password: admin_password.clone(),
            phone_number: admin_phone.clone(),
            phone_verified: true,
            two_step_enabled: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    let id = user.user_id.clone();
    admin
        .find_user(run.req(pb::FindUserRequest {
            lookup: Some(pb::find_user_request::Lookup::PhoneNumber(
                admin_phone.clone(),
            )),
            ..Default::default()
        }))
        .await
        .unwrap();
    let other_phone = run.number();
    admin
        .set_user_phone(run.req(pb::SetUserPhoneRequest {
            user_id: id.clone(),
            phone_number: other_phone.clone(),
            mark_verified: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    admin
        .force_password_change(run.req(pb::ForcePasswordChangeRequest {
            user_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    admin
        .lock_user(run.req(pb::LockUserRequest {
            user_id: id.clone(),
            reason: "hygiene".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    admin
        .unlock_user(run.req(pb::UnlockUserRequest {
            user_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    // The forced change: SMS code first, then a ticket that only changes the password.
    let seen = run.seen(&other_phone);
    let c = challenge_of(
        password_login(server, &run.tenant, &other_phone, &admin_password)
            .await
            .unwrap(),
    );
    let code = run.code_after(&other_phone, seen).await;
    let res = run.verify(&c, &code).await;
    let Some(pb::verify_code_response::Result::PasswordChangeRequired(ticket)) = res.result else {
        panic!("{res:?}")
    };
    run.secrets.token(&ticket.ticket, "password-change ticket");
    let forced = format!("forced new passphrase {}", uuid_part());
    run.secrets.password(&forced);
    let res = account
        .change_password(run.req(pb::ChangePasswordRequest {
            client: client(),
            ticket: ticket.ticket.clone(),
            new_password: forced,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    if let Some(pb::change_password_response::Next::Session(s)) = res.next {
        run.secrets.session(&s);
    }
    admin
        .reset_two_step(run.req(pb::ResetTwoStepRequest {
            user_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    admin
        .get_user(run.req(pb::GetUserRequest {
            user_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap();
    admin
        .list_audit_events(run.req(pb::ListAuditEventsRequest {
            page_size: 100,
            ..Default::default()
        }))
        .await
        .unwrap();
}

fn uuid_part() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

async fn hygiene_walkthrough(backend: Backend) {
    let sms = FakeProvider::start(Duration::ZERO).await;
    let toml = format!(
        "[security]\noutbox_key = \"{OUTBOX_KEY}\"\n\n[sms]\nconsole = false\n\n\
         [sms.outbox]\npoll_interval_ms = 100\n{}",
        generic_provider("fake", &sms.url())
    );
    let server = TestServer::start_with_config(backend, &toml, &[("RUST_LOG", "trace")]).await;
    let tenant = hygiene_tenant(&server).await;
    let mut run = Run {
        server: &server,
        sms: &sms,
        tenant,
        secrets: Secrets::default(),
    };
    every_flow(&mut run).await;
    // Let the outbox finish (its notices and bodies go through the log at TRACE too).
    tokio::time::sleep(Duration::from_millis(800)).await;

    let log = server.stderr_text();
    // The log really is at TRACE, dependencies included, and the flows really ran.
    assert!(log.contains("TRACE"), "twostepd did not log at TRACE");
    assert!(log.lines().count() > 1000, "suspiciously short TRACE log");
    assert!(run.secrets.codes.len() >= 9, "{}", run.secrets.codes.len());
    let mut leaks = Vec::new();
    for code in &run.secrets.codes {
        if let Some(at) = find_digits(&log, code) {
            leaks.push(format!("code: …{at}…"));
        }
    }
    for (secret, what) in &run.secrets.texts {
        if let Some(at) = find_text(&log, secret) {
            leaks.push(format!("{what}: …{at}…"));
        }
    }
    assert!(
        leaks.is_empty(),
        "{} secrets in the TRACE log:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[tokio::test]
async fn r17_no_secret_in_a_trace_log_on_postgres_and_redis() {
    hygiene_walkthrough(Backend::PostgresRedis).await;
}

#[tokio::test]
async fn r17_no_secret_in_a_trace_log_on_the_embedded_default() {
    hygiene_walkthrough(Backend::Embedded).await;
}
