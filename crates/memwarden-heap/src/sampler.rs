//! Sampling by bytes: each thread counts down an exponentially distributed number of bytes,
//! and the allocation that crosses zero is sampled, so an allocation of `s` bytes is sampled
//! with probability `1 - exp(-s/mean)` whatever the sizes around it, and stands for
//! `s / (1 - exp(-s/mean))` bytes (an unbiased estimate of the bytes allocated at its site).

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::countdown;
use crate::live::LiveSet;
use crate::lock::SpinLock;
use crate::modules;
use crate::stream::Connection;
use crate::unwind::{self, Stacks, MAX_FRAMES};

/// Mean bytes between samples when `MEMWARDEN_HEAP_SAMPLE` is not set: what jemalloc,
/// tcmalloc and heapprofd default to, a few samples per second for a busy allocator.
const DEFAULT_MEAN: u64 = 512 * 1024;

/// Mean bytes between samples; 0 until `configure` has run (or when sampling is off).
static MEAN: AtomicU64 = AtomicU64::new(0);
/// Set once sampling stopped for good in this process (no socket, or memwarden went away).
static STOPPED: AtomicBool = AtomicBool::new(false);
/// Forks being prepared now: samples are skipped meanwhile, so that no thread of ours holds
/// the loader's lock when the process is copied (a child would inherit it locked).
static FORKS: AtomicUsize = AtomicUsize::new(0);
/// Threads inside the loader's lock for a sample; `before_fork` waits for none.
static IN_LOADER: AtomicUsize = AtomicUsize::new(0);
/// `MEMWARDEN_HEAP_SOCKET`, copied at start-up.
static SOCKET: OnceLock<Vec<u8>> = OnceLock::new();

/// What a thread keeps besides its countdown ([`countdown`], touched by every allocation):
/// plain cells, so the slot needs no destructor and no lazy set-up.
struct Thread {
    /// xorshift state; 0 until the thread's first sample decision.
    rng: Cell<u64>,
    /// Inside the sampler: anything allocated now goes straight through.
    busy: Cell<bool>,
    /// The thread's stack, once asked.
    stack: Cell<(u64, u64)>,
}

thread_local! {
    static THREAD: Thread = const {
        Thread {
            rng: Cell::new(0),
            busy: Cell::new(false),
            stack: Cell::new((0, 0)),
        }
    };
}

/// Everything shared by the threads of the process, behind the one lock.
struct Shared {
    stacks: Option<Stacks>,
    live: LiveSet,
    connection: Connection,
    dropped: u64,
}

static SHARED: SpinLock<Shared> = SpinLock::new(Shared {
    stacks: None,
    live: LiveSet::new(),
    connection: Connection::new(),
    dropped: 0,
});

/// Reads `MEMWARDEN_HEAP_SOCKET` and `MEMWARDEN_HEAP_SAMPLE`; without a socket nothing is
/// sampled.
pub fn configure() {
    // SAFETY: runs once from the library's constructor; getenv's strings are only read.
    unsafe {
        let socket = libc::getenv(c"MEMWARDEN_HEAP_SOCKET".as_ptr());
        if socket.is_null() {
            STOPPED.store(true, Ordering::Relaxed);
            return;
        }
        let _ = SOCKET.set(std::ffi::CStr::from_ptr(socket).to_bytes().to_vec());
        let mean = libc::getenv(c"MEMWARDEN_HEAP_SAMPLE".as_ptr());
        let mean = if mean.is_null() {
            None
        } else {
            std::ffi::CStr::from_ptr(mean)
                .to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        };
        MEAN.store(
            mean.filter(|&m| m > 0).unwrap_or(DEFAULT_MEAN),
            Ordering::Release,
        );
    }
}

/// Whether this thread is inside the sampler now.
pub fn busy() -> bool {
    THREAD.with(|t| t.busy.get())
}

/// Counts an allocation of `size` bytes at `p` (null: failed, not counted).
#[inline(always)]
pub fn allocated(p: *mut c_void, size: usize) {
    if p.is_null() {
        return;
    }
    let crossed = countdown::with(|remaining| {
        let left = remaining.get() - size.min(1 << 62) as i64;
        remaining.set(left);
        left <= 0
    });
    if crossed {
        sample(p as usize, size);
    }
}

/// The allocation crossed the thread's countdown (or the thread has none yet).
#[cold]
#[inline(never)]
fn sample(p: usize, size: usize) {
    countdown::with(|remaining| THREAD.with(|t| sample_in(t, remaining, p, size)));
}

