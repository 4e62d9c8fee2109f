//! Caller authentication: API keys in production, keyless calls in development, the
//! `twostepd create-api-client` subcommand, scopes, tenants and revocation.

use std::process::Output;

use tonic::{Code, Request};
use twostep_proto::v1 as pb;
use twostep_tests::server::twostepd_path;
use twostep_tests::{Backend, SharedStores, TestServer, env};

use crate::helpers::client;

/// A provider that is never reached: production needs one, and these tests send no SMS.
const PRODUCTION_TOML: &str = r#"
[sms]
console = false

[[sms.providers]]
name = "unused"
kind = "clickatell"
api_key = "not-a-real-key"
base_url = "http://127.0.0.1:9"
"#;

/// A production server on PostgreSQL and Redis, and the environment its subcommands need.
struct Production {
    server: TestServer,
    env: Vec<(String, String)>,
}

impl Production {
    /// `key_cache_ttl_ms` 0, so that a revocation shows at once instead of after a sleep.
    async fn start() -> Self {
        let stores = SharedStores::new(env::required("TWOSTEP_TEST_REDIS_URL")).await;
        let outbox_key = "cd".repeat(32);
        let env: Vec<(String, String)> = [
            ("TWOSTEP_ENVIRONMENT", "production"),
            ("TWOSTEP_LOG__FORMAT", "pretty"),
            ("TWOSTEP_AUTH__KEY_CACHE_TTL_MS", "0"),
            ("TWOSTEP_SECURITY__OUTBOX_KEY", outbox_key.as_str()),
            ("TWOSTEP_DATABASE__URL", stores.database_url.as_str()),
            ("TWOSTEP_REDIS__URL", stores.redis_url.as_str()),
            ("TWOSTEP_REDIS__KEY_PREFIX", stores.key_prefix.as_str()),
            ("TWOSTEP_SECURITY__CODE_KEY", stores.code_key.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server =
            TestServer::start_with_config(Backend::Shared(stores), PRODUCTION_TOML, &pairs).await;
        Self { server, env }
    }

    /// `twostepd --config … <args>` with the server's configuration.
    fn twostepd(&self, args: &[&str]) -> Output {
        run_twostepd(&self.server, &self.env, true, args)
    }
}

fn run_twostepd(
    server: &TestServer,
    env: &[(String, String)],
    with_config: bool,
    args: &[&str],
) -> Output {
    let mut cmd = std::process::Command::new(twostepd_path());
    if with_config {
        cmd.arg("--config").arg(server.dir().join("twostepd.toml"));
    }
    cmd.args(args)
        .current_dir(server.dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)));
    cmd.output().expect("run twostepd")
}

/// The key a successful `create-api-client` printed: its only line on standard output.
fn printed_key(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "create-api-client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly the key on stdout: {stdout:?}");
    let key = lines[0].to_owned();
    assert!(key.starts_with("tsk_"), "{key:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&key),
        "the key appears only on stdout"
    );
    key
}

/// A request carrying `authorization: Bearer <key>` and, when given, `x-twostep-tenant`.
fn with_key<T>(message: T, key: &str, tenant: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    if let Some(tenant) = tenant {
        request
            .metadata_mut()
            .insert("x-twostep-tenant", tenant.parse().unwrap());
    }
    request
}

fn email_registration(email: &str) -> pb::StartRegistrationRequest {
    pb::StartRegistrationRequest {
        client: client(),
        method: Some(pb::start_registration_request::Method::Email(
            pb::EmailRegistration {
                email: email.into(),
                password: "correct horse battery staple".into(),
                display_name: "Ada".into(),
                ..Default::default()
            },
        )),
    }
}

fn create_client_request(
    tenant_id: &str,
    name: &str,
    scopes: &[pb::Scope],
) -> pb::CreateApiClientRequest {
    pb::CreateApiClientRequest {
        tenant_id: tenant_id.into(),
        name: name.into(),
        scopes: scopes.iter().map(|s| i32::from(*s)).collect(),
    }
}

