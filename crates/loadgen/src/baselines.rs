//! The physical limits measured beside the scenarios: B0 a tonic hello-world, B1 the
//! project's own Lua scripts by raw EVALSHA on one `ConnectionManager`, B2 one argon2id hash,
//! B3 one PostgreSQL insert-and-commit of a session row.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt, stream};
use redis::aio::ConnectionManager;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use twostep_core::challenge::{Challenge, Purpose};
use twostep_core::ids::{ChallengeId, TenantId, UserId};
use twostep_core::otp::CodeMac;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{Limit, ShortLivedStore};
use twostep_shortlived::{RedisConfig, RedisStore, bench};

use crate::engine::{Op, Sample};
use crate::numbers::Numbers;
use crate::ops::Pool;

// === B0 ===

/// Serves `grpc.health.v1.Health` (tonic-health) with the server settings of twostepd: the
/// same tonic, request timeout and global concurrency limit. Runs until the process ends.
pub async fn serve_hello(listener: TcpListener) -> anyhow::Result<()> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let limits = tower::ServiceBuilder::new()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(1024))
        .into_inner();
    tonic::transport::Server::builder()
        .timeout(Duration::from_secs(10))
        .layer(limits)
        .add_service(health)
        // As `twostepd` does: TCP_NODELAY on every accepted connection.
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await?;
    Ok(())
}

/// Starts the hello-world on `addr` in this process; returns its address.
pub async fn spawn_hello(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve_hello(listener).await {
            eprintln!("twostep-load: hello-world server stopped: {e}");
        }
    });
    Ok(local)
}

// === B1 ===

const CHECK_LIMITS_LUA: &str =
    include_str!("../../shortlived/src/redis_store/lua/check_limits.lua");
/// The TTL margin the store adds after a limit's window, ms.
const TTL_MARGIN_MS: u64 = 60_000;
const SENDS_PER_DAY: u64 = 10;
const DAY_MS: u64 = 24 * 3600 * 1000;

/// A Redis store of its own (own key prefix) and its connection, for raw EVALSHA.
pub struct Scripts {
    store: RedisStore,
    conn: ConnectionManager,
    prefix: String,
    scope: String,
    limits_sha: String,
    phone: PhoneNumber,
    numbers: Arc<Numbers>,
}

impl Scripts {
    /// Connects and makes sure every script used here is loaded.
    pub async fn connect(url: &str, numbers: Arc<Numbers>) -> anyhow::Result<Self> {
        let prefix = format!(
            "bench:{}:",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let store = RedisStore::connect(RedisConfig {
            url: url.to_owned(),
            sentinel_password: None,
            key_prefix: prefix.clone(),
            command_timeout: Duration::from_secs(5),
        })
        .await
        .map_err(|e| anyhow::anyhow!("connecting to Redis {url}: {e}"))?;
        let phone = PhoneNumber::from_e164(&numbers.get(0))
            .map_err(|e| anyhow::anyhow!("bench phone number: {e}"))?;
        // One call of each through the adapter loads the scripts into Redis.
        let scope = TenantId::random().to_string();
        let c = challenge(&phone);
        store.create_challenge(&c).await?;
        store.verify_challenge(c.id, right(), Utc::now()).await?;
        store
            .check_limits(
                &scope,
                &[Limit {
                    key: "warm".to_owned(),
                    max: 1,
                    window: Duration::from_secs(1),
                }],
                Utc::now(),
            )
            .await?;
        let mut conn = bench::connection(&store).await?;
        let limits_sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(CHECK_LIMITS_LUA)
            .query_async(&mut conn)
            .await?;
        Ok(Self {
            store,
            conn,
            prefix,
            scope,
            limits_sha,
            phone,
            numbers,
        })
    }

    fn check_limits_cmd(&self, number: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.limits_sha)
            .arg(1)
            .arg(format!(
                "{}{{l:{}}}:send:num:{number}",
                self.prefix, self.scope
            ))
            .arg(Utc::now().timestamp_millis())
            .arg(uuid::Uuid::new_v4().to_string())
            .arg(TTL_MARGIN_MS)
            .arg(SENDS_PER_DAY)
            .arg(DAY_MS);
        cmd
    }
}

fn redis_failed(e: &redis::RedisError) -> Sample {
    let code = redis_code(e);
    crate::errors::note(code, &e.to_string());
    Sample::Done {
        code,
        expected: false,
    }
}

fn redis_code(e: &redis::RedisError) -> &'static str {
    if e.is_timeout() {
        "REDIS_TIMEOUT"
    } else if e.is_io_error() || e.is_connection_dropped() {
        "REDIS_IO"
    } else {
        "REDIS_ERROR"
    }
}

