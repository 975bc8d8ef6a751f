//! The interposed allocation functions and the fork handlers.
//!
//! Each allocation function calls glibc first and hands a successful result to the sampler;
//! each release asks the live-pointer filter first (one load and a branch for a pointer that
//! was never sampled) and tells the sampler before glibc may hand the address out again.

use std::ffi::c_void;

use crate::{live, sampler, sys};

/// Interposed `malloc`.
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    let p = sys::malloc(size);
    sampler::allocated(p, size);
    p
}

/// Interposed `calloc`.
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let p = sys::calloc(n, size);
    sampler::allocated(p, n.wrapping_mul(size));
    p
}

/// Interposed `realloc`: the old block's sample (if any) ends here, and the new block is a
/// new allocation of its full size for the sampler.
///
/// # Safety
/// As `realloc(3)`: `p` is null or a live pointer from this allocator.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // Before glibc may give the address to another thread, which could sample it again.
    release(p);
    let q = sys::realloc(p, size);
    sampler::allocated(q, size);
    q
}

/// Interposed `free`.
///
/// # Safety
/// As `free(3)`.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    release(p);
    sys::free(p)
}

/// Interposed `memalign`.
#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let p = sys::memalign(align, size);
    sampler::allocated(p, size);
    p
}

/// Interposed `aligned_alloc` (glibc's own accepts any power-of-two alignment).
#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

/// Interposed `posix_memalign`.
///
/// # Safety
/// As `posix_memalign(3)`: `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(std::mem::size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let p = sys::memalign(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    sampler::allocated(p, size);
    *out = p;
    0
}

/// Ends the sample of `p` if it was sampled.
#[inline(always)]
fn release(p: *mut c_void) {
    if live::maybe_sampled(p as usize) {
        sampler::released(p as usize);
    }
}

/// `pthread_atfork` prepare: hold the lock so no other thread is inside it at the fork.
pub extern "C" fn before_fork() {
    sampler::before_fork();
}

/// `pthread_atfork` parent: release what `before_fork` took.
pub extern "C" fn after_fork_parent() {
    sampler::after_fork(false);
}

/// `pthread_atfork` child: the connection belongs to the parent; this process opens its own.
pub extern "C" fn after_fork_child() {
    sampler::after_fork(true);
}
