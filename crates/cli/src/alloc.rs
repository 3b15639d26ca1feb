//! The process's memory allocator: mimalloc, keeping freed memory for reuse and without transparent huge pages.
//!
//! Import and segment flushes allocate and free millions of small strings per second across threads. With the
//! system allocator a third of an import's CPU time went to `malloc`/`free` (arena locks, consolidation). mimalloc
//! as it comes loses elsewhere: its default purging (a second after memory is freed) returns pages to the OS and
//! faults them back in, and its huge-page advice stalled capture requests for hundreds of milliseconds while a
//! flush ran. Built with `no_thp` and with purging off it beats the system allocator on import throughput and on
//! capture latency (`bench/RESULTS.md`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the same index in mimalloc 2 and 3); `libmimalloc-sys` names no
/// constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed memory to the OS, so it is reused without page faults. Peak memory is
/// what the process keeps.
#[allow(
    unsafe_code,
    reason = "one call into mimalloc's C API, which has no safe wrapper"
)]
pub(crate) fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it may be called at any time, from any
    // thread, and `MI_OPTION_PURGE_DELAY` is a valid option index.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code, reason = "reads mimalloc's option table")]
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: `mi_option_get` reads an integer from mimalloc's option table; any index below the last is valid.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn the_option_is_the_purge_delay() {
        // mimalloc 3 purges after 1000 ms by default; no other option defaults to 1000.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
