//! Private, disposable redis-server processes (`TWOSTEP_TEST_REDIS_SERVER`) for the tests
//! that stop, restart or fail over a Redis: a standalone server, a replica, a Sentinel.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::service_env;

/// A redis-server we started; killed when dropped.
pub struct Server {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Server {
    /// A standalone server on `port`, no persistence, files in `dir`.
    pub fn start(port: u16, dir: PathBuf) -> Self {
        Self::spawn(port, dir, &[])
    }

    /// A standalone server that refuses REPLICAOF, so that no Sentinel can demote it: a
    /// primary cut off from the Sentinels but not from its clients.
    pub fn undemotable(port: u16, dir: PathBuf) -> Self {
        Self::spawn(
            port,
            dir,
            &[
                "--rename-command",
                "REPLICAOF",
                "",
                "--rename-command",
                "SLAVEOF",
                "",
            ],
        )
    }

    /// A replica of the server on `primary`.
    pub fn replica_of(primary: u16, port: u16, dir: PathBuf) -> Self {
        Self::spawn(
            port,
            dir,
            &["--replicaof", "127.0.0.1", &primary.to_string()],
        )
    }

    /// A Sentinel watching the primary on `primary` as `service`, quorum 1, which calls it
    /// down after one second without an answer.
    pub fn sentinel(service: &str, primary: u16, port: u16, dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        // A Sentinel rewrites its configuration file, so it gets one of its own.
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {service} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {service} 1000\n\
                 sentinel failover-timeout {service} 5000\n"
            ),
        )
        .unwrap();
        Self::spawn_with_conf(port, dir, Some(&conf), &["--sentinel"])
    }

    fn spawn(port: u16, dir: PathBuf, extra: &[&str]) -> Self {
        Self::spawn_with_conf(port, dir, None, extra)
    }

    fn spawn_with_conf(port: u16, dir: PathBuf, conf: Option<&Path>, extra: &[&str]) -> Self {
        let bin = service_env("TWOSTEP_TEST_REDIS_SERVER");
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(bin);
        if let Some(conf) = conf {
            cmd.arg(conf);
        }
        let child = cmd
            .args(extra)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpListener::bind(("127.0.0.1", port)).is_ok() || !answers(port) {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, dir, port }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn answers(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A free port below the ephemeral range, so no outgoing connection takes it while the
/// server is down.
pub fn free_port() -> u16 {
    loop {
        let n = u16::try_from(uuid::Uuid::new_v4().as_u128() % 7000).unwrap();
        let port = 15000 + n;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
