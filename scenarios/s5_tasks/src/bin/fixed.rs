//! S5 tasks and connections, fixed: each tick's task is cancelled at the next tick (its stop
//! token, a channel, is dropped), connections come from a small pool and go back to it, the
//! latest map replaces the previous one, and a memwarden MemoryGate admits a tick's task only
//! while the tasks in flight fit a budget (a tick is skipped rather than piled up). Threads and
//! descriptors stay flat.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::Parser;
use crossbeam_channel::{bounded, Receiver, Sender};
use memwarden::guard::MemoryGate;
use s5_tasks::{scrape, start_endpoint, threads_and_fds, Args};

/// Connections kept to the endpoint.
const POOL: usize = 4;
/// Memory a scrape job is estimated to need (its reply and its map, with room).
const JOB_BYTES: u64 = 256 << 10;
/// Jobs' worth of memory admitted at once.
const JOBS_IN_FLIGHT: u64 = 4;

/// The pool: a bounded channel holding the idle connections.
#[derive(Clone)]
struct Pool {
    idle: Receiver<TcpStream>,
    back: Sender<TcpStream>,
    addr: SocketAddr,
}

impl Pool {
    fn new(addr: SocketAddr) -> std::io::Result<Pool> {
        let (back, idle) = bounded(POOL);
        for _ in 0..POOL {
            back.send(TcpStream::connect(addr)?)
                .expect("room for the pool");
        }
        Ok(Pool { idle, back, addr })
    }

    /// Scrapes over a pooled connection; a broken one is replaced, never added to.
    fn scrape(&self) -> std::io::Result<HashMap<String, f64>> {
        let mut conn = self
            .idle
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| std::io::Error::other("no pooled connection free for 5 s"))?;
        let result = scrape(&mut conn);
        if result.is_err() {
            conn = TcpStream::connect(self.addr)?;
        }
        let _ = self.back.send(conn);
        result
    }
}

/// A running tick's task and its stop token (dropping it cancels the task).
struct Task {
    stop: Option<Sender<()>>,
    handle: JoinHandle<()>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tick = args.tick();
    let addr = start_endpoint()?;
    let pool = Pool::new(addr)?;
    let gate = MemoryGate::new(JOB_BYTES * JOBS_IN_FLIGHT);
    eprintln!(
        "s5-fixed: a task per tick ({} ms) to {addr}, cancelled at the next tick; a pool of {POOL} \
         connections; at most {JOBS_IN_FLIGHT} jobs in flight (memory gate); {} s",
        tick.as_millis(),
        args.duration
    );
    let (threads0, fds0) = threads_and_fds();
    let latest: Arc<Mutex<HashMap<String, f64>>> = Arc::default();

    let mut running: Vec<Task> = Vec::new();
    let (mut ticks, mut skipped, mut peak_threads, mut peak_fds) = (0u32, 0u32, 0, 0);
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < args.duration {
        // Cancel the previous ticks' tasks and reap those that ended.
        for task in &mut running {
            task.stop = None;
        }
        running.retain(|t| !t.handle.is_finished());

        match gate.try_acquire(JOB_BYTES) {
            Ok(permit) => {
                let (stop, stopped) = bounded::<()>(0);
                let (pool, latest) = (pool.clone(), Arc::clone(&latest));
                let handle =
                    thread::Builder::new()
                        .name(format!("task-{ticks}"))
                        .spawn(move || {
                            let _permit = permit; // held while the job's memory lives
                            match pool.scrape() {
                                // The previous map is dropped here, not kept.
                                Ok(map) => *latest.lock().unwrap() = map,
                                Err(e) => eprintln!("s5-fixed: scrape failed: {e}"),
                            }
                            // The ticker loop, now with a way out: `recv` returns when the stop
                            // token is dropped.
                            let _ = stopped.recv();
                        })?;
                running.push(Task {
                    stop: Some(stop),
                    handle,
                });
            }
            Err(_) => skipped += 1, // the jobs in flight fill the budget: skip this tick
        }
        let (threads, fds) = threads_and_fds();
        (peak_threads, peak_fds) = (peak_threads.max(threads), peak_fds.max(fds));

        ticks += 1;
        if let Some(wait) = (tick * ticks).checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
    }

    for task in running {
        drop(task.stop);
        let _ = task.handle.join();
    }
    let (threads, fds) = threads_and_fds();
    eprintln!(
        "s5-fixed: done: {ticks} ticks, {skipped} skipped by the gate; threads {threads0} -> \
         {threads} (peak {peak_threads}), descriptors {fds0} -> {fds} (peak {peak_fds}); the \
         latest map has {} metrics",
        latest.lock().unwrap().len()
    );
    Ok(())
}
