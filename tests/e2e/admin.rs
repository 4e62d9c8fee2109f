//! AdminService: tenant policy updates, user lookup, phone, forced password change, two-step
//! reset, lock and unlock, and the audit log those actions write.

use std::time::Duration;

use tonic::Code;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, TestServer};

type AdminClient = pb::admin_service_client::AdminServiceClient<tonic::transport::Channel>;

use crate::helpers::*;

const STRONG_PASSWORD: &str = "correct horse battery staple";

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh tenant (default policy) of its own, so audit listings see only this test's events.
async fn new_tenant(server: &TestServer) -> pb::Tenant {
    let slug = format!("a{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    server
        .admin()
        .await
        .create_tenant(pb::CreateTenantRequest {
            slug,
            name: "Admin Test".into(),
            app_name: "AdminTest".into(),
            policy: None,
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap()
}

async fn new_user(server: &TestServer, req: pb::CreateUserRequest) -> pb::User {
    server
        .admin()
        .await
        .create_user(req)
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

/// A user of `tenant` with an email, a password and a verified phone (two-step off).
async fn full_user(server: &TestServer, tenant: &str, phone: &str) -> pb::User {
    new_user(
        server,
        pb::CreateUserRequest {
            tenant_id: tenant.into(),
            email: random_email(),
            display_name: "Lin".into(),
            phone_number: phone.into(),
            phone_verified: true,
            password: STRONG_PASSWORD.into(),
            ..Default::default()
        },
    )
    .await
}

async fn get_user(server: &TestServer, tenant: &str, user_id: &str) -> pb::User {
    server
        .admin()
        .await
        .get_user(pb::GetUserRequest {
            tenant_id: tenant.into(),
            user_id: user_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

fn in_tenant<T>(tenant: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("x-twostep-tenant", tenant.parse().unwrap());
    req
}

async fn phone_login_in(server: &TestServer, tenant: &str, phone: &str) -> pb::Challenge {
    let req = pb::StartLoginRequest {
        client: client(),
        method: Some(pb::start_login_request::Method::Phone(
            pb::PhoneCredentials {
                phone_number: phone.into(),
            },
        )),
    };
    let res = server
        .auth()
        .await
        .start_login(in_tenant(tenant, req))
        .await
        .unwrap()
        .into_inner();
    match res.result {
        Some(pb::start_login_response::Result::Challenge(c)) => c,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

/// Logs in by phone (which must get a real SMS) and returns the session.
async fn phone_session(server: &TestServer, tenant: &str, phone: &str) -> pb::Session {
    let seen = server.sms_count(&last_four(phone));
    let challenge = phone_login_in(server, tenant, phone).await;
    let code = server.next_code_for(&last_four(phone), seen).await;
    let req = pb::VerifyCodeRequest {
        client: client(),
        challenge_id: challenge.challenge_id,
        code,
    };
    let res = server
        .auth()
        .await
        .verify_code(in_tenant(tenant, req))
        .await
        .unwrap()
        .into_inner();
    match res.result {
        Some(pb::verify_code_response::Result::Session(s)) => s,
        other => panic!("expected a session, got {other:?}"),
    }
}

/// A phone login that must get a decoy: an answer of the usual shape and no SMS.
async fn assert_no_sms_on_login(server: &TestServer, tenant: &str, phone: &str) {
    let seen = server.sms_count(&last_four(phone));
    let challenge = phone_login_in(server, tenant, phone).await;
    assert!(challenge.masked_destination.ends_with(&last_four(phone)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.sms_count(&last_four(phone)),
        seen,
        "no SMS may go out"
    );
}

/// ValidateSession as the session's tenant (`""` is the default tenant).
async fn validate(
    server: &TestServer,
    tenant: &str,
    token: &str,
) -> Result<pb::ValidateSessionResponse, tonic::Status> {
    let req = pb::ValidateSessionRequest {
        access_token: token.into(),
    };
    let req = if tenant.is_empty() {
        tonic::Request::new(req)
    } else {
        in_tenant(tenant, req)
    };
    server
        .auth()
        .await
        .validate_session(req)
        .await
        .map(tonic::Response::into_inner)
}

async fn list_events(
    server: &TestServer,
    req: pb::ListAuditEventsRequest,
) -> Result<pb::ListAuditEventsResponse, tonic::Status> {
    server
        .admin()
        .await
        .list_audit_events(req)
        .await
        .map(tonic::Response::into_inner)
}

fn types(events: &[pb::AuditEvent]) -> Vec<pb::AuditEventType> {
    events
        .iter()
        .map(|e| pb::AuditEventType::try_from(e.r#type).unwrap())
        .collect()
}

fn at(e: &pb::AuditEvent) -> (i64, i32) {
    let t = e.time.unwrap();
    (t.seconds, t.nanos)
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(res: Result<T, tonic::Status>, field: &str) {
    let status = assert_code(res, Code::InvalidArgument);
    assert_eq!(violated_field(&status), field, "{status:?}");
}

// ---------------------------------------------------------------------------------------
// UpdateTenantPolicy

#[tokio::test]
async fn update_tenant_policy_changes_only_the_masked_fields_at_once() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = new_tenant(&server).await;
    let mut admin = server.admin().await;
    let update = |policy: pb::TenantPolicy, paths: &[&str]| pb::UpdateTenantPolicyRequest {
        tenant_id: tenant.tenant_id.clone(),
        policy: Some(policy),
        update_mask: mask(paths),
        ..Default::default()
    };

    let policy = pb::TenantPolicy {
        two_step_customers: pb::TwoStepMode::Required as i32, // not in the mask: ignored
        allowed_countries: vec!["us".into(), "CA".into()],
        code: Some(pb::CodePolicy {
            length: 8,
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = admin
        .update_tenant_policy(update(policy, &["code.length", "allowed_countries"]))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    let p = updated.policy.unwrap();
    assert_eq!(p.code.as_ref().unwrap().length, 8);
    assert_eq!(p.allowed_countries, ["US", "CA"]);
    assert_eq!(p.two_step_customers, pb::TwoStepMode::Optional as i32);
    assert!(p.phone_login_allowed, "unmasked booleans keep their value");
    assert_eq!(p.code.as_ref().unwrap().max_attempts, 5);

    // Stored, and used by the very next request (the tenant cache is refreshed).
    let stored = admin
        .get_tenant(pb::GetTenantRequest {
            tenant_id: tenant.tenant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(stored.policy.unwrap().code.unwrap().length, 8);
    let phone = random_us_number();
    full_user(&server, &tenant.tenant_id, &phone).await;
    let challenge = phone_login_in(&server, &tenant.tenant_id, &phone).await;
    assert_eq!(challenge.code_length, 8);

    // A nested duration path.
    let policy = pb::TenantPolicy {
        session: Some(pb::SessionPolicy {
            idle_timeout: Some(prost_types::Duration {
                seconds: 1800,
                nanos: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = admin
        .update_tenant_policy(update(policy, &["session.idle_timeout"]))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap()
        .policy
        .unwrap();
    let s = p.session.unwrap();
    assert_eq!(s.idle_timeout.unwrap().seconds, 1800);
    assert_eq!(s.absolute_lifetime.unwrap().seconds, 24 * 3600);
    assert_eq!(p.code.unwrap().length, 8);

    // `*` replaces the whole policy: zero values take their defaults, booleans as given.
    let policy = pb::TenantPolicy {
        code: Some(pb::CodePolicy {
            length: 4,
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = admin
        .update_tenant_policy(update(policy, &["*"]))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(p.code.as_ref().unwrap().length, 4);
    assert!(p.allowed_countries.is_empty());
    assert!(!p.phone_login_allowed);
    assert_eq!(p.default_country, "US");
    assert_eq!(p.session.unwrap().idle_timeout.unwrap().seconds, 3600);

    // An empty mask with a policy is a replacement too.
    let p = admin
        .update_tenant_policy(update(policy_with_code_length(6), &[]))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(p.code.unwrap().length, 6);
    assert!(p.phone_login_allowed);

    // Every change is audited with the API client as actor.
    let events = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: tenant.tenant_id.clone(),
            types: vec![pb::AuditEventType::TenantUpdated as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].details["fields"], "code.length,allowed_countries");
    assert_eq!(events[0].details["fields"], "*");
    let actor = events[0].actor.as_ref().unwrap();
    assert_eq!(actor.kind, pb::ActorKind::ApiClient as i32);
    assert_eq!(actor.actor_id, "development");
}

fn policy_with_code_length(length: u32) -> pb::TenantPolicy {
    pb::TenantPolicy {
        phone_login_allowed: true,
        phone_registration_allowed: true,
        users_may_disable_two_step: true,
        code: Some(pb::CodePolicy {
            length,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn update_tenant_policy_refuses_bad_input_and_changes_nothing() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = new_tenant(&server).await;
    let mut admin = server.admin().await;
    let req = |policy: Option<pb::TenantPolicy>, paths: &[&str]| pb::UpdateTenantPolicyRequest {
        tenant_id: tenant.tenant_id.clone(),
        policy,
        update_mask: mask(paths),
        ..Default::default()
    };

    let some = Some(policy_with_code_length(8));
    assert_invalid(
        admin
            .update_tenant_policy(req(some.clone(), &["code.colour"]))
            .await,
        "update_mask",
    );
    assert_invalid(
        admin
            .update_tenant_policy(req(some.clone(), &["code.length", "*"]))
            .await,
        "update_mask",
    );
    assert_invalid(
        admin
            .update_tenant_policy(req(Some(policy_with_code_length(3)), &["code.length"]))
            .await,
        "policy.code.length",
    );
    assert_invalid(
        admin
            .update_tenant_policy(req(Some(policy_with_code_length(11)), &["*"]))
            .await,
        "policy.code.length",
    );
    let bad_country = pb::TenantPolicy {
        allowed_countries: vec!["Narnia".into()],
        ..Default::default()
    };
    assert_invalid(
        admin
            .update_tenant_policy(req(Some(bad_country), &["allowed_countries"]))
            .await,
        "policy.allowed_countries",
    );
    assert_invalid(
        admin
            .update_tenant_policy(req(None, &["code.length"]))
            .await,
        "policy",
    );
    assert_invalid(admin.update_tenant_policy(req(None, &[])).await, "policy");
    let mut bad_id = req(some.clone(), &["code.length"]);
    bad_id.tenant_id = "not-an-id".into();
    assert_invalid(admin.update_tenant_policy(bad_id).await, "tenant_id");
    let mut unknown = req(some.clone(), &["code.length"]);
    unknown.tenant_id = random_id();
    assert_code(admin.update_tenant_policy(unknown).await, Code::NotFound);
    // Names are checked as CreateTenant checks them, before anything is written: a bad
    // name also keeps the valid policy change beside it from landing.
    let long = "x".repeat(201);
    for (name, app_name, field) in [
        (Some("   "), None, "name"),
        (Some(long.as_str()), None, "name"),
        (None, Some(""), "app_name"),
        (None, Some("Bell\u{7}Shop"), "app_name"),
    ] {
        let mut rename = req(some.clone(), &["code.length"]);
        rename.name = name.map(str::to_owned);
        rename.app_name = app_name.map(str::to_owned);
        assert_invalid(admin.update_tenant_policy(rename).await, field);
    }

    let stored = admin
        .get_tenant(pb::GetTenantRequest {
            tenant_id: tenant.tenant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(stored.policy, tenant.policy, "nothing changed");
    assert_eq!(stored.name, tenant.name);
    assert_eq!(stored.app_name, tenant.app_name);
}

/// A tenant's name and app name change through UpdateTenantPolicy, alone or beside a policy
/// change; the SMS texts of this instance use the new app name at once (the tenant cache is
/// refreshed), and the change is audited.
#[tokio::test]
async fn update_tenant_policy_renames_the_tenant() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = new_tenant(&server).await;
    let phone = random_us_number();
    full_user(&server, &tenant.tenant_id, &phone).await;
    // The old app name is in the texts, and the tenant is in this instance's cache.
    let seen = server.sms_count(&last_four(&phone));
    phone_login_in(&server, &tenant.tenant_id, &phone).await;
    server.next_code_for(&last_four(&phone), seen).await;
    assert!(server.sms_texts(&last_four(&phone))[seen].contains("AdminTest"));

    let mut admin = server.admin().await;
    let renamed = admin
        .update_tenant_policy(pb::UpdateTenantPolicyRequest {
            tenant_id: tenant.tenant_id.clone(),
            name: Some("  Renamed Shop ".into()),
            app_name: Some("RenamedShop".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(renamed.name, "Renamed Shop");
    assert_eq!(renamed.app_name, "RenamedShop");
    assert_eq!(
        renamed.policy, tenant.policy,
        "no policy given, none changed"
    );
    assert_eq!(renamed.slug, tenant.slug);

    let seen = server.sms_count(&last_four(&phone));
    phone_login_in(&server, &tenant.tenant_id, &phone).await;
    server.next_code_for(&last_four(&phone), seen).await;
    let text = &server.sms_texts(&last_four(&phone))[seen];
    assert!(
        text.contains("RenamedShop") && !text.contains("AdminTest"),
        "{text}"
    );

    // A name beside a masked policy change: both land.
    let both = admin
        .update_tenant_policy(pb::UpdateTenantPolicyRequest {
            tenant_id: tenant.tenant_id.clone(),
            name: Some("Shop Three".into()),
            policy: Some(policy_with_code_length(8)),
            update_mask: mask(&["code.length"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    let stored = admin
        .get_tenant(pb::GetTenantRequest {
            tenant_id: tenant.tenant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    for t in [&both, &stored] {
        assert_eq!(
            (t.name.as_str(), t.app_name.as_str()),
            ("Shop Three", "RenamedShop")
        );
        assert_eq!(t.policy.as_ref().unwrap().code.as_ref().unwrap().length, 8);
    }

    let events = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: tenant.tenant_id.clone(),
            types: vec![pb::AuditEventType::TenantUpdated as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    let fields: Vec<&str> = events
        .iter()
        .map(|e| e.details["fields"].as_str())
        .collect();
    assert_eq!(fields, ["code.length,name", "name,app_name"]);
}

// ---------------------------------------------------------------------------------------
// CreateUser must_change_password, FindUser

#[tokio::test]
async fn create_user_can_require_a_password_change() {
    let server = TestServer::start(Backend::Embedded).await;
    let user = new_user(
        &server,
        pb::CreateUserRequest {
            email: random_email(),
            display_name: "Imported".into(),
            password: STRONG_PASSWORD.into(),
            must_change_password: true,
            ..Default::default()
        },
    )
    .await;
    assert!(user.must_change_password);
    assert!(
        get_user(&server, "", &user.user_id)
            .await
            .must_change_password
    );

    let res = server
        .admin()
        .await
        .create_user(pb::CreateUserRequest {
            display_name: "No password".into(),
            phone_number: random_us_number(),
            must_change_password: true,
            ..Default::default()
        })
        .await;
    assert_invalid(res, "must_change_password");
}

#[tokio::test]
async fn find_user_by_email_or_verified_phone() {
    let server = TestServer::start(Backend::Embedded).await;
    let phone = random_us_number();
    let user = full_user(&server, "", &phone).await;
    let mut admin = server.admin().await;
    let find = |lookup| pb::FindUserRequest {
        tenant_id: String::new(),
        lookup: Some(lookup),
    };
    use pb::find_user_request::Lookup;

    let by_email = admin
        .find_user(find(Lookup::Email(
            user.email.replace("example.com", "EXAMPLE.com"),
        )))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(by_email.user_id, user.user_id);
    // A national number, read in the tenant's default country (US).
    let national = phone.trim_start_matches("+1 ").replace(' ', "-");
    let by_phone = admin
        .find_user(find(Lookup::PhoneNumber(national)))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(by_phone.user_id, user.user_id);
    assert!(by_phone.masked_phone.ends_with(&last_four(&phone)));
    assert!(!by_phone.masked_phone.contains("415555"), "masked only");

    // An unverified number does not find its user; neither do unknown ones.
    let unverified = random_us_number();
    new_user(
        &server,
        pb::CreateUserRequest {
            display_name: "Unverified".into(),
            phone_number: unverified.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_code(
        admin.find_user(find(Lookup::PhoneNumber(unverified))).await,
        Code::NotFound,
    );
    assert_code(
        admin.find_user(find(Lookup::Email(random_email()))).await,
        Code::NotFound,
    );

    assert_invalid(
        admin.find_user(pb::FindUserRequest::default()).await,
        "lookup",
    );
    assert_invalid(
        admin
            .find_user(find(Lookup::Email("not an email".into())))
            .await,
        "email",
    );
    assert_invalid(
        admin.find_user(find(Lookup::Email(String::new()))).await,
        "email",
    );
    assert_invalid(
        admin
            .find_user(find(Lookup::PhoneNumber("not a number".into())))
            .await,
        "phone_number",
    );
    let mut bad_tenant = find(Lookup::Email(user.email.clone()));
    bad_tenant.tenant_id = "x".into();
    assert_invalid(admin.find_user(bad_tenant).await, "tenant_id");
}

// ---------------------------------------------------------------------------------------
// SetUserPhone

#[tokio::test]
async fn set_user_phone_sets_verifies_changes_and_clears() {
    let server = TestServer::start(Backend::Embedded).await;
    let user = new_user(
        &server,
        pb::CreateUserRequest {
            email: random_email(),
            display_name: "Mo".into(),
            password: STRONG_PASSWORD.into(),
            ..Default::default()
        },
    )
    .await;
    let mut admin = server.admin().await;
    let set = |phone: &str, mark_verified: bool, enable_two_step: bool| pb::SetUserPhoneRequest {
        tenant_id: String::new(),
        user_id: user.user_id.clone(),
        phone_number: phone.into(),
        mark_verified,
        enable_two_step,
    };
    let a = random_us_number();

    // Without mark_verified the number is stored unverified: phone login sends nothing.
    let u = admin
        .set_user_phone(set(&a, false, false))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.masked_phone.ends_with(&last_four(&a)) && !u.phone_verified);
    assert!(!u.two_step_enabled);
    assert_no_sms_on_login(&server, "default", &a).await;
    // Enabling two-step needs a verified number.
    assert_invalid(
        admin.set_user_phone(set(&a, false, true)).await,
        "enable_two_step",
    );

    // Marked verified, with two-step: the number logs in.
    let u = admin
        .set_user_phone(set(&a, true, true))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.phone_verified && u.two_step_enabled);
    phone_session(&server, "default", &a).await;

    // A new number without mark_verified: unverified (R29), two-step off, old number told.
    let b = random_us_number();
    let before = server.sms_count(&last_four(&a));
    let u = admin
        .set_user_phone(set(&b, false, false))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.masked_phone.ends_with(&last_four(&b)));
    assert!(!u.phone_verified && !u.two_step_enabled);
    // The notice to the old number goes out through the outbox; wait for it before
    // checking that logins send nothing more.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.sms_count(&last_four(&a)) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no notice to the old number"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_no_sms_on_login(&server, "default", &a).await;
    assert_no_sms_on_login(&server, "default", &b).await;
    assert!(
        server
            .settled_stderr_text()
            .await
            .contains("account was changed")
    );

    // Clearing.
    let u = admin
        .set_user_phone(set("", false, false))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.masked_phone.is_empty() && !u.phone_verified && !u.two_step_enabled);
    assert!(
        get_user(&server, "", &user.user_id)
            .await
            .masked_phone
            .is_empty()
    );

    use pb::AuditEventType as T;
    let admin_kinds = [
        T::UserCreated,
        T::PhoneChanged,
        T::PhoneVerified,
        T::TwoStepEnabled,
        T::TwoStepDisabled,
    ];
    let events = list_events(
        &server,
        pb::ListAuditEventsRequest {
            user_id: user.user_id.clone(),
            types: admin_kinds.iter().map(|t| *t as i32).collect(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(
        types(&events),
        [
            T::PhoneChanged,    // cleared
            T::TwoStepDisabled, // b is unverified
            T::PhoneChanged,    // b
            T::TwoStepEnabled,  // a marked verified
            T::PhoneVerified,
            T::PhoneChanged, // a
            T::UserCreated,
        ]
    );
    assert_eq!(events[0].details["change"], "cleared");
    assert!(events[0].masked_phone.ends_with(&last_four(&b)));
    assert!(events[5].masked_phone.ends_with(&last_four(&a)));
}

#[tokio::test]
async fn set_user_phone_refuses_bad_input_and_taken_numbers() {
    let server = TestServer::start(Backend::Embedded).await;
    let taken = random_us_number();
    full_user(&server, "", &taken).await;
    let user = full_user(&server, "", &random_us_number()).await;
    let mut admin = server.admin().await;
    let set = |user_id: &str, phone: &str, mark_verified: bool| pb::SetUserPhoneRequest {
        tenant_id: String::new(),
        user_id: user_id.into(),
        phone_number: phone.into(),
        mark_verified,
        enable_two_step: false,
    };
    let id = user.user_id.as_str();

    assert_invalid(
        admin.set_user_phone(set(id, "12", false)).await,
        "phone_number",
    );
    assert_invalid(
        admin
            .set_user_phone(set(id, "+44 20 7946 0958", false))
            .await,
        "phone_number",
    );
    assert_invalid(
        admin.set_user_phone(set(id, "", true)).await,
        "mark_verified",
    );
    assert_invalid(
        admin.set_user_phone(set("", &taken, false)).await,
        "user_id",
    );
    assert_invalid(
        admin.set_user_phone(set("nope", &taken, false)).await,
        "user_id",
    );
    assert_code(
        admin.set_user_phone(set(&random_id(), &taken, false)).await,
        Code::NotFound,
    );
    // Another user has this number verified.
    assert_code(
        admin.set_user_phone(set(id, &taken, true)).await,
        Code::AlreadyExists,
    );
    // Unverified, the same number may sit on two profiles.
    admin.set_user_phone(set(id, &taken, false)).await.unwrap();

    let after = get_user(&server, "", id).await;
    assert!(after.masked_phone.ends_with(&last_four(&taken)) && !after.phone_verified);
}

// ---------------------------------------------------------------------------------------
// ForcePasswordChange, ResetTwoStep

#[tokio::test]
async fn force_password_change_shows_in_get_user_and_can_end_sessions() {
    let server = TestServer::start(Backend::Embedded).await;
    let phone = random_us_number();
    let user = full_user(&server, "", &phone).await;
    let session = phone_session(&server, "default", &phone).await;
    let mut admin = server.admin().await;

    let u = admin
        .force_password_change(pb::ForcePasswordChangeRequest {
            tenant_id: String::new(),
            user_id: user.user_id.clone(),
            revoke_sessions: true,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.must_change_password);
    assert!(
        get_user(&server, "", &user.user_id)
            .await
            .must_change_password
    );
    assert_code(
        validate(&server, "", &session.access_token).await,
        Code::Unauthenticated,
    );

    // Without revoke_sessions, live sessions stay.
    let other_phone = random_us_number();
    let other = full_user(&server, "", &other_phone).await;
    let live = phone_session(&server, "default", &other_phone).await;
    admin
        .force_password_change(pb::ForcePasswordChangeRequest {
            user_id: other.user_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    validate(&server, "", &live.access_token).await.unwrap();

    let phone_only = create_phone_user(&server, &random_us_number()).await;
    let req = |user_id: &str| pb::ForcePasswordChangeRequest {
        user_id: user_id.into(),
        ..Default::default()
    };
    assert_code(
        admin.force_password_change(req(&phone_only)).await,
        Code::FailedPrecondition,
    );
    assert!(
        !get_user(&server, "", &phone_only)
            .await
            .must_change_password
    );
    assert_invalid(admin.force_password_change(req("")).await, "user_id");
    assert_invalid(admin.force_password_change(req("123")).await, "user_id");
    assert_code(
        admin.force_password_change(req(&random_id())).await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn reset_two_step_turns_it_off_and_can_remove_the_phone() {
    let server = TestServer::start(Backend::Embedded).await;
    let mut admin = server.admin().await;
    let phone = random_us_number();
    let user = new_user(
        &server,
        pb::CreateUserRequest {
            email: random_email(),
            display_name: "Ola".into(),
            password: STRONG_PASSWORD.into(),
            phone_number: phone.clone(),
            phone_verified: true,
            two_step_enabled: true,
            ..Default::default()
        },
    )
    .await;
    let session = phone_session(&server, "default", &phone).await;

    // Plain reset: two-step off, the phone and the sessions stay.
    let u = admin
        .reset_two_step(pb::ResetTwoStepRequest {
            user_id: user.user_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!u.two_step_enabled && u.phone_verified);
    validate(&server, "", &session.access_token).await.unwrap();

    // With clear_phone and revoke_sessions.
    let u = admin
        .reset_two_step(pb::ResetTwoStepRequest {
            tenant_id: String::new(),
            user_id: user.user_id.clone(),
            clear_phone: true,
            revoke_sessions: true,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!u.two_step_enabled && !u.phone_verified && u.masked_phone.is_empty());
    assert_code(
        validate(&server, "", &session.access_token).await,
        Code::Unauthenticated,
    );
    assert_no_sms_on_login(&server, "default", &phone).await;

    let events = list_events(
        &server,
        pb::ListAuditEventsRequest {
            user_id: user.user_id.clone(),
            types: vec![
                pb::AuditEventType::TwoStepDisabled as i32,
                pb::AuditEventType::PhoneChanged as i32,
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(
        types(&events),
        [
            pb::AuditEventType::PhoneChanged,
            pb::AuditEventType::TwoStepDisabled,
            pb::AuditEventType::TwoStepDisabled,
        ]
    );
    assert_eq!(events[1].details["revoked_count"], "1");

    let req = |user_id: &str| pb::ResetTwoStepRequest {
        user_id: user_id.into(),
        ..Default::default()
    };
    assert_invalid(admin.reset_two_step(req("")).await, "user_id");
    assert_invalid(admin.reset_two_step(req("zz")).await, "user_id");
    assert_code(
        admin.reset_two_step(req(&random_id())).await,
        Code::NotFound,
    );
}

// ---------------------------------------------------------------------------------------
// LockUser, UnlockUser

async fn lock(admin: &mut AdminClient, tenant: &str, user_id: &str, reason: &str) -> pb::User {
    let req = pb::LockUserRequest {
        tenant_id: tenant.into(),
        user_id: user_id.into(),
        reason: reason.into(),
    };
    admin
        .lock_user(req)
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

async fn unlock(admin: &mut AdminClient, tenant: &str, user_id: &str) -> pb::User {
    let req = pb::UnlockUserRequest {
        tenant_id: tenant.into(),
        user_id: user_id.into(),
    };
    admin
        .unlock_user(req)
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

async fn lock_then_unlock(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = new_tenant(&server).await;
    let t = tenant.tenant_id.as_str();
    let phone = random_us_number();
    let user = full_user(&server, t, &phone).await;
    let session = phone_session(&server, t, &phone).await;
    validate(&server, t, &session.access_token).await.unwrap();
    let mut admin = server.admin().await;

    let locked = lock(&mut admin, t, &user.user_id, "reported stolen").await;
    assert!(locked.locked);
    // R34: the live token dies at once; a phone login gets a decoy and no SMS.
    assert_code(
        validate(&server, t, &session.access_token).await,
        Code::Unauthenticated,
    );
    assert_no_sms_on_login(&server, t, &phone).await;

    let unlocked = unlock(&mut admin, t, &user.user_id).await;
    assert!(!unlocked.locked);
    let again = phone_session(&server, t, &phone).await;
    validate(&server, t, &again.access_token).await.unwrap();
    // The old session stays dead.
    assert_code(
        validate(&server, t, &session.access_token).await,
        Code::Unauthenticated,
    );

    let events = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            types: vec![
                pb::AuditEventType::UserLocked as i32,
                pb::AuditEventType::UserUnlocked as i32,
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(
        types(&events),
        [
            pb::AuditEventType::UserUnlocked,
            pb::AuditEventType::UserLocked
        ]
    );
    assert_eq!(events[1].details["reason"], "reported stolen");
    assert_eq!(events[1].details["revoked_count"], "1");
    assert_eq!(events[1].user_id, user.user_id);
    assert_eq!(events[1].tenant_id, tenant.tenant_id);
}

#[tokio::test]
async fn lock_ends_sessions_at_once_and_unlock_restores_login() {
    lock_then_unlock(Backend::Embedded).await;
}

#[tokio::test]
async fn lock_and_unlock_on_postgres_and_redis() {
    lock_then_unlock(Backend::PostgresRedis).await;
}

/// A lock that lands between the SMS and its code ends the login: the right code is refused
/// (the user is read as the code is accepted, and a locked user gets no session), and it
/// still counts as used: the same code does not work after an unlock.
async fn lock_before_the_code_refuses_the_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = new_tenant(&server).await;
    let t = tenant.tenant_id.as_str();
    let phone = random_us_number();
    let user = full_user(&server, t, &phone).await;
    let seen = server.sms_count(&last_four(&phone));
    let challenge = phone_login_in(&server, t, &phone).await;
    let code = server.next_code_for(&last_four(&phone), seen).await;
    let mut admin = server.admin().await;
    lock(&mut admin, t, &user.user_id, "reported stolen").await;
    let verify = |code: String| {
        let req = pb::VerifyCodeRequest {
            client: client(),
            challenge_id: challenge.challenge_id.clone(),
            code,
        };
        let server = &server;
        async move { server.auth().await.verify_code(in_tenant(t, req)).await }
    };
    assert_code(verify(code.clone()).await, Code::Unauthenticated);
    unlock(&mut admin, t, &user.user_id).await;
    assert_code(verify(code).await, Code::Unauthenticated);
}

#[tokio::test]
async fn a_lock_before_the_code_refuses_the_login_embedded() {
    lock_before_the_code_refuses_the_login(Backend::Embedded).await;
}

#[tokio::test]
async fn a_lock_before_the_code_refuses_the_login_on_postgres_and_redis() {
    lock_before_the_code_refuses_the_login(Backend::PostgresRedis).await;
}

#[tokio::test]
async fn lock_and_unlock_refuse_bad_input() {
    let server = TestServer::start(Backend::Embedded).await;
    let user = create_phone_user(&server, &random_us_number()).await;
    let mut admin = server.admin().await;
    let lock = |user_id: &str, reason: String| pb::LockUserRequest {
        tenant_id: String::new(),
        user_id: user_id.into(),
        reason,
    };
    assert_invalid(
        admin.lock_user(lock(&user, "x".repeat(501))).await,
        "reason",
    );
    assert_invalid(
        admin.lock_user(lock(&user, "a\u{7}b".into())).await,
        "reason",
    );
    assert_invalid(admin.lock_user(lock("", String::new())).await, "user_id");
    assert_invalid(admin.lock_user(lock("bad", String::new())).await, "user_id");
    assert_code(
        admin.lock_user(lock(&random_id(), String::new())).await,
        Code::NotFound,
    );
    assert!(
        !get_user(&server, "", &user).await.locked,
        "nothing changed"
    );
    // An empty reason is allowed.
    admin.lock_user(lock(&user, String::new())).await.unwrap();

    let unlock = |user_id: &str| pb::UnlockUserRequest {
        tenant_id: String::new(),
        user_id: user_id.into(),
    };
    assert_invalid(admin.unlock_user(unlock("")).await, "user_id");
    assert_invalid(admin.unlock_user(unlock("bad")).await, "user_id");
    assert_code(
        admin.unlock_user(unlock(&random_id())).await,
        Code::NotFound,
    );
    let mut other_tenant = unlock(&user);
    other_tenant.tenant_id = random_id();
    assert_code(admin.unlock_user(other_tenant).await, Code::NotFound);
    assert!(get_user(&server, "", &user).await.locked, "still locked");
}

// ---------------------------------------------------------------------------------------
// ListAuditEvents

#[tokio::test]
async fn list_audit_events_filters_and_pages() {
    let server = TestServer::start(Backend::Embedded).await;
    let tenant = new_tenant(&server).await;
    let t = tenant.tenant_id.as_str();
    let mut admin = server.admin().await;
    let phone = random_us_number();
    let alice = full_user(&server, t, &phone).await;
    let bob = full_user(&server, t, &random_us_number()).await;
    for user in [&alice, &bob] {
        lock(&mut admin, t, &user.user_id, "").await;
        unlock(&mut admin, t, &user.user_id).await;
    }
    admin
        .force_password_change(pb::ForcePasswordChangeRequest {
            tenant_id: t.into(),
            user_id: alice.user_id.clone(),
            revoke_sessions: false,
        })
        .await
        .unwrap();

    // Everything, in pages of 2: newest first, each event once, an empty token at the end.
    let all = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            page_size: 500,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(all.next_page_token.is_empty());
    // Tenant created, 2 users created, 2 × (locked, unlocked), password change forced.
    assert_eq!(all.events.len(), 8, "{:?}", types(&all.events));
    assert_eq!(
        types(&all.events)[0],
        pb::AuditEventType::PasswordChangeForced
    );
    assert_eq!(types(&all.events)[7], pb::AuditEventType::TenantCreated);
    assert!(
        all.events.windows(2).all(|w| at(&w[0]) >= at(&w[1])),
        "newest first"
    );
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = list_events(
            &server,
            pb::ListAuditEventsRequest {
                tenant_id: t.into(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(page.events.len() <= 3);
        paged.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let ids = |e: &[pb::AuditEvent]| e.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(&all.events));

    // No event holds the full number.
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    for e in &all.events {
        assert!(!e.masked_phone.contains(&digits[1..]), "{e:?}");
    }

    // Filters combine with AND.
    let alice_locks = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            user_id: alice.user_id.clone(),
            types: vec![
                pb::AuditEventType::UserLocked as i32,
                pb::AuditEventType::Unspecified as i32,
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(alice_locks.len(), 1);
    assert_eq!(alice_locks[0].user_id, alice.user_id);
    let bob_all = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            user_id: bob.user_id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .events;
    assert_eq!(
        types(&bob_all),
        [
            pb::AuditEventType::UserUnlocked,
            pb::AuditEventType::UserLocked,
            pb::AuditEventType::UserCreated,
        ]
    );
    let newest = all.events[0].time.unwrap();
    let future = prost_types::Timestamp {
        seconds: newest.seconds + 3600,
        nanos: 0,
    };
    let since_future = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            since: Some(future),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(since_future.events.is_empty() && since_future.next_page_token.is_empty());
    let until_past = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            until: Some(prost_types::Timestamp {
                seconds: all.events[7].time.unwrap().seconds - 3600,
                nanos: 0,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(until_past.events.is_empty());
    let window = list_events(
        &server,
        pb::ListAuditEventsRequest {
            tenant_id: t.into(),
            since: all.events[7].time,
            until: Some(future),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(window.events.len(), 8);

    // Another tenant's events are not listed.
    let default_events = list_events(
        &server,
        pb::ListAuditEventsRequest {
            user_id: alice.user_id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(default_events.events.is_empty());
}

#[tokio::test]
async fn list_audit_events_refuses_bad_input() {
    let server = TestServer::start(Backend::Embedded).await;
    let req = |f: fn(&mut pb::ListAuditEventsRequest)| {
        let mut r = pb::ListAuditEventsRequest::default();
        f(&mut r);
        r
    };
    let cases: [(pb::ListAuditEventsRequest, &str); 7] = [
        (req(|r| r.page_size = 501), "page_size"),
        (req(|r| r.page_token = "garbage".into()), "page_token"),
        (req(|r| r.user_id = "nope".into()), "user_id"),
        (req(|r| r.types = vec![9999]), "types"),
        (req(|r| r.tenant_id = "nope".into()), "tenant_id"),
        (
            req(|r| {
                r.since = Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                })
            }),
            "since",
        ),
        (
            req(|r| {
                r.since = Some(prost_types::Timestamp {
                    seconds: 2000,
                    nanos: 0,
                });
                r.until = Some(prost_types::Timestamp {
                    seconds: 1000,
                    nanos: 0,
                });
            }),
            "until",
        ),
    ];
    for (r, field) in cases {
        assert_invalid(list_events(&server, r).await, field);
    }
    assert_code(
        list_events(
            &server,
            pb::ListAuditEventsRequest {
                tenant_id: random_id(),
                ..Default::default()
            },
        )
        .await,
        Code::NotFound,
    );
}
