//! The gate's contract on real threads: every wait is bounded by a deadline, nothing is timed.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

const DEADLINE: Duration = Duration::from_secs(30);

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `f` on a thread; the receiver yields its result (bounded by `recv_timeout`).
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

#[test]
fn grants_and_gives_back() {
    let gate = MemoryGate::new(100);
    let a = gate.try_acquire(60).unwrap();
    assert_eq!((a.bytes(), gate.in_use()), (60, 60));
    assert_eq!(gate.try_acquire(41).unwrap_err(), GateError::Busy);
    let b = gate.try_acquire(40).unwrap();
    assert_eq!(gate.in_use(), 100);
    let zero = gate.try_acquire(0).unwrap();
    drop((a, b, zero));
    assert_eq!(gate.in_use(), 0);
    assert_eq!(
        gate.acquire(101).unwrap_err(),
        GateError::TooLarge {
            requested: 101,
            admissible: 100
        }
    );
    let e = gate.try_acquire(1 << 40).unwrap_err().to_string();
    assert!(e.contains("1.0 TiB") && e.contains("100 B"), "{e}");
}

#[test]
fn a_worker_blocks_until_another_releases() {
    let gate = MemoryGate::new(100);
    let held = gate.acquire(100).unwrap();
    let admitted = Arc::new(AtomicBool::new(false));
    let (g, a) = (gate.clone(), Arc::clone(&admitted));
    let done = spawn(move || {
        let permit = g.acquire(30);
        a.store(true, Ordering::SeqCst);
        permit.map(|p| p.bytes())
    });
    wait_until("the worker to queue", || gate.waiting() == 1);
    assert!(
        !admitted.load(Ordering::SeqCst),
        "admitted beyond the budget"
    );
    drop(held);
    assert_eq!(done.recv_timeout(DEADLINE).unwrap(), Ok(30));
    assert_eq!((gate.in_use(), gate.waiting()), (0, 0));
}

#[test]
fn emergency_stop_refuses_waiters_and_later_requests() {
    let gate = MemoryGate::new(100);
    let held = gate.acquire(100).unwrap();
    let g = gate.clone();
    let blocked = spawn(move || g.acquire(50).map(|p| p.bytes()));
    wait_until("the waiter to queue", || gate.waiting() == 1);
    gate.emergency_stop();
    assert_eq!(
        blocked.recv_timeout(DEADLINE).unwrap(),
        Err(GateError::Stopped)
    );
    assert!(gate.is_stopped());
    assert_eq!(gate.waiting(), 0);
    drop(held);
    assert_eq!(
        gate.in_use(),
        0,
        "permits granted before the stop still give back"
    );
    assert_eq!(gate.try_acquire(1).unwrap_err(), GateError::Stopped);
    assert_eq!(gate.acquire(1).unwrap_err(), GateError::Stopped);
    assert_eq!(
        gate.acquire_timeout(1, DEADLINE).unwrap_err(),
        GateError::Stopped
    );
}

#[test]
fn a_timed_out_request_leaves_the_line() {
    let gate = MemoryGate::new(100);
    let held = gate.acquire(90).unwrap();
    assert_eq!(
        gate.acquire_timeout(20, Duration::from_millis(1))
            .unwrap_err(),
        GateError::TimedOut
    );
    assert_eq!(gate.waiting(), 0);
    // Nothing stale stands in line: a request that fits is served at once.
    drop(gate.try_acquire(10).unwrap());
    drop(held);
    drop(gate.acquire_timeout(100, Duration::ZERO).unwrap());
}

#[test]
fn first_come_first_served() {
    let gate = MemoryGate::new(10);
    let held = gate.acquire(6).unwrap();
    let g = gate.clone();
    let big = spawn(move || g.acquire(10).map(|p| p.bytes()));
    wait_until("the big request to queue", || gate.waiting() == 1);
    // Room for 4 is free, but the big request came first: small ones do not overtake it.
    assert_eq!(gate.try_acquire(1).unwrap_err(), GateError::Busy);
    let g = gate.clone();
    let small = spawn(move || g.acquire(1).map(|p| p.bytes()));
    wait_until("the small request to queue", || gate.waiting() == 2);
    drop(held);
    assert_eq!(big.recv_timeout(DEADLINE).unwrap(), Ok(10));
    assert_eq!(small.recv_timeout(DEADLINE).unwrap(), Ok(1));
}