/// Creates a key through the API with `admin_key`; returns the key and the client's id.
async fn create_key(
    server: &TestServer,
    admin_key: &str,
    tenant_id: &str,
    scopes: &[pb::Scope],
) -> (String, String) {
    let res = server
        .admin()
        .await
        .create_api_client(with_key(
            create_client_request(tenant_id, "e2e", scopes),
            admin_key,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let client = res.api_client.unwrap();
    assert!(res.api_key.starts_with(&client.key_prefix));
    (res.api_key, client.api_client_id)
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, what: &str) {
    match result {
        Err(status) => assert_eq!(status.code(), code, "{what}: {status:?}"),
        Ok(answer) => panic!("{what}: expected {code:?}, got {answer:?}"),
    }
}

#[tokio::test]
async fn production_refuses_calls_without_a_valid_key_but_serves_health() {
    let p = Production::start().await;
    let server = &p.server;
    assert_eq!(
        server.health("").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    assert_code(
        server
            .auth()
            .await
            .start_registration(email_registration("a@example.com"))
            .await,
        Code::Unauthenticated,
        "AuthService without a key",
    );
    assert_code(
        server
            .account()
            .await
            .get_profile(pb::GetProfileRequest {
                access_token: "tsa_x".into(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
        "AccountService without a key",
    );
    assert_code(
        server
            .admin()
            .await
            .list_tenants(pb::ListTenantsRequest::default())
            .await,
        Code::Unauthenticated,
        "AdminService without a key",
    );
    let forged = format!("tsk_{}_{}", uuid::Uuid::new_v4().simple(), "A".repeat(43));
    for bad in ["tsk_nonsense", forged.as_str()] {
        let err = server
            .admin()
            .await
            .list_tenants(with_key(pb::ListTenantsRequest::default(), bad, None))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        assert!(!err.message().contains(bad), "the key is never echoed");
    }
}

#[tokio::test]
async fn the_subcommand_prints_a_working_key_and_scopes_are_enforced() {
    let p = Production::start().await;
    let server = &p.server;
    let operator = printed_key(&p.twostepd(&["create-api-client", "--name", "ops"]));

    let tenants = server
        .admin()
        .await
        .list_tenants(with_key(pb::ListTenantsRequest::default(), &operator, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenants.tenants.len(), 1, "the default tenant");

    // An admin key cannot call AuthService; an auth key can, and cannot call the others.
    assert_code(
        server
            .auth()
            .await
            .start_registration(with_key(
                email_registration("a@example.com"),
                &operator,
                None,
            ))
            .await,
        Code::PermissionDenied,
        "AuthService with an admin key",
    );
    let (auth_key, _) = create_key(server, &operator, "", &[pb::Scope::Auth]).await;
    let registered = server
        .auth()
        .await
        .start_registration(with_key(
            email_registration("b@example.com"),
            &auth_key,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::start_registration_response::Result::Session(session)) = registered.result else {
        panic!("expected a session, got {registered:?}");
    };
    assert_code(
        server
            .account()
            .await
            .get_profile(with_key(
                pb::GetProfileRequest {
                    access_token: session.access_token.clone(),
                    ..Default::default()
                },
                &auth_key,
                None,
            ))
            .await,
        Code::PermissionDenied,
        "AccountService with an auth key",
    );
    assert_code(
        server
            .admin()
            .await
            .list_api_clients(with_key(
                pb::ListApiClientsRequest::default(),
                &auth_key,
                None,
            ))
            .await,
        Code::PermissionDenied,
        "AdminService with an auth key",
    );
    let (account_key, _) = create_key(server, &operator, "", &[pb::Scope::Account]).await;
    server
        .account()
        .await
        .get_profile(with_key(
            pb::GetProfileRequest {
                access_token: session.access_token,
                ..Default::default()
            },
            &account_key,
            None,
        ))
        .await
        .unwrap();

    // Lists never carry a key.
    let listed = server
        .admin()
        .await
        .list_api_clients(with_key(
            pb::ListApiClientsRequest::default(),
            &operator,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.api_clients.len(), 3);
    let text = format!("{listed:?}");
    for key in [&operator, &auth_key, &account_key] {
        assert!(!text.contains(key.as_str()), "a list shows no key");
    }
    let audit = server
        .admin()
        .await
        .list_audit_events(with_key(
            pb::ListAuditEventsRequest::default(),
            &operator,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let created = audit
        .events
        .iter()
        .filter(|e| e.r#type == i32::from(pb::AuditEventType::ApiClientCreated))
        .count();
    assert_eq!(created, 3, "one event per client");
    let audit = format!("{audit:?}");
    for key in [&operator, &auth_key, &account_key] {
        assert!(!audit.contains(key.as_str()), "the audit log holds no key");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let p = Production::start().await;
    let server = &p.server;
    let operator = printed_key(&p.twostepd(&["create-api-client"]));
    let (key, id) = create_key(server, &operator, "", &[pb::Scope::Admin]).await;
    let list = || pb::ListApiClientsRequest::default();
    server
        .admin()
        .await
        .list_api_clients(with_key(list(), &key, None))
        .await
        .unwrap();
    let revoked = server
        .admin()
        .await
        .revoke_api_client(with_key(
            pb::RevokeApiClientRequest {
                api_client_id: id.clone(),
                ..Default::default()
            },
            &operator,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.api_client.unwrap().revoked_at.is_some());
    assert_code(
        server
            .admin()
            .await
            .list_api_clients(with_key(list(), &key, None))
            .await,
        Code::Unauthenticated,
        "a revoked key",
    );
    let listed = server
        .admin()
        .await
        .list_api_clients(with_key(
            pb::ListApiClientsRequest {
                include_revoked: true,
                ..Default::default()
            },
            &operator,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.api_clients.iter().any(|c| c.api_client_id == id));
}

#[tokio::test]
async fn a_key_acts_only_for_its_own_tenant() {
    let p = Production::start().await;
    let server = &p.server;
    let operator = printed_key(&p.twostepd(&["create-api-client"]));
    let mut ids = Vec::new();
    for slug in ["shop-a", "shop-b"] {
        let t = server
            .admin()
            .await
            .create_tenant(with_key(
                pb::CreateTenantRequest {
                    slug: slug.into(),
                    name: slug.into(),
                    ..Default::default()
                },
                &operator,
                None,
            ))
            .await
            .unwrap()
            .into_inner()
            .tenant
            .unwrap();
        ids.push(t.tenant_id);
    }
    let (key_a, _) = create_key(
        server,
        &operator,
        &ids[0],
        &[pb::Scope::Admin, pb::Scope::Auth],
    )
    .await;
    // The key's own tenant, by default and by name, works.
    server
        .auth()
        .await
        .start_registration(with_key(email_registration("a@example.com"), &key_a, None))
        .await
        .unwrap();
    server
        .auth()
        .await
        .start_registration(with_key(
            email_registration("a2@example.com"),
            &key_a,
            Some("shop-a"),
        ))
        .await
        .unwrap();
    // Tenant B, by header or by tenant_id, does not.
    assert_code(
        server
            .auth()
            .await
            .start_registration(with_key(
                email_registration("b@example.com"),
                &key_a,
                Some("shop-b"),
            ))
            .await,
        Code::PermissionDenied,
        "AuthService for another tenant",
    );
    assert_code(
        server
            .admin()
            .await
            .get_tenant(with_key(
                pb::GetTenantRequest {
                    tenant_id: ids[1].clone(),
                },
                &key_a,
                None,
            ))
            .await,
        Code::PermissionDenied,
        "AdminService on another tenant",
    );
    assert_code(
        server
            .admin()
            .await
            .list_tenants(with_key(pb::ListTenantsRequest::default(), &key_a, None))
            .await,
        Code::PermissionDenied,
        "ListTenants without operator",
    );
    assert_code(
        server
            .admin()
            .await
            .create_api_client(with_key(
                create_client_request("", "escalate", &[pb::Scope::Operator]),
                &key_a,
                None,
            ))
            .await,
        Code::PermissionDenied,
        "granting operator without having it",
    );
    // The operator may target tenant B.
    server
        .admin()
        .await
        .get_tenant(with_key(
            pb::GetTenantRequest {
                tenant_id: ids[1].clone(),
            },
            &operator,
            None,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn production_refuses_to_start_with_unauthenticated_calls_allowed() {
    let p = Production::start().await;
    let mut env = p.env.clone();
    env.push(("TWOSTEP_AUTH__ALLOW_UNAUTHENTICATED".into(), "true".into()));
    let out = run_twostepd(&p.server, &env, true, &["check-config"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.allow_unauthenticated"), "{stderr}");
}

#[tokio::test]
async fn development_allows_keyless_loopback_calls_only_when_configured() {
    let open = TestServer::start(Backend::Embedded).await;
    open.admin()
        .await
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap();

    let closed = TestServer::start_with(
        Backend::Embedded,
        &[("TWOSTEP_AUTH__ALLOW_UNAUTHENTICATED", "false")],
    )
    .await;
    assert_code(
        closed
            .admin()
            .await
            .list_tenants(pb::ListTenantsRequest::default())
            .await,
        Code::Unauthenticated,
        "keyless call when not allowed",
    );
    // The subcommand works on the embedded SQLite file too.
    let key = printed_key(&run_twostepd(&closed, &[], false, &["create-api-client"]));
    closed
        .admin()
        .await
        .list_tenants(with_key(pb::ListTenantsRequest::default(), &key, None))
        .await
        .unwrap();
}

/// The fixtures of `tests/fixtures/tls` (made by its `make.sh`).
fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name);
    path.display().to_string()
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn tls_toml(mutual: bool) -> String {
    let mut toml = format!(
        "[server.tls]\ncert_path = {:?}\nkey_path = {:?}\n",
        fixture("server.pem"),
        fixture("server.key")
    );
    if mutual {
        toml.push_str(&format!("client_ca_path = {:?}\n", fixture("ca.pem")));
    }
    toml
}

fn client_tls(with_cert: bool) -> tonic::transport::ClientTlsConfig {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read_fixture("ca.pem")))
        .domain_name("localhost");
    if with_cert {
        config.identity(Identity::from_pem(
            read_fixture("client.pem"),
            read_fixture("client.key"),
        ))
    } else {
        config
    }
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_server_certificate() {
    let server =
        TestServer::start_tls(Backend::Embedded, &tls_toml(false), &[], client_tls(false)).await;
    server
        .admin()
        .await
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap();
    // A plaintext client gets no gRPC answer from a TLS port.
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut admin = twostep_proto::v1::admin_service_client::AdminServiceClient::new(channel);
        assert!(
            admin
                .list_tenants(pb::ListTenantsRequest::default())
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let server =
        TestServer::start_tls(Backend::Embedded, &tls_toml(true), &[], client_tls(true)).await;
    server
        .admin()
        .await
        .list_tenants(pb::ListTenantsRequest::default())
        .await
        .unwrap();
    let anonymous = tonic::transport::Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(client_tls(false))
        .unwrap()
        .connect()
        .await;
    // TLS 1.3 may finish the client's side of the handshake before the server refuses it, so
    // the refusal shows either at connect or at the first call.
    if let Ok(channel) = anonymous {
        let mut admin = twostep_proto::v1::admin_service_client::AdminServiceClient::new(channel);
        let err = admin
            .list_tenants(pb::ListTenantsRequest::default())
            .await
            .unwrap_err();
        assert_ne!(err.code(), Code::Ok);
    }
}
