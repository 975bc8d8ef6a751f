//! S4 global maps, leaky: every transaction and signature goes into global maps whose cleanup
//! thread only drops entries older than ten minutes, a TTL far longer than the traffic's
//! lifetime: the process's anonymous memory climbs as a line at the traffic's rate
//! (~3 MiB/s by default), like the seed's 158 MB/min.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use s4_global_maps::{mib, own_anon_bytes, traffic, Args, Tx};

/// Signatures seen, for deduplication: insert-only.
static SEEN: LazyLock<Mutex<HashSet<[u8; 64]>>> = LazyLock::new(Default::default);
/// Transactions by id, with when they arrived.
static TXS: LazyLock<Mutex<HashMap<u64, (Instant, Tx)>>> = LazyLock::new(Default::default);
/// How long the cleanup thread keeps a transaction (the seed's long TTL).
const TTL: Duration = Duration::from_secs(600);

fn main() {
    let args = Args::parse();
    eprintln!(
        "s4-leaky: {:.0} tx/s ({:.1} MiB/s) into global dedup and transaction maps, \
         cleaned every 200 ms of entries older than {} s; {} s",
        args.tx_per_s(),
        args.rate_mib * args.scale,
        TTL.as_secs(),
        args.duration
    );

    // The cleanup thread: it runs, and never finds anything old enough to drop. Dedup
    // signatures are never cleaned at all.
    let stop = Arc::new(AtomicBool::new(false));
    let cleaner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut removed = 0usize;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let mut txs = TXS.lock().unwrap();
                let before = txs.len();
                txs.retain(|_, (at, _)| at.elapsed() < TTL);
                removed += before - txs.len();
            }
            removed
        })
    };

    let mut duplicates = 0u64;
    let sent = traffic(&args, |tx| {
        if !SEEN.lock().unwrap().insert(tx.signature) {
            duplicates += 1;
            return;
        }
        TXS.lock().unwrap().insert(tx.id, (Instant::now(), tx));
    });
    stop.store(true, Ordering::Relaxed);
    let removed = cleaner.join().expect("cleanup thread");

    eprintln!(
        "s4-leaky: done: {sent} tx, {duplicates} duplicates dropped; maps hold {} signatures \
         and {} transactions ({removed} cleaned); memory {}",
        SEEN.lock().unwrap().len(),
        TXS.lock().unwrap().len(),
        mib(own_anon_bytes())
    );
}