#[test]
fn never_admits_beyond_the_budget_under_stress() {
    const BUDGET: u64 = 1000;
    let gate = MemoryGate::new(BUDGET);
    let in_flight = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + DEADLINE;
    let workers: Vec<_> = (0..16u64)
        .map(|w| {
            let (gate, in_flight, peak) = (gate.clone(), Arc::clone(&in_flight), Arc::clone(&peak));
            thread::spawn(move || {
                let mut x = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for i in 0..300u64 {
                    // xorshift: deterministic sizes from 1 to half the budget
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let bytes = 1 + x % (BUDGET / 2);
                    let left = deadline.saturating_duration_since(Instant::now());
                    let permit = match i % 10 {
                        0 => match gate.try_acquire(bytes) {
                            Ok(p) => p,
                            Err(GateError::Busy) => continue,
                            Err(e) => panic!("{e}"),
                        },
                        // Tiny timeouts exercise leaving the line from any place in it.
                        1 => match gate.acquire_timeout(bytes, Duration::from_micros(50)) {
                            Ok(p) => p,
                            Err(GateError::TimedOut) => continue,
                            Err(e) => panic!("{e}"),
                        },
                        _ => gate
                            .acquire_timeout(bytes, left)
                            .expect("stuck past the deadline"),
                    };
                    let now = in_flight.fetch_add(bytes, Ordering::SeqCst) + bytes;
                    peak.fetch_max(now, Ordering::SeqCst);
                    assert!(now <= BUDGET, "{now} bytes in flight, budget {BUDGET}");
                    thread::yield_now();
                    in_flight.fetch_sub(bytes, Ordering::SeqCst);
                    drop(permit);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!((gate.in_use(), gate.waiting()), (0, 0));
    assert!(peak.load(Ordering::SeqCst) <= BUDGET);
}

#[test]
fn suggested_workers_is_budget_over_estimate_within_cpus() {
    let cpus = thread::available_parallelism().unwrap().get();
    let gate = MemoryGate::new(1000);
    assert_eq!(gate.suggested_workers(300), 3.min(cpus));
    assert_eq!(gate.suggested_workers(5000), 1);
    assert_eq!(gate.suggested_workers(1), cpus);
    assert_eq!(gate.suggested_workers(0), cpus);
}

/// A fake proc root whose `meminfo` the test rewrites.
struct FakeProc(PathBuf);

impl FakeProc {
    fn new(total_kib: u64, available_kib: u64) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mw-gate-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = FakeProc(dir);
        fake.set(total_kib, available_kib);
        fake
    }

    fn set(&self, total_kib: u64, available_kib: u64) {
        let text =
            format!("MemTotal: {total_kib} kB\nMemFree: 1 kB\nMemAvailable: {available_kib} kB\n");
        std::fs::write(self.0.join("meminfo"), text).unwrap();
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_system_floor_holds_work_back_until_memory_returns() {
    const K: u64 = 1024;
    let proc = FakeProc::new(1000, 500);
    let gate = MemoryGate::builder(Threshold::Bytes(10_000 * K))
        .system_floor(Threshold::Percent(40.0)) // 400 KiB of 1000
        .proc_root(&proc.0)
        .build()
        .unwrap();
    assert_eq!(
        gate.try_acquire(601 * K).unwrap_err(),
        GateError::TooLarge {
            requested: 601 * K,
            admissible: 600 * K
        },
        "no MemAvailable could ever leave room for it"
    );
    assert_eq!(
        gate.suggested_workers(50 * K),
        2.min(thread::available_parallelism().unwrap().get())
    );

    proc.set(1000, 300);
    wait_until("the shortage to be seen", || gate.try_acquire(0).is_err());
    let g = gate.clone();
    let waiter = spawn(move || g.acquire(10 * K).map(|p| p.bytes()));
    wait_until("the waiter to queue", || gate.waiting() == 1);
    // Nobody releases anything: the waiter must notice on its own that memory came back.
    proc.set(1000, 900);
    assert_eq!(waiter.recv_timeout(DEADLINE).unwrap(), Ok(10 * K));

    proc.set(1000, 100);
    wait_until("the second shortage", || gate.try_acquire(0).is_err());
    let g = gate.clone();
    let stuck = spawn(move || g.acquire(K).map(|p| p.bytes()));
    wait_until("the stuck waiter to queue", || gate.waiting() == 1);
    gate.emergency_stop();
    assert_eq!(
        stuck.recv_timeout(DEADLINE).unwrap(),
        Err(GateError::Stopped)
    );
}

#[test]
fn grants_on_one_reading_count_against_the_floor() {
    const K: u64 = 1024;
    let proc = FakeProc::new(1000, 500);
    let gate = MemoryGate::builder(Threshold::Bytes(10_000 * K))
        .system_floor(Threshold::Bytes(400 * K))
        .proc_root(&proc.0)
        .floor_refresh(Duration::from_secs(3600))
        .build()
        .unwrap();
    // 500 available >= 400 + 50: admitted. The work has not allocated yet, so the next
    // request sees 500 - 50 = 450 < 400 + 60 and waits, rather than both passing on one reading.
    let first = gate.try_acquire(50 * K).unwrap();
    assert_eq!(gate.try_acquire(60 * K).unwrap_err(), GateError::Busy);
    drop(gate.try_acquire(50 * K).unwrap());
    drop(first);
}

#[test]
fn percentages_of_ram_resolve() {
    let total = MachineReader::open()
        .unwrap()
        .read()
        .unwrap()
        .mem_total_bytes;
    let gate = MemoryGate::builder(Threshold::Percent(25.0))
        .reference(Reference::Ram)
        .build()
        .unwrap();
    assert_eq!(gate.budget(), Threshold::Percent(25.0).resolve(total));
    assert!(format!("{gate:?}").contains("budget"));
}
