//! Async tasks admitted by memory: many tokio tasks, each awaiting a permit for the buffer it
//! is about to fill, so no more than the budget is allocated at once however many are spawned.
//!
//! ```text
//! cargo run --example async_gate --features tokio
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memwarden::guard::MemoryGate;
use memwarden::units::format_bytes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const MIB: u64 = 1 << 20;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let gate = MemoryGate::new(96 * MIB);
    let in_flight = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));

    let done = runtime.block_on(async {
        let tasks: Vec<_> = (0..64u64)
            .map(|i| {
                let (gate, in_flight, most) =
                    (gate.clone(), Arc::clone(&in_flight), Arc::clone(&most));
                tokio::spawn(async move {
                    let bytes = (8 + i % 3 * 8) * MIB;
                    let permit = gate.acquire_async(bytes).await?;
                    let now = in_flight.fetch_add(bytes, Ordering::SeqCst) + bytes;
                    most.fetch_max(now, Ordering::SeqCst);
                    let buffer = vec![i as u8 | 1; bytes as usize];
                    tokio::task::yield_now().await; // other tasks run while this one holds memory
                    let sum: u64 = buffer.iter().step_by(4096).map(|&b| u64::from(b)).sum();
                    in_flight.fetch_sub(bytes, Ordering::SeqCst);
                    drop(permit);
                    Ok::<u64, memwarden::guard::GateError>(sum)
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            t.await.expect("task panicked")?;
            done += 1;
        }
        Ok::<usize, memwarden::guard::GateError>(done)
    })?;

    println!(
        "{done} tasks; at most {} of buffers at once under a {} budget",
        format_bytes(most.load(Ordering::SeqCst)),
        format_bytes(gate.budget())
    );
    Ok(())
}
