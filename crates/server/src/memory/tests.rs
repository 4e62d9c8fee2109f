use super::*;

#[test]
fn a_trim_waits_for_growth_above_the_smallest_size_after_one() {
    let mib = 1024 * 1024;
    assert!(!worth_trimming(30 * mib, 30 * mib));
    assert!(!worth_trimming(33 * mib, 30 * mib));
    assert!(worth_trimming(34 * mib, 30 * mib));
    assert!(worth_trimming(90 * mib, 30 * mib));
    // Never measured: the first look decides.
    assert!(worth_trimming(WORTH_TRIMMING, 0));
}

#[test]
fn reads_its_own_resident_size() {
    let resident = resident_bytes().unwrap_or(0);
    assert!(resident > 1024 * 1024, "{resident}");
}

/// What the trimmer is for: memory freed in the middle of the heap, below blocks still in use,
/// goes back to the system. Without the trim glibc keeps all of it resident.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_memory_in_the_middle_of_the_heap_goes_back() {
    const BLOCK: usize = 8 * 1024; // below glibc's mmap threshold: from the heap
    const BLOCKS: usize = 8 * 1024; // 64 MiB in all
    let mut blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|i| vec![i as u8 | 1; BLOCK]).collect();
    // Keep one block in 64, so every freed stretch lies below a live block.
    let mut kept = Vec::new();
    for (i, block) in blocks.drain(..).enumerate() {
        if i % 64 == 0 {
            kept.push(block);
        }
    }
    let before = resident_bytes().unwrap_or(0);
    release_free_heap();
    let after = resident_bytes().unwrap_or(0);
    assert!(
        after + 32 * 1024 * 1024 < before,
        "resident {before} bytes before the trim, {after} after"
    );
    assert!(kept.iter().all(|b| b.iter().all(|&x| x & 1 == 1)));
}
