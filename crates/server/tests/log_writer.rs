//! The log writer never blocks a caller: while the destination is stuck, lines queue and then
//! drop (counted); once it moves again, what was queued is written. A test binary of its own,
//! because the subscriber is process-global.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use twostep_server::config::LogFormat;
use twostep_server::telemetry;

/// A destination that accepts nothing until opened, then collects what it is given.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Gate {
    fn open(&self) {
        let (lock, cvar) = &*self.open;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cvar.notify_all();
    }

    fn lines(&self) -> usize {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (lock, cvar) = &*self.open;
        let mut open = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !*open {
            open = cvar.wait(open).unwrap_or_else(PoisonError::into_inner);
        }
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_log_destination_drops_and_counts_lines_instead_of_blocking_callers() {
    const LINES: usize = 40_000;
    let gate = Gate::default();
    let guard = telemetry::init("info", LogFormat::Json, gate.clone());

    // More lines than the queue holds, while the destination takes none: every call returns
    // (a blocking writer would hang this test here).
    for i in 0..LINES {
        tracing::warn!(line = i, "a request was answered");
    }
    let dropped = usize::try_from(telemetry::dropped_log_lines()).unwrap();
    assert!(
        dropped > 0,
        "nothing dropped although the destination took nothing"
    );
    assert_eq!(gate.lines(), 0);

    gate.open();
    drop(guard);
    let written = gate.lines();
    assert!(written > 0, "nothing written after the destination opened");
    assert_eq!(
        written + dropped,
        LINES,
        "every line is either written or counted"
    );
    let text = String::from_utf8(gate.written.lock().unwrap().clone()).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(r#""message":"a request was answered""#) && first.contains(r#""line":0"#),
        "{first}"
    );
}
