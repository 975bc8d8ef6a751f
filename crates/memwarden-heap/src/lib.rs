//! The sampling allocation interposer behind `memwarden run --heap`.
//!
//! memwarden writes this shared object to a private directory and preloads it into the watched
//! command with `LD_PRELOAD`; the loader passes it on across `fork` and `exec`, so every
//! dynamically linked glibc program of the tree is covered. It replaces `malloc`, `calloc`,
//! `realloc`, `free`, `aligned_alloc`, `posix_memalign` and `memalign`, hands every call to
//! glibc's own allocator (`__libc_malloc` and friends), and *samples* by bytes: each thread
//! counts down an exponentially distributed number of bytes (mean `MEMWARDEN_HEAP_SAMPLE`,
//! 512 KiB by default) and the allocation that crosses zero is sampled. Only sampled
//! allocations are unwound and reported, so the common path is a thread-local subtraction and
//! a branch; a `free` of a pointer that was never sampled is one load from a filter and a
//! branch.
//!
//! A sampled allocation is reported to memwarden over the Unix socket named by
//! `MEMWARDEN_HEAP_SOCKET` as (stack, size, weight, time), and its `free` as (pointer, time),
//! in batches; see [`stream`] for the wire format.
//!
//! Nothing here allocates through the interposed functions: this library's own heap goes
//! straight to glibc ([`sys::LibcAllocator`]), and a thread that is already inside the sampler
//! (an allocating signal handler, glibc allocating while we read the stack bounds) passes
//! straight through. `fork` takes the one lock in a prepare handler, so a child never inherits
//! it held; a child opens its own connection on its first sample.

mod countdown;
mod hooks;
mod live;
mod lock;
mod modules;
mod sampler;
mod stream;
mod sys;
mod unwind;

#[global_allocator]
static ALLOCATOR: sys::LibcAllocator = sys::LibcAllocator;

/// Runs when the loader maps this library, before the program's `main`: reads the settings
/// and registers the fork handlers.
extern "C" fn init() {
    sampler::configure();
    // SAFETY: the handlers are plain functions that only touch this library's own state.
    unsafe {
        libc::pthread_atfork(
            Some(hooks::before_fork),
            Some(hooks::after_fork_parent),
            Some(hooks::after_fork_child),
        );
    }
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

/// Runs at `exit`: the last gathered records go out.
extern "C" fn fini() {
    sampler::at_exit();
}

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = fini;
