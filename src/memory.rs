//! Giving freed heap memory back to the operating system when the node goes idle.
//!
//! glibc keeps memory freed by ended calls in its per-thread arenas, so a node's
//! RSS after a busy hour stays at its high-water mark (measured: 28.8 MB idle →
//! 60.2 MB under 300 calls → still 60.2 MB after them). When the last call ends,
//! the Supervisor asks glibc to release free pages of every arena.

/// Returns free heap pages of all malloc arenas to the OS (glibc `malloc_trim(0)`,
/// which since glibc 2.8 walks every arena and `madvise`s free pages away). Costs a
/// few milliseconds on a large heap; call it only when the node goes idle.
/// Returns whether any memory was released. A no-op on other C libraries.
/// Measured by `bench/run.sh soak` (docs/performance.md), not by a unit test:
/// RSS inside a test binary says nothing about the server's.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only inspects and shrinks the allocator's own free
        // lists; it is thread-safe (takes each arena's lock) and has no
        // preconditions on the caller.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
