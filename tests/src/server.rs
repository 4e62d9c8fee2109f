//! One running `twostepd` child process.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, ClientTlsConfig};
use twostep_proto::v1::account_service_client::AccountServiceClient;
use twostep_proto::v1::admin_service_client::AdminServiceClient;
use twostep_proto::v1::auth_service_client::AuthServiceClient;

use crate::env;

/// Where durable and short-lived state live for a test server.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded default: a SQLite file in a temp dir and the in-memory store.
    Embedded,
    /// A fresh PostgreSQL database and the standalone Redis of `scripts/test`.
    PostgresRedis,
    /// Exactly these stores, for several servers sharing them (pass the same `code_key`).
    Shared(SharedStores),
}

/// Stores that several servers share, as two instances behind a load balancer would.
#[derive(Debug, Clone)]
pub struct SharedStores {
    pub database_url: String,
    pub redis_url: String,
    pub key_prefix: String,
    /// Hex; every instance must MAC codes with the same key.
    pub code_key: String,
}

impl SharedStores {
    /// A fresh PostgreSQL database, the given Redis, a fresh key prefix and code key.
    pub async fn new(redis_url: String) -> Self {
        Self {
            database_url: env::fresh_postgres_database().await,
            redis_url,
            key_prefix: format!("e2e{}:", uuid::Uuid::new_v4().simple()),
            code_key: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }
}

pub struct TestServer {
    child: Child,
    pub addr: String,
    stderr: Arc<Mutex<Vec<String>>>,
    _dir: TempDir,
    /// Set for a server started with [`TestServer::start_tls`]: clients speak TLS.
    tls: Option<ClientTlsConfig>,
}

/// The path of the `twostepd` binary next to this test binary (`target/debug/twostepd`).
pub fn twostepd_path() -> PathBuf {
    if let Ok(p) = std::env::var("TWOSTEPD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let debug_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = debug_dir.join("twostepd");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test (it builds twostepd first)",
        bin.display()
    );
    bin
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// Starts `twostepd` on a free port with extra `TWOSTEP_*` settings, and waits until it
    /// answers health checks.
    pub async fn start_with(backend: Backend, extra_env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new();
        let cmd = command(&dir, backend, extra_env, None).await;
        Self::spawn(cmd, dir, None).await
    }

    /// Like [`TestServer::start_with`], with a configuration file: `toml` is written to the
    /// server's working directory and passed as `--config`. The environment still wins over
    /// the file, as in production.
    pub async fn start_with_config(
        backend: Backend,
        toml: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let dir = TempDir::new();
        let config = dir.0.join("twostepd.toml");
        std::fs::write(&config, toml).unwrap();
        let cmd = command(&dir, backend, extra_env, Some(&config)).await;
        Self::spawn(cmd, dir, None).await
    }

    /// Like [`TestServer::start_with_config`] for a server with `[server.tls]` in `toml`;
    /// every client of the harness (health included) then connects with `tls`.
    pub async fn start_tls(
        backend: Backend,
        toml: &str,
        extra_env: &[(&str, &str)],
        tls: ClientTlsConfig,
    ) -> Self {
        let dir = TempDir::new();
        let config = dir.0.join("twostepd.toml");
        std::fs::write(&config, toml).unwrap();
        let cmd = command(&dir, backend, extra_env, Some(&config)).await;
        Self::spawn(cmd, dir, Some(tls)).await
    }

    /// The server's working directory (its embedded SQLite file is `data/twostep.db` in it).
    pub fn dir(&self) -> &std::path::Path {
        &self._dir.0
    }

    async fn spawn(mut cmd: Command, dir: TempDir, tls: Option<ClientTlsConfig>) -> Self {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn twostepd");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<String>();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(collect(lines, Arc::clone(&stderr), addr_tx));
        let addr = match tokio::time::timeout(Duration::from_secs(30), addr_rx).await {
            Ok(Ok(addr)) => addr,
            _ => {
                let status = child.try_wait().ok().flatten();
                panic!(
                    "twostepd did not start (exit: {status:?}); stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let server = Self {
            child,
            addr,
            stderr,
            _dir: dir,
            tls,
        };
        server.wait_until_serving().await;
        server
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    pub async fn channel(&self) -> Channel {
        let mut endpoint = Channel::from_shared(self.url()).unwrap();
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).unwrap();
        }
        endpoint.connect().await.unwrap()
    }

    pub async fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel().await)
    }

