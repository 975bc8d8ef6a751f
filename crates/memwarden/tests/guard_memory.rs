//! The guard against real memory: pages are touched, so the kernel backs them and /proc shows
//! them. Tests here measure this process's own memory, so they take turns (one lock), and every
//! wait polls a condition under a deadline.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use memwarden::guard::{self, MemoryGate, Watchdog};
use memwarden::sample::procfs::parse_statm;
use memwarden::units::{format_bytes, Threshold};

const MIB: u64 = 1 << 20;

/// Serializes the tests of this binary: each measures the whole process.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's anonymous resident memory (resident minus shared), bytes.
fn own_anon() -> u64 {
    let statm = std::fs::read("/proc/self/statm").unwrap();
    let m = parse_statm(&statm).unwrap();
    (m.resident - m.shared) * rustix::param::page_size() as u64
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Anonymous memory mapped and touched directly, so freeing it returns it to the kernel at
/// once, whatever the allocator's thresholds have become.
struct Touched {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Touched {
    fn new(bytes: u64) -> Self {
        let len = bytes as usize;
        // SAFETY: a fresh private anonymous mapping, checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the mapping is `len` bytes, writable; writing every page makes it resident.
        unsafe { std::ptr::write_bytes(ptr.cast::<u8>(), 0x5a, len) };
        Touched { ptr, len }
    }
}

impl Drop for Touched {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

#[test]
fn warn_and_critical_fire_once_per_crossing() {
    let _turn = one_at_a_time();
    let base = own_anon();
    let (warn_at, critical_at) = (base + 100 * MIB, base + 200 * MIB);
    let warned = Arc::new(AtomicUsize::new(0));
    let critical = Arc::new(AtomicUsize::new(0));
    let readings = Arc::new(AtomicUsize::new(0));
    let (w, c, r) = (
        Arc::clone(&warned),
        Arc::clone(&critical),
        Arc::clone(&readings),
    );
    let watchdog = Watchdog::builder()
        .interval(Duration::from_millis(2))
        // A wide band (re-arm below 80 %) keeps the test clear of a few MiB of noise.
        .rearm_below(0.8)
        .warn(Threshold::Bytes(warn_at))
        .critical(Threshold::Bytes(critical_at))
        .on_warn(move |_| {
            w.fetch_add(1, Ordering::SeqCst);
        })
        .on_critical(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        // A judge that never calls a leak counts the readings: "N more readings" needs no clock.
        .leak_judge(move |_, _| {
            r.fetch_add(1, Ordering::SeqCst);
            None
        })
        .spawn()
        .unwrap();
    let counts = || {
        (
            warned.load(Ordering::SeqCst),
            critical.load(Ordering::SeqCst),
        )
    };
    let settle = |n: usize| {
        let target = readings.load(Ordering::SeqCst) + n;
        wait_until("more readings", || {
            readings.load(Ordering::SeqCst) >= target
        });
    };
    // Level of memory above `base`, made of 4 MiB blocks so it can be set to a level exactly.
    let mut blocks: Vec<Touched> = Vec::new();
    let mut set_level = |mib: u64| {
        blocks.truncate((mib / 4) as usize);
        while (blocks.len() as u64) < mib / 4 {
            blocks.push(Touched::new(4 * MIB));
        }
    };

    for round in 1..=2 {
        set_level(140); // past warn
        wait_until("warn", || counts().0 == round);
        settle(20);
        assert_eq!(
            counts(),
            (round, round - 1),
            "warn held above its threshold"
        );
        // Inside the hysteresis band (below warn, above 80 % of it): not re-armed.
        set_level(88);
        settle(20);
        set_level(140);
        settle(20);
        assert_eq!(counts(), (round, round - 1), "re-fired inside the band");
        set_level(240); // past critical
        wait_until("critical", || counts().1 == round);
        settle(20);
        assert_eq!(counts(), (round, round));
        // Well below both re-arm levels: the next crossing fires again.
        set_level(0);
        wait_until("the drop to be read", || {
            watchdog.latest().unwrap().bytes < base + 40 * MIB
        });
    }
    drop(watchdog);
    assert_eq!(counts(), (2, 2));
}

#[test]
fn trim_returns_freed_small_blocks_to_the_os() {
    let _turn = one_at_a_time();
    const BLOCK: usize = 512;
    const COUNT: usize = 128 * 1024; // 64 MiB of small blocks
    let base = own_anon();
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        blocks.push(vec![i as u8 | 1; BLOCK]);
    }
    let full = own_anon();
    // Keep one block in 64 (and the last, which pins the top of the heap): free() alone can
    // then only hand back memory from the top, which it cannot reach.
    let kept: Vec<Vec<u8>> = blocks
        .drain(..)
        .enumerate()
        .filter(|(i, _)| i % 64 == 0 || *i == COUNT - 1)
        .map(|(_, b)| b)
        .collect();
    let freed = own_anon();
    let released = guard::trim();
    let trimmed = own_anon();
    eprintln!(
        "trim: base {}, after allocating {} of {BLOCK}-byte blocks {}, after freeing 63/64 {}, after trim {} (trim returned {released})",
        format_bytes(base),
        COUNT,
        format_bytes(full),
        format_bytes(freed),
        format_bytes(trimmed),
    );
    // The kept half stays allocated until here.
    std::hint::black_box(&kept);
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let allocated = full.saturating_sub(base);
        assert!(allocated >= 48 * MIB, "allocated only {allocated}");
        assert!(
            freed.saturating_sub(trimmed) >= allocated / 2,
            "trim gave back only {} of {}",
            format_bytes(freed.saturating_sub(trimmed)),
            format_bytes(allocated)
        );
    }
}

/// Runs `tasks` tasks of `per_task` bytes each on their own threads at once, optionally
/// through a gate; returns the highest anonymous memory above `base` that any task saw.
fn batch(tasks: usize, per_task: u64, gate: Option<&MemoryGate>) -> u64 {
    let base = own_anon();
    let peak = AtomicU64::new(base);
    // Ungated, every task holds its memory until all have allocated: the overlap the gate
    // exists to prevent, made certain rather than left to scheduling.
    let all_allocated = Barrier::new(tasks);
    thread::scope(|s| {
        for t in 0..tasks {
            let (peak, all_allocated) = (&peak, &all_allocated);
            s.spawn(move || {
                let _permit = gate.map(|g| g.acquire(per_task).unwrap());
                // Above glibc's largest mmap threshold: given back to the OS on drop.
                let data = vec![t as u8 | 1; per_task as usize];
                peak.fetch_max(own_anon(), Ordering::SeqCst);
                if gate.is_none() {
                    all_allocated.wait();
                }
                // Held until the task ends.
                std::hint::black_box(&data);
            });
        }
    });
    peak.load(Ordering::SeqCst) - base
}

#[test]
fn a_gated_batch_stays_under_its_budget() {
    let _turn = one_at_a_time();
    let (tasks, per_task, budget) = (10, 40 * MIB, 128 * MIB);
    let ungated = batch(tasks, per_task, None);
    let gate = MemoryGate::new(budget);
    let gated = batch(tasks, per_task, Some(&gate));
    eprintln!(
        "batch of {tasks} x {}: peak above baseline ungated {}, gated (budget {}) {}",
        format_bytes(per_task),
        format_bytes(ungated),
        format_bytes(budget),
        format_bytes(gated)
    );
    assert!(
        ungated > budget,
        "the workload should exceed the budget without the gate"
    );
    // Slack for what is not the tasks' data: thread stacks, allocator bookkeeping.
    assert!(
        gated <= budget + 8 * MIB,
        "gated peak {gated} over budget {budget}"
    );
    assert_eq!(gate.in_use(), 0);
}

#[test]
fn the_gate_bounds_a_rayon_pool() {
    let _turn = one_at_a_time();
    use rayon::prelude::*;
    let gate = MemoryGate::new(100);
    let in_flight = AtomicU64::new(0);
    let peak = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    pool.install(|| {
        (0..400u64).into_par_iter().for_each(|i| {
            let bytes = 10 + i % 41;
            let _permit = gate
                .acquire_timeout(bytes, Duration::from_secs(30))
                .unwrap();
            let now = in_flight.fetch_add(bytes, Ordering::SeqCst) + bytes;
            peak.fetch_max(now, Ordering::SeqCst);
            thread::yield_now();
            in_flight.fetch_sub(bytes, Ordering::SeqCst);
        });
    });
    assert!(peak.load(Ordering::SeqCst) <= 100);
    assert_eq!(gate.in_use(), 0);
}
