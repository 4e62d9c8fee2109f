//! A disposable `redis-server` that a test can stop and start again on the same port, to
//! play a Redis outage under a running `twostepd`; also as a replica, or as a Sentinel, to
//! play a failover.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::env;
use crate::server::TempDir;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// A Sentinel's configuration file (it rewrites it), first on its command line.
    conf: Option<PathBuf>,
    /// Arguments after the usual ones (`--replicaof`, `--sentinel`).
    extra: Vec<String>,
    _dir: Option<TempDir>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::spawn(None, Vec::new(), None)
    }

    /// A replica of `primary`.
    pub fn replica_of(primary: &RedisServer) -> Self {
        let extra = ["--replicaof", "127.0.0.1", &primary.port.to_string()];
        Self::spawn(None, extra.map(str::to_owned).to_vec(), None)
    }

    /// A Sentinel watching `primary` as `service`, quorum 1, which calls it down after one
    /// second without an answer. Its port answers Sentinel commands only.
    pub fn sentinel(service: &str, primary: &RedisServer) -> Self {
        let dir = TempDir::new();
        let conf = dir.0.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {service} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {service} 1000\n\
                 sentinel failover-timeout {service} 5000\n",
                primary.port
            ),
        )
        .unwrap();
        Self::spawn(Some(conf), vec!["--sentinel".to_owned()], Some(dir))
    }

    fn spawn(conf: Option<PathBuf>, extra: Vec<String>, dir: Option<TempDir>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            port,
            child: None,
            conf,
            extra,
            _dir: dir,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same port, with nothing in it, and waits until it accepts.
    pub fn restart(&mut self) {
        self.kill();
        let bin = env::required("TWOSTEP_TEST_REDIS_SERVER");
        let mut cmd = Command::new(bin);
        cmd.args(&self.conf);
        let child = cmd
            .args(&self.extra)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
