//! A command run over the measured window only, such as a profiler
//! (`perf record -C 0 -g -o FILE`): started when the window starts and interrupted with
//! SIGINT when it ends, so that what it records is the measured load and not the set-up or
//! the warm-up (S3's set-up alone is thousands of StartLogin calls).

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long an interrupted command may take to finish (perf writes its file then).
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

/// Windows started so far in this process: `{n}` in the command line becomes this count, so
/// that a run with two windows (S5: alone, then beside S4) writes two files.
static WINDOWS: AtomicUsize = AtomicUsize::new(0);

/// A shell command line, from `--window-command`.
#[derive(Debug, Clone)]
pub struct WindowCommand(String);

/// The command while it runs.
pub struct Running {
    child: Child,
    line: String,
}

impl WindowCommand {
    pub fn new(line: &str) -> Option<Self> {
        let line = line.trim();
        (!line.is_empty()).then(|| Self(line.to_owned()))
    }

    /// Starts it through `sh -c 'exec …'`, so that the process interrupted later is the
    /// command itself and not the shell. A command that cannot start is reported and the
    /// run goes on: the measurement does not depend on it.
    pub fn start(&self) -> Option<Running> {
        let n = WINDOWS.fetch_add(1, Ordering::Relaxed) + 1;
        let line = self.0.replace("{n}", &n.to_string());
        match Command::new("sh")
            .arg("-c")
            .arg(format!("exec {line}"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => Some(Running { child, line }),
            Err(e) => {
                eprintln!("twostep-load: --window-command {line:?} did not start: {e}");
                None
            }
        }
    }
}

impl Running {
    /// Interrupts the command (SIGINT, through `kill`: no unsafe code here) and waits for
    /// it to finish.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let sent = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .await;
            if !matches!(sent, Ok(s) if s.success()) {
                eprintln!(
                    "twostep-load: could not interrupt --window-command {:?}",
                    self.line
                );
            }
        }
        match tokio::time::timeout(FINISH_TIMEOUT, self.child.wait()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("twostep-load: --window-command {:?}: {e}", self.line),
            Err(_) => {
                eprintln!(
                    "twostep-load: --window-command {:?} still running {} s after SIGINT; killed",
                    self.line,
                    FINISH_TIMEOUT.as_secs()
                );
                let _ = self.child.kill().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_line_is_no_command() {
        assert!(WindowCommand::new("  ").is_none());
    }

    /// A command that would run for a minute ends when the window does, and `{n}` in its
    /// line became a window number.
    #[tokio::test]
    async fn runs_until_stopped_with_the_window_number_in_its_line() {
        let dir = std::env::temp_dir().join(format!("twostep-window-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = format!("sh -c 'touch {}/w{{n}}; exec sleep 60'", dir.display());
        let running = WindowCommand::new(&line).unwrap().start().unwrap();
        let created = async {
            while std::fs::read_dir(&dir).unwrap().next().is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), created)
            .await
            .unwrap();
        running.stop().await;
        let name = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
        let name = name.file_name().into_string().unwrap();
        assert!(name.strip_prefix('w').unwrap().parse::<usize>().unwrap() >= 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
