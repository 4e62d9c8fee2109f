//! Logging set-up: human-readable in development, JSON lines in production.
//!
//! Lines are written by a thread of their own ([`tracing_appender::non_blocking`]): a request
//! that logs only queues its line. Writing on the request path made every worker that logged
//! wait whenever a `write()` to the log file or pipe blocked (a full pipe, a slow collector,
//! dirty-page writeback throttling the disk). When the queue is full, lines are dropped rather
//! than requests slowed, and counted: [`dropped_log_lines`], exported as
//! `twostep_log_lines_dropped_total`.

use std::io::{BufWriter, IsTerminal, Write};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines queued before new ones are dropped: a few MiB at most, a burst of seconds at the
/// busiest rates a process serves.
const QUEUED_LINES: usize = 16_384;

/// The writer thread batches lines into writes of at most this size: a pipe takes a write
/// this small whole, so lines never interleave with another writer's (the console SMS sink
/// writes to standard error too).
const PIPE_BUF: usize = 4096;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the log-writing thread running; dropping it writes out what is queued (waiting a
/// second at most). Hold it until the process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    // Never read: it is held for its `Drop`.
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber. `RUST_LOG` overrides `level` when set, as operators expect.
pub fn init<W>(level: &str, format: LogFormat, writer: W) -> LogGuard
where
    W: Write + Send + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // The writer thread flushes whenever its queue runs empty, so buffering costs no delay.
    let (queue, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("twostepd-log")
        .finish(BufWriter::with_capacity(PIPE_BUF, writer));
    // Colour only for a person at a terminal; files, pipes and log collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(queue.clone());
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A second init (tests) keeps the first subscriber, its writer and its counter.
    if installed.is_err() {
        return LogGuard { _writer: None };
    }
    let _ = DROPPED.set(queue.error_counter());
    LogGuard {
        _writer: Some(guard),
    }
}

/// Log lines dropped because the writer thread fell behind, since start-up.
pub fn dropped_log_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}