fn right() -> CodeMac {
    CodeMac::from_bytes([1; 32])
}

fn wrong() -> CodeMac {
    CodeMac::from_bytes([2; 32])
}

fn challenge(phone: &PhoneNumber) -> Challenge {
    let now = Utc::now();
    Challenge {
        id: ChallengeId::random(),
        tenant: TenantId::random(),
        purpose: Purpose::PhoneLogin,
        user: Some(UserId::random()),
        phone: Some(phone.clone()),
        decoy: false,
        context: String::new(),
        code_mac: right(),
        attempts_left: 5,
        sends: 1,
        max_sends: 5,
        created_at: now,
        expires_at: now + chrono::Duration::minutes(5),
        resend_at: now + chrono::Duration::minutes(1),
        resend_cooldown: Duration::from_secs(60),
    }
}

/// B1 of S1: the two scripts an accepted StartLogin runs, one after the other: the
/// per-number limit (allowed, a new number each call) and create-challenge.
pub struct StartLoginScripts(pub Arc<Scripts>);

impl Op for StartLoginScripts {
    async fn call(&self, seq: u64) -> Sample {
        let s = &self.0;
        let mut conn = s.conn.clone();
        let limits = s.check_limits_cmd(&s.numbers.get(seq));
        if let Err(e) = limits.query_async::<redis::Value>(&mut conn).await {
            return redis_failed(&e);
        }
        let create = bench::create_challenge(&s.store, &challenge(&s.phone)).cmd();
        match create.query_async::<redis::Value>(&mut conn).await {
            Ok(_) => Sample::ok(),
            Err(e) => redis_failed(&e),
        }
    }
}

/// B1 of S2: the limit script on one full number (denied every time).
pub struct DeniedLimit {
    pub scripts: Arc<Scripts>,
    pub number: String,
}

impl DeniedLimit {
    /// Fills the number's daily budget.
    pub async fn new(scripts: Arc<Scripts>, number: String) -> anyhow::Result<Self> {
        let mut conn = scripts.conn.clone();
        for _ in 0..SENDS_PER_DAY {
            scripts
                .check_limits_cmd(&number)
                .query_async::<redis::Value>(&mut conn)
                .await?;
        }
        Ok(Self { scripts, number })
    }
}

impl Op for DeniedLimit {
    async fn call(&self, _seq: u64) -> Sample {
        let mut conn = self.scripts.conn.clone();
        let cmd = self.scripts.check_limits_cmd(&self.number);
        match cmd.query_async::<redis::Value>(&mut conn).await {
            Ok(_) => Sample::ok(),
            Err(e) => redis_failed(&e),
        }
    }
}

/// B1 of S3: the verify script in the S3 mix (80 % right MACs consuming fresh challenges,
/// 20 % wrong ones on victims, past the attempt cap).
pub struct VerifyScript {
    pub scripts: Arc<Scripts>,
    pub pool: Pool<ChallengeId>,
}

impl VerifyScript {
    /// Stores `count` challenges for the mix, 64 at a time.
    pub async fn prepare(scripts: Arc<Scripts>, count: usize) -> anyhow::Result<Self> {
        let ids: Vec<ChallengeId> = stream::iter(0..count)
            .map(|_| {
                let scripts = Arc::clone(&scripts);
                async move {
                    let c = challenge(&scripts.phone);
                    let mut conn = scripts.conn.clone();
                    bench::create_challenge(&scripts.store, &c)
                        .cmd()
                        .query_async::<redis::Value>(&mut conn)
                        .await
                        .map(|_| c.id)
                }
            })
            .buffer_unordered(64)
            .try_collect()
            .await?;
        let (right_n, _) = crate::ops::split(count);
        let mut ids = ids;
        let victims = ids.split_off(right_n.min(ids.len()));
        Ok(Self {
            scripts,
            pool: Pool {
                right: ids,
                victims,
            },
        })
    }
}

impl Op for VerifyScript {
    async fn call(&self, seq: u64) -> Sample {
        let Some((id, is_right)) = self.pool.pick(seq) else {
            return Sample::Exhausted;
        };
        let mac = if is_right { right() } else { wrong() };
        let mut conn = self.scripts.conn.clone();
        let cmd = bench::verify_challenge(&self.scripts.store, *id, &mac, Utc::now()).cmd();
        match cmd.query_async::<redis::Value>(&mut conn).await {
            Ok(_) => Sample::ok(),
            Err(e) => redis_failed(&e),
        }
    }
}

// === B2 ===

/// argon2id cost, as twostepd is configured.
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

