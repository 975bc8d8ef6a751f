//! A batch runner sized by memory (S1's fix, measured instead of guessed): the pool gets as
//! many threads as the budget holds tasks, every task takes a permit for its own estimate,
//! the gate stops admitting when the machine runs short, and a critical watchdog stops the
//! batch instead of the machine.
//!
//! ```text
//! cargo run --example batch                       # 160MiB budget
//! BATCH_BUDGET=25% cargo run --example batch      # a share of RAM (or of the cgroup limit)
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memwarden::guard::{GateError, MemoryGate, Watchdog};
use memwarden::units::{format_bytes, parse_threshold, Threshold};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const MIB: u64 = 1 << 20;
    const TASKS: u64 = 48;
    let budget = parse_threshold(&std::env::var("BATCH_BUDGET").unwrap_or("160MiB".into()))?;
    let gate = MemoryGate::builder(budget)
        .system_floor(Threshold::Percent(10.0)) // S1 stopped at 90 % used
        .build()?;
    // Estimates per task; S1 guessed ~500 MB per worker, here each task knows its size.
    // Buffers of 32 MiB and up are mapped on their own by glibc, so freeing returns them.
    let estimate = |i: u64| (32 + (i % 4) * 16) * MIB;
    let average = (0..TASKS).map(estimate).sum::<u64>() / TASKS;
    let workers = gate.suggested_workers(average);

    let watchdog = Watchdog::builder()
        .interval(Duration::from_millis(5))
        .critical(Threshold::Percent(90.0))
        .on_critical({
            let gate = gate.clone();
            move |r| {
                eprintln!("critical at {}: stopping the batch", format_bytes(r.bytes));
                gate.emergency_stop();
            }
        })
        .spawn()?;

    let in_flight = AtomicU64::new(0);
    let most_in_flight = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()?;
    let results: Vec<Result<u64, GateError>> = pool.install(|| {
        (0..TASKS)
            .into_par_iter()
            .map(|i| {
                let bytes = estimate(i);
                let _permit = gate.acquire(bytes)?;
                let now = in_flight.fetch_add(bytes, Ordering::SeqCst) + bytes;
                most_in_flight.fetch_max(now, Ordering::SeqCst);
                // The task: build its working set, then compute over it.
                let data = vec![i as u8 | 1; bytes as usize];
                let sum = data.iter().step_by(4096).map(|&b| u64::from(b)).sum();
                in_flight.fetch_sub(bytes, Ordering::SeqCst);
                Ok(sum)
            })
            .collect()
    });

    let done = results.iter().filter(|r| r.is_ok()).count();
    println!(
        "{done} of {TASKS} tasks on {workers} workers; budget {}; at most {} of tasks in flight; \
         peak anonymous memory sampled {}",
        format_bytes(gate.budget()),
        format_bytes(most_in_flight.load(Ordering::SeqCst)),
        format_bytes(watchdog.peak().map_or(0, |r| r.bytes)),
    );
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        return Err(e.clone().into());
    }
    Ok(())
}