fn sample_in(t: &Thread, remaining: &Cell<i64>, p: usize, size: usize) {
    if t.busy.get() {
        return;
    }
    let mean = MEAN.load(Ordering::Acquire);
    if STOPPED.load(Ordering::Relaxed) {
        // Never again in this thread, in practice.
        remaining.set(i64::MAX / 2);
        return;
    }
    if mean == 0 {
        // Before start-up: decide again at the next allocation.
        remaining.set(0);
        return;
    }
    t.busy.set(true);
    if t.rng.get() == 0 {
        // The thread's first decision: start its countdown now, then count this allocation.
        seed(t);
        let left = gap(t, mean) - size.min(1 << 62) as i64;
        remaining.set(left);
        if left > 0 {
            t.busy.set(false);
            return;
        }
    }
    remaining.set(gap(t, mean));
    let sp = unwind::stack_pointer();
    let stack = unwind::stack_bounds(sp, &t.stack);
    let weight = weight(size as f64, mean as f64);
    // The loader's lock first, then ours: never the other order (see `modules::with_loader_lock`).
    // Announced before the fork check, checked again after (both sequentially consistent),
    // so a fork either waits for this sample or this sample sees the fork.
    IN_LOADER.fetch_add(1, Ordering::SeqCst);
    if FORKS.load(Ordering::SeqCst) == 0 {
        modules::with_loader_lock(|| SHARED.with(|s| record(s, p, size, weight, stack, mean)));
    }
    IN_LOADER.fetch_sub(1, Ordering::SeqCst);
    t.busy.set(false);
}

fn record(
    s: &mut Shared,
    p: usize,
    size: usize,
    weight: u64,
    stack: std::ops::Range<u64>,
    mean: u64,
) {
    let socket = SOCKET.get().map_or(&[][..], Vec::as_slice);
    if !s.connection.ready(socket, mean) {
        STOPPED.store(true, Ordering::Relaxed);
        return;
    }
    let stacks = s.stacks.get_or_insert_with(Stacks::new);
    if let Some(modules) = stacks.refresh() {
        s.connection.modules(&modules);
    }
    let mut frames = [0u64; MAX_FRAMES];
    let n = stacks.capture(stack, &mut frames);
    let now = monotonic_ns();
    if s.live.insert(p) {
        s.connection.alloc(now, p, size, weight, &frames[..n]);
    } else {
        s.dropped += 1;
        if s.dropped.is_power_of_two() {
            s.connection.dropped(now, s.dropped);
        }
    }
}

/// A sampled-maybe pointer is being released.
#[cold]
#[inline(never)]
pub fn released(p: usize) {
    THREAD.with(|t| {
        // Inside the sampler (a signal handler freeing while this thread holds the lock):
        // the lock cannot be taken; the sample stays counted as live.
        if t.busy.get() {
            return;
        }
        t.busy.set(true);
        SHARED.with(|s| {
            if s.live.remove(p) {
                s.connection.free(monotonic_ns(), p);
            }
        });
        t.busy.set(false);
    });
}

/// At exit: writes the records still gathered, unless another thread is inside a sample (it
/// is not waited for: the process is ending).
pub fn at_exit() {
    if !busy() && SHARED.try_acquire() {
        // SAFETY: the lock was just taken.
        unsafe { SHARED.held_value().connection.flush() };
        SHARED.release();
    }
}

/// Before `fork`: let samples inside the loader's lock finish, skip new ones, and hold our
/// lock; unless this thread is inside a sample itself (fork from a signal handler that
/// interrupted one), when nothing can be waited for.
pub fn before_fork() {
    if busy() {
        return;
    }
    FORKS.fetch_add(1, Ordering::SeqCst);
    while IN_LOADER.load(Ordering::SeqCst) > 0 {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
    SHARED.acquire();
}

/// After `fork`, in the parent or the `child`.
pub fn after_fork(child: bool) {
    if busy() {
        return;
    }
    if child {
        // SAFETY: `before_fork` took the lock and this is the only thread of the child.
        let shared = unsafe { SHARED.held_value() };
        shared.connection.forget();
        if let Some(stacks) = &mut shared.stacks {
            stacks.report_again();
        }
        // Only this thread was copied: no other fork is being prepared here.
        IN_LOADER.store(0, Ordering::SeqCst);
        FORKS.store(0, Ordering::SeqCst);
    } else {
        FORKS.fetch_sub(1, Ordering::SeqCst);
    }
    SHARED.release();
}

fn seed(t: &Thread) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: fills the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let mixed =
        (t as *const Thread as u64) ^ (ts.tv_nsec as u64).rotate_left(32) ^ ts.tv_sec as u64;
    t.rng.set(mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
}

/// An exponentially distributed gap with the given mean, in bytes (at least 1).
fn gap(t: &Thread, mean: u64) -> i64 {
    let mut x = t.rng.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    t.rng.set(x);
    // Uniform in (0, 1]: 53 random bits, never zero.
    let u = ((x >> 11) + 1) as f64 / (1u64 << 53) as f64;
    ((-u.ln() * mean as f64) as i64).clamp(1, 1 << 60)
}

/// Bytes a sample of `size` stands for: `size` divided by its probability of being sampled.
fn weight(size: f64, mean: f64) -> u64 {
    let p = -(-size / mean).exp_m1();
    if p > 0.0 {
        (size / p).round() as u64
    } else {
        mean as u64
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: fills the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
