//! The process's allocator, mimalloc, and how a command that runs until stopped (ingest, up,
//! aggregate, the catalog server) asks it to hand freed memory back to the system at once.
//!
//! mimalloc keeps the pages it freed resident for a while (`purge_delay`, a second in its v3)
//! before it returns them. That is what makes it fast for a query: a hash table that grows and
//! shrinks finds its pages still mapped. In a process that runs for weeks it turns every short
//! burst (a background compaction's Parquet pages, decoded and encoded across tokio's threads)
//! into a peak of resident memory well above the heap that needed it, and the peaks are what a
//! memory limit sees. So long-running commands purge at once and one-shot commands keep
//! mimalloc's default (docs/benchmarks.md, "What made the peaks").

// Queries over many small files and ingest's Parquet writers allocate and free large buffers
// (zstd contexts, column chunks) at a high rate; glibc's malloc spent a third of such a query's
// time on them (docs/benchmarks.md).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(feature = "system-allocator"))]
#[allow(unsafe_code)] // mimalloc's options have no safe binding; both calls only read or set one integer
mod options {
    use std::ffi::{c_int, c_long};

    unsafe extern "C" {
        pub safe fn mi_option_get(option: c_int) -> c_long;
        /// Sets an option unless the environment (`MIMALLOC_<NAME>`) set it.
        pub safe fn mi_option_set_default(option: c_int, value: c_long);
    }

    /// Option numbers of mimalloc v3 (`mi_option_e`, include/mimalloc.h); libmimalloc-sys's
    /// constants are v2's. The test below checks them against v3's documented defaults.
    pub const PURGE_DELAY: c_int = 15;
}

/// Freed memory goes back to the system at once for the rest of the process, unless
/// `MIMALLOC_PURGE_DELAY` says otherwise.
pub fn hand_back_freed_memory_at_once() {
    #[cfg(not(feature = "system-allocator"))]
    {
        options::mi_option_set_default(options::PURGE_DELAY, 0);
        let delay_ms = options::mi_option_get(options::PURGE_DELAY);
        tracing::debug!(delay_ms, "freed memory is handed back after this delay");
    }
}

#[cfg(all(test, not(feature = "system-allocator")))]
mod tests {
    use super::options::*;

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/self/status")
    }

    #[test]
    fn option_numbers_are_mimalloc_v3s() {
        // v3's defaults of the options around purge_delay: os_tag 100 and retry_on_oom 400 (no
        // environment variable sets them in a test).
        assert_eq!(mi_option_get(18), 100, "os_tag");
        assert_eq!(mi_option_get(27), 400, "retry_on_oom");
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            let delay = mi_option_get(PURGE_DELAY);
            assert!(delay == 1000 || delay == 0, "purge_delay is v3's default or ours: {delay}");
        }
    }

    #[test]
    fn freed_memory_leaves_the_resident_set_at_once() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the environment decides
        }
        super::hand_back_freed_memory_at_once();
        assert_eq!(mi_option_get(PURGE_DELAY), 0);
        let before = resident_kib();
        // 256 MiB in blocks of 4 MiB, every page written, then freed.
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8 + 1; 4 << 20]).collect();
        let held = resident_kib();
        assert!(held > before + 200 * 1024, "the blocks are resident: {before} → {held} KiB");
        drop(blocks);
        let after = resident_kib();
        assert!(
            after < before + 64 * 1024,
            "freed blocks still resident: {before} KiB before, {held} held, {after} after"
        );
    }
}