    pub async fn account(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel().await)
    }

    pub async fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel().await)
    }

    pub async fn health(&self, service: &str) -> i32 {
        let mut client = tonic_health::pb::health_client::HealthClient::new(self.channel().await);
        let req = tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        };
        client
            .check(req)
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(-1)
    }

    /// Waits (bounded) until health for `""` is SERVING.
    pub async fn wait_until_serving(&self) {
        self.wait_for_health(
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
        )
        .await;
    }

    pub async fn wait_for_health(&self, status: i32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.health("").await != status {
            assert!(
                Instant::now() < deadline,
                "health never became {status}; stderr:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// `stderr_text` once twostepd's log has gone quiet (no new line for 100 ms, waiting 3 s
    /// at most). twostepd writes its log lines from a thread of its own after the event, so
    /// a line about what an RPC did can arrive after the RPC's answer: a test that checks
    /// what the log says (or does not say) about an RPC it just made reads it this way.
    pub async fn settled_stderr_text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = self.stderr.lock().unwrap().len();
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.stderr.lock().unwrap().len();
            if now != seen {
                seen = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_millis(100) {
                break;
            }
        }
        self.stderr_text()
    }

    /// The code of the last console code SMS to the number ending in `last_four`, waiting for
    /// one (the outbox sends after the RPC returns). Code lines look like
    /// `SMS to +1******0100: 123456 is your twostep code. …`; notices (no code) are skipped.
    pub async fn last_code_for(&self, last_four: &str) -> String {
        self.next_code_for(last_four, 0).await
    }

    /// The code of the newest code SMS among those to `last_four` after the first `seen`
    /// messages (of any kind, as `sms_count` counts them), waiting for one.
    pub async fn next_code_for(&self, last_four: &str, seen: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let code = self
                .sms_texts(last_four)
                .into_iter()
                .skip(seen)
                .filter(|text| text.contains(" is your "))
                .map(|text| {
                    text.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .rfind(|code| !code.is_empty());
            if let Some(code) = code {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "no code SMS to …{last_four}; stderr:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The texts of every console SMS to the number ending in `last_four`, oldest first.
    pub fn sms_texts(&self, last_four: &str) -> Vec<String> {
        let marker = format!("{last_four}: ");
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("SMS to "))
            .filter_map(|l| l.split_once(&marker).map(|(_, text)| text.to_owned()))
            .collect()
    }

    /// The first console SMS to the number ending in `last_four` whose text contains
    /// `needle`, waiting (bounded) for it: notices, like codes, go out through the outbox
    /// after the RPC has answered, so reading stderr at once would race the worker.
    pub async fn wait_for_sms(&self, last_four: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(text) = self
                .sms_texts(last_four)
                .into_iter()
                .find(|t| t.contains(needle))
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no SMS containing {needle:?} to …{last_four}; stderr:\n{}",
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many console SMS went to the number ending in `last_four`.
    pub fn sms_count(&self, last_four: &str) -> usize {
        self.sms_texts(last_four).len()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("twostepd did not exit in time")
            .unwrap()
    }
}

/// The `twostepd` command for a test: a free port, fast health checks, the backend's stores,
/// then `extra_env`, and an optional `--config` file.
async fn command(
    dir: &TempDir,
    backend: Backend,
    extra_env: &[(&str, &str)],
    config: Option<&PathBuf>,
) -> Command {
    let mut cmd = Command::new(twostepd_path());
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TWOSTEP_SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .env("TWOSTEP_HEALTH__CHECK_INTERVAL_MS", "200")
        .env("RUST_LOG", "info");
    match backend {
        Backend::Embedded => {}
        Backend::PostgresRedis => {
            cmd.env(
                "TWOSTEP_DATABASE__URL",
                env::fresh_postgres_database().await,
            );
            cmd.env(
                "TWOSTEP_REDIS__URL",
                env::required("TWOSTEP_TEST_REDIS_URL"),
            );
            cmd.env(
                "TWOSTEP_REDIS__KEY_PREFIX",
                format!("e2e{}:", uuid::Uuid::new_v4().simple()),
            );
        }
        Backend::Shared(stores) => {
            cmd.env("TWOSTEP_DATABASE__URL", &stores.database_url);
            cmd.env("TWOSTEP_REDIS__URL", &stores.redis_url);
            cmd.env("TWOSTEP_REDIS__KEY_PREFIX", &stores.key_prefix);
            cmd.env("TWOSTEP_SECURITY__CODE_KEY", &stores.code_key);
        }
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

async fn collect(
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    sink: Arc<Mutex<Vec<String>>>,
    addr_tx: tokio::sync::oneshot::Sender<String>,
) {
    let mut addr_tx = Some(addr_tx);
    while let Ok(Some(line)) = lines.next_line().await {
        if addr_tx.is_some()
            && line.contains("twostepd listening")
            && let Some(addr) = line
                .split("addr=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
        {
            let _ = addr_tx
                .take()
                .unwrap()
                .send(addr.trim_matches('"').to_owned());
        }
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("[twostepd] {line}");
        }
        sink.lock().unwrap().push(line);
    }
}

/// A temporary directory removed on drop; the server's working directory, so the embedded
/// SQLite file lands in it.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("twostep-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
