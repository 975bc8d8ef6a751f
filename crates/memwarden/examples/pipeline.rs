//! A bounded pipeline (S2's fix): a producer feeds workers through a bounded queue, so it
//! cannot run ahead of them; each job takes a memory permit before it allocates; a stop token
//! ends every stage promptly; a critical-memory watchdog pulls the stop token and the gate's
//! emergency stop.
//!
//! Prints the highest anonymous memory the watchdog sampled, to compare with the budget.
//!
//! ```text
//! cargo run --example pipeline
//! ```

use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};
use memwarden::guard::{GateError, MemoryGate, Watchdog};
use memwarden::units::{format_bytes, Threshold};

/// One unit of work and the memory it is estimated to need.
struct Job {
    id: u32,
    bytes: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const JOBS: u32 = 200;
    const MIB: u64 = 1 << 20;
    return_big_buffers_on_free();
    let gate = MemoryGate::new(64 * MIB);
    // Jobs that wait on I/O want more workers than CPUs (`suggested_workers` sizes CPU-bound
    // work); the gate, not the worker count, then bounds their memory.
    let workers = 8;

    // The stop token: dropping `stop` disconnects `stopped`, which every stage selects on.
    let (stop, stopped) = bounded::<()>(0);

    // If memory goes critical anyway, stop everything rather than take the machine down.
    let watchdog = {
        let gate = gate.clone();
        let mut stop = Some(stop);
        Watchdog::builder()
            .interval(Duration::from_millis(10))
            .critical(Threshold::Percent(90.0))
            .on_critical(move |r| {
                eprintln!("critical: {} in use, stopping", format_bytes(r.bytes));
                gate.emergency_stop();
                stop.take(); // drops the sender: the token is pulled
            })
            .spawn()?
    };

    let (jobs_tx, jobs_rx) = bounded::<Job>(workers * 2); // backpressure: 2 queued per worker
    let (done_tx, done_rx) = bounded::<u64>(workers * 2);
    let (count, checksum) = thread::scope(|s| {
        // Producer: blocks while the queue is full, gives up if the token is pulled.
        let producer_stopped = stopped.clone();
        s.spawn(move || {
            for id in 0..JOBS {
                let job = Job {
                    id,
                    bytes: (4 + u64::from(id % 4) * 4) * MIB,
                };
                select! {
                    send(jobs_tx, job) -> sent => if sent.is_err() { break },
                    recv(producer_stopped) -> _ => break,
                }
            }
            // Dropping jobs_tx here tells the workers there is no more work.
        });
        for _ in 0..workers {
            let (jobs_rx, done_tx, stopped) = (jobs_rx.clone(), done_tx.clone(), stopped.clone());
            let gate = &gate;
            s.spawn(move || worker(gate, &jobs_rx, &done_tx, &stopped));
        }
        drop((jobs_rx, done_tx));
        done_rx
            .iter()
            .fold((0u32, 0u64), |(n, sum), c| (n + 1, sum.wrapping_add(c)))
    });

    let peak = watchdog.peak().map_or(0, |p| p.bytes);
    println!(
        "{count} of {JOBS} jobs done by {workers} workers within a {} budget \
         (peak anonymous memory sampled: {}; checksum {checksum})",
        format_bytes(gate.budget()),
        format_bytes(peak),
    );
    Ok(())
}

/// glibc serves a buffer above the mmap threshold with its own mapping, unmapped on free; but
/// it raises that threshold (up to 32 MiB) each time such a buffer is freed, after which
/// buffers come from per-thread arenas whose free top `malloc_trim` cannot return. With eight
/// workers that kept about twice the budget resident here. Pinning the threshold keeps each
/// job's buffer its own mapping, so resident memory follows the permits.
fn return_big_buffers_on_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before the workers start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn worker(gate: &MemoryGate, jobs: &Receiver<Job>, done: &Sender<u64>, stopped: &Receiver<()>) {
    loop {
        let job = select! {
            recv(jobs) -> job => match job { Ok(job) => job, Err(_) => return },
            recv(stopped) -> _ => return,
        };
        // The permit is held for exactly as long as the job's memory lives.
        let _permit = match gate.acquire(job.bytes) {
            Ok(p) => p,
            Err(GateError::Stopped) => return,
            Err(e) => panic!("job {}: {e}", job.id),
        };
        let data = vec![job.id as u8 | 1; job.bytes as usize];
        let checksum = data.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        if done.send(checksum).is_err() {
            return;
        }
    }
}
