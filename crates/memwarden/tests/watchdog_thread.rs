//! A watchdog leaves no thread behind. Alone in its own test binary, so no other test's
//! threads move the process's thread count.

use std::time::{Duration, Instant};

use memwarden::guard::Watchdog;
use memwarden::units::Threshold;

/// `Threads:` of /proc/self/status.
fn threads() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// How many of this process's threads carry the watchdog's name.
fn watchdog_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "memwarden-watch")
        .count()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_watchdog_thread_is_gone_after_drop() {
    let baseline = threads();
    assert_eq!(watchdog_threads(), 0);
    for round in 0..3 {
        let watchdog = Watchdog::builder()
            .interval(Duration::from_millis(1))
            .warn(Threshold::Bytes(1))
            .on_warn(|_| {})
            .spawn()
            .unwrap();
        wait_until("a reading", || watchdog.latest().is_some());
        assert_eq!(threads(), baseline + 1, "round {round}");
        assert_eq!(watchdog_threads(), 1);
        drop(watchdog);
        // join() returns once the thread has run its last instruction; the kernel drops it
        // from the count a moment later, so look until then (with a deadline).
        wait_until("the thread count to return to baseline", || {
            threads() == baseline
        });
        assert_eq!(watchdog_threads(), 0);
    }
}
