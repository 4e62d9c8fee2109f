//! The twostepd under test: connections, the run's own tenant, its users and sessions.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use twostep_proto::v1 as pb;
use twostep_proto::v1::admin_service_client::AdminServiceClient;
use twostep_proto::v1::auth_service_client::AuthServiceClient;

/// The metadata that names the tenant of an AuthService call (development mode).
const TENANT_HEADER: &str = "x-twostep-tenant";

/// Password of every benchmark user: long, not on the blocklist, no digits of a phone.
pub const PASSWORD: &str = "correct-horse-battery-staple-bench";

/// HTTP/2 connections to one server; calls spread over them by sequence number.
#[derive(Clone)]
pub struct Conns {
    channels: Vec<Channel>,
}

impl Conns {
    pub async fn connect(url: &str, connections: usize) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| anyhow::anyhow!("bad --target {url}: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        let mut channels = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| anyhow::anyhow!("connecting to {url}: {e}"))?;
            channels.push(channel);
        }
        Ok(Self { channels })
    }

    pub fn get(&self, seq: u64) -> Channel {
        // `connect` made at least one channel.
        let i = usize::try_from(seq % self.channels.len() as u64).unwrap_or(0);
        self.channels[i].clone()
    }

    pub fn auth(&self, seq: u64) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.get(seq))
    }

    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.get(0))
    }
}

/// A tenant created for this run, and how to address it.
#[derive(Clone)]
pub struct Tenant {
    pub id: String,
    /// Letters unique to this run, in the tenant's app name and so in every SMS text: the
    /// listener ignores texts of other runs (an outbox may still be sending those).
    pub tag: String,
    header: AsciiMetadataValue,
}

impl Tenant {
    /// A request with the tenant header set.
    pub fn req<T>(&self, message: T) -> Request<T> {
        let mut req = Request::new(message);
        req.metadata_mut()
            .insert(TENANT_HEADER, self.header.clone());
        req
    }
}

/// A fresh tenant: phone login and registration allowed, US numbers, every code setting at
/// its default, the abuse limits out of the way (see below).
/// The bench tenant's default country, the only one it allows.
pub const TENANT_COUNTRY: &str = "US";

pub async fn create_tenant(conns: &Conns) -> anyhow::Result<Tenant> {
    let slug = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tag: String = (0..8)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    let policy = pb::TenantPolicy {
        two_step_customers: pb::TwoStepMode::Optional.into(),
        two_step_admins: pb::TwoStepMode::Optional.into(),
        phone_login_allowed: true,
        phone_registration_allowed: true,
        default_country: TENANT_COUNTRY.to_owned(),
        // A load test measures the path, not the abuse defences: the layered limits a
        // run would fill in seconds (tenant, country, API client, prefix, password per
        // IP) go to their maximum, and the conversion breaker is off (decoys never
        // convert). The per-number limit stays at its default: S2 measures it.
        limits: Some(pb::LimitsPolicy {
            per_prefix_per_hour: 1_000_000,
            per_country_per_day: 1_000_000,
            per_tenant_per_hour: 1_000_000,
            per_api_client_per_hour: 1_000_000,
            password_per_ip_per_hour: 1_000_000,
            per_ip_per_hour: 1_000_000,
            ..Default::default()
        }),
        pumping: Some(pb::PumpingPolicy {
            breaker_disabled: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let resp = conns
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            slug: slug.clone(),
            name: format!("Load test {slug}"),
            app_name: format!("Bench {tag}"),
            policy: Some(policy),
        })
        .await
        .map_err(|s| rpc_error("AdminService/CreateTenant", &s))?
        .into_inner();
    let Some(tenant) = resp.tenant else {
        anyhow::bail!("CreateTenant answered no tenant");
    };
    let header: AsciiMetadataValue = MetadataValue::try_from(tenant.tenant_id.as_str())
        .map_err(|e| anyhow::anyhow!("tenant id is not a header value: {e}"))?;
    Ok(Tenant {
        id: tenant.tenant_id,
        tag,
        header,
    })
}

/// Users with these verified numbers (no password), `concurrency` creations at a time.
pub async fn create_phone_users(
    conns: &Conns,
    tenant: &Tenant,
    phones: &[String],
    concurrency: usize,
) -> anyhow::Result<()> {
    stream::iter(phones.iter().cloned().enumerate())
        .map(|(i, phone)| {
            let mut admin = conns.admin();
            let tenant_id = tenant.id.clone();
            async move {
                admin
                    .create_user(pb::CreateUserRequest {
                        tenant_id,
                        display_name: format!("Phone user {i}"),
                        phone_number: phone,
                        phone_verified: true,
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| rpc_error("AdminService/CreateUser", &s))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// `count` users with an email and [`PASSWORD`], no phone and no two-step; returns their
/// emails. Each creation hashes a password on the server.
pub async fn create_password_users(
    conns: &Conns,
    tenant: &Tenant,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let emails: Vec<String> = (0..count)
        .map(|i| format!("user{i}@bench.example.com"))
        .collect();
    stream::iter(emails.iter().cloned())
        .map(|email| {
            let mut admin = conns.admin();
            let tenant_id = tenant.id.clone();
            async move {
                admin
                    .create_user(pb::CreateUserRequest {
                        tenant_id,
                        email,
                        display_name: "Password user".to_owned(),
                        password: PASSWORD.to_owned(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| rpc_error("AdminService/CreateUser", &s))
            }
        })
        .buffer_unordered(2)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(emails)
}

/// Logs `email` in with [`PASSWORD`] and returns the access token.
pub async fn password_login(conns: &Conns, tenant: &Tenant, email: &str) -> anyhow::Result<String> {
    let resp = conns
        .auth(0)
        .start_login(tenant.req(login_request(email)))
        .await
        .map_err(|s| rpc_error("AuthService/StartLogin (password)", &s))?
        .into_inner();
    match resp.result {
        Some(pb::start_login_response::Result::Session(s)) => Ok(s.access_token),
        other => anyhow::bail!("a password login answered {other:?}, not a session"),
    }
}

pub fn login_request(email: &str) -> pb::StartLoginRequest {
    pb::StartLoginRequest {
        client: Some(client_context()),
        method: Some(pb::start_login_request::Method::Password(
            pb::PasswordCredentials {
                login: email.to_owned(),
                password: PASSWORD.to_owned(),
            },
        )),
    }
}

pub fn phone_login_request(phone: &str) -> pb::StartLoginRequest {
    pb::StartLoginRequest {
        client: Some(client_context()),
        method: Some(pb::start_login_request::Method::Phone(
            pb::PhoneCredentials {
                phone_number: phone.to_owned(),
            },
        )),
    }
}

pub fn client_context() -> pb::ClientContext {
    pb::ClientContext {
        ip_address: "192.0.2.10".to_owned(),
        user_agent: "twostep-load".to_owned(),
        locale: "en".to_owned(),
        device_id: String::new(),
    }
}

fn rpc_error(what: &str, status: &Status) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} failed: {} {}",
        code_name(status.code()),
        status.message()
    )
}

/// The canonical name of a gRPC status code.
pub const fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