/// Times of `samples` argon2id hashes (32-byte output, 16-byte salt), one at a time on a
/// blocking thread, in ms. One memory block is reused across hashes, as twostepd's hash
/// threads do (`core::password`), so B2 is the hash alone, not an allocator's page faults.
pub async fn argon2_samples(cost: HashCost, samples: usize) -> anyhow::Result<Vec<f64>> {
    tokio::task::spawn_blocking(move || {
        let params = Params::new(cost.m_kib, cost.t, cost.p, Some(32))
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mut memory = vec![Block::default(); params.block_count()];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = [0u8; 32];
        // One unmeasured hash first: page faults of the fresh memory block.
        argon
            .hash_password_into_with_memory(
                b"warm-up password",
                b"sixteen byte slt",
                &mut out,
                &mut memory,
            )
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        let mut times = Vec::with_capacity(samples.max(1));
        for i in 0..samples.max(1) {
            let password = format!("correct-horse-battery-staple-{i}");
            let start = Instant::now();
            argon
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    b"sixteen byte slt",
                    &mut out,
                    &mut memory,
                )
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(times)
    })
    .await?
}

/// B2 from hash times: the median (robust to a neighbour's burst of work) and the best, ms.
pub fn b2_summary(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        f64::midpoint(times[n / 2 - 1], times[n / 2])
    };
    (median, times[0])
}

// === B3 ===

const B3_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS bench_tenants (id uuid PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS bench_users (id uuid PRIMARY KEY, \
     tenant_id uuid NOT NULL REFERENCES bench_tenants (id))",
    "CREATE TABLE IF NOT EXISTS bench_sessions (\
     id uuid PRIMARY KEY, family_id uuid NOT NULL, \
     tenant_id uuid NOT NULL REFERENCES bench_tenants (id) ON DELETE RESTRICT, \
     user_id uuid NOT NULL REFERENCES bench_users (id) ON DELETE CASCADE, \
     role text NOT NULL, auth_method text NOT NULL, \
     access_hash bytea NOT NULL, refresh_hash bytea NOT NULL, \
     created_at timestamptz NOT NULL, access_expires_at timestamptz NOT NULL, \
     refresh_expires_at timestamptz NOT NULL, absolute_expires_at timestamptz NOT NULL, \
     revoked_at timestamptz NULL, user_agent text NOT NULL, ip_address text NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_bench_sessions_access ON bench_sessions (access_hash)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_bench_sessions_refresh ON bench_sessions (refresh_hash)",
    "CREATE INDEX IF NOT EXISTS ix_bench_sessions_tenant_user ON bench_sessions (tenant_id, user_id)",
    "CREATE INDEX IF NOT EXISTS ix_bench_sessions_family ON bench_sessions (family_id)",
    "TRUNCATE bench_sessions",
];

const B3_INSERT: &str = "INSERT INTO bench_sessions (id, family_id, tenant_id, user_id, role, \
    auth_method, access_hash, refresh_hash, created_at, access_expires_at, refresh_expires_at, \
    absolute_expires_at, revoked_at, user_agent, ip_address) VALUES ($1::uuid, $2::uuid, \
    $3::uuid, $4::uuid, 'customer', 'password', $5, $6, now(), now() + interval '15 minutes', \
    now() + interval '30 days', now() + interval '90 days', NULL, 'twostep-load', '192.0.2.10')";

/// B3: one session-shaped row per call, inserted and committed (autocommit), through a
/// pool of the size twostepd uses.
pub struct SessionInsert {
    pool: sqlx::PgPool,
    tenant: String,
    user: String,
}

impl SessionInsert {
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL: {e}"))?;
        for statement in B3_SCHEMA {
            sqlx::query(*statement).execute(&pool).await?;
        }
        let tenant = uuid::Uuid::new_v4().to_string();
        let user = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO bench_tenants (id) VALUES ($1::uuid)")
            .bind(&tenant)
            .execute(&pool)
            .await?;
        sqlx::query("INSERT INTO bench_users (id, tenant_id) VALUES ($1::uuid, $2::uuid)")
            .bind(&user)
            .bind(&tenant)
            .execute(&pool)
            .await?;
        Ok(Self { pool, tenant, user })
    }
}

impl Op for SessionInsert {
    async fn call(&self, _seq: u64) -> Sample {
        let access: [u8; 32] = rand::random();
        let refresh: [u8; 32] = rand::random();
        let res = sqlx::query(B3_INSERT)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&self.tenant)
            .bind(&self.user)
            .bind(&access[..])
            .bind(&refresh[..])
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Sample::ok(),
            Err(e) => {
                crate::errors::note("SQL_ERROR", &e.to_string());
                Sample::Done {
                    code: "SQL_ERROR",
                    expected: false,
                }
            }
        }
    }
}
