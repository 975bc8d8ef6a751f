//! Returning freed heap memory to the operating system.
//!
//! glibc's `free` keeps freed small blocks in its arenas; it gives memory back only from the
//! top of a heap, so one live block near the top pins everything below it. A cleanup that
//! clears a map may therefore free nothing the kernel can see (S3: "stop button frees
//! nothing"). `malloc_trim(0)` walks every arena and releases the whole pages of its free
//! blocks wherever they lie, and the free top of the main heap. It does not shrink the free
//! top of another thread's arena: big buffers freed there stay resident unless they were
//! mapped on their own (see `M_MMAP_THRESHOLD` in mallopt(3)).

/// Returns freed heap memory to the OS (glibc `malloc_trim(0)`); `true` if some was released.
///
/// A no-op returning `false` where the C library is not glibc (musl, other allocators own
/// their own policy). It takes every arena's lock in turn, so call it after a cleanup, not on
/// every allocation.
///
/// ```
/// let big: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 4000]).collect();
/// drop(big);
/// let _released = memwarden::guard::trim();
/// ```
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
