//! Giving the memory of a burst back to the system.
//!
//! glibc's malloc returns freed memory to the system only from the top of an arena; what a
//! burst of requests freed in the middle of one stays resident, as free chunks, for the life
//! of the process. Measured (BENCHMARKS.md, "RSS at c=256"): after StartLogin at 256 callers,
//! 29–38 MiB of `twostepd`'s 85–99 MiB were free memory that glibc kept, more than the burst
//! ever had in use at once. `malloc_trim(0)` also hands back the whole free pages in the middle
//! of every arena (glibc 2.8 and later), so a task calls it every `server.memory_trim_secs`,
//! on a blocking thread: it takes each arena's lock in turn, and a runtime worker must not
//! wait on that.
//!
//! Nothing in use is freed, and a page handed back costs one page fault when it is used again,
//! so a trim too many costs little; none is made while the process is within
//! [`WORTH_TRIMMING`] of the smallest size it had after a trim, since there is then little
//! to give back.

use std::time::{Duration, Instant};

/// Resident growth above the smallest size after a trim below which a trim is skipped.
pub const WORTH_TRIMMING: u64 = 4 * 1024 * 1024;

/// Trims every `every` while the process runs; see the module comment.
pub async fn run_trimmer(every: Duration) {
    let mut smallest_after = resident_bytes().unwrap_or(0);
    loop {
        tokio::time::sleep(every).await;
        let Some(before) = resident_bytes() else {
            continue;
        };
        if !worth_trimming(before, smallest_after) {
            continue;
        }
        let Ok(took) = tokio::task::spawn_blocking(|| {
            let started = Instant::now();
            release_free_heap();
            started.elapsed()
        })
        .await
        else {
            continue;
        };
        let after = resident_bytes().unwrap_or(before);
        smallest_after = smallest_after.min(after);
        tracing::debug!(
            before_kib = before / 1024,
            after_kib = after / 1024,
            took_us = took.as_micros(),
            "free heap memory handed back"
        );
    }
}

/// Whether a process of `resident` bytes, whose smallest size after a trim was
/// `smallest_after`, may have enough free memory to be worth an arena walk.
pub fn worth_trimming(resident: u64, smallest_after: u64) -> bool {
    resident >= smallest_after.saturating_add(WORTH_TRIMMING)
}

/// Asks the allocator to hand the whole free pages it keeps back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_heap() {
    // SAFETY: `malloc_trim` takes no pointer and touches only glibc's own free lists, each
    // under its arena's lock; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl's, macOS's) hand free pages back on their own, or have no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_heap() {}

/// `VmRSS` of this process, from `/proc/self/status`; `None` where there is no such file.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests;
