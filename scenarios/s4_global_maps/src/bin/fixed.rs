//! S4 global maps, fixed: the transactions and the dedup signatures live in moka caches bounded
//! by a TTL and by capacity, and a memwarden watchdog empties them (then trims the heap, so the
//! memory really goes back to the OS) if this process's memory passes a warning level anyway.
//! Memory rises while the caches fill (one TTL), then stays flat: a plateau.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use memwarden::guard::Watchdog;
use memwarden::units::Threshold;
use moka::sync::Cache;
use s4_global_maps::{mib, own_anon_bytes, traffic, Args, Tx, TX_BYTES};

#[derive(Debug, Parser)]
struct FixedArgs {
    #[command(flatten)]
    common: Args,
    /// Seconds a transaction or a signature is kept.
    #[arg(long, default_value_t = 2.0)]
    ttl: f64,
    /// The transaction cache's bound, MiB of transactions.
    #[arg(long, default_value_t = 16)]
    cache_mib: u64,
    /// The watchdog's warning level, MiB of this process's anonymous memory: the caches are
    /// emptied when it is crossed.
    #[arg(long, default_value_t = 64)]
    warn_mib: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = FixedArgs::parse();
    let ttl = Duration::from_secs_f64(args.ttl);
    eprintln!(
        "s4-fixed: {:.0} tx/s ({:.1} MiB/s) into moka caches (TTL {} s, at most {} MiB of \
         transactions); watchdog empties them above {} MiB; {} s",
        args.common.tx_per_s(),
        args.common.rate_mib * args.common.scale,
        args.ttl,
        args.cache_mib,
        args.warn_mib,
        args.common.duration
    );

    // Sized up front for what a TTL holds (twice over): the caches' tables are allocated at
    // start-up instead of growing into place over the first minute, so memory is flat once
    // the caches have filled.
    let live = (args.common.tx_per_s() * args.ttl * 2.0).ceil() as usize;
    let txs: Cache<u64, Arc<Tx>> = Cache::builder()
        .max_capacity(args.cache_mib << 20)
        .initial_capacity(live.min(((args.cache_mib << 20) / TX_BYTES as u64) as usize))
        .weigher(|_, tx: &Arc<Tx>| tx.bytes() as u32)
        .time_to_live(ttl)
        .build();
    // Replays arrive within moments: a signature needs remembering for a TTL, not forever.
    let seen: Cache<[u8; 64], ()> = Cache::builder()
        .max_capacity(live as u64)
        .initial_capacity(live)
        .time_to_live(ttl)
        .build();

    let cleanups = Arc::new(AtomicU64::new(0));
    let watchdog = Watchdog::builder()
        .interval(Duration::from_millis(100))
        .warn(Threshold::Bytes(args.warn_mib << 20))
        .on_warn({
            let (txs, seen, cleanups) = (txs.clone(), seen.clone(), Arc::clone(&cleanups));
            move |r| {
                eprintln!(
                    "s4-fixed: memory {} above the warning level: emptying the caches",
                    mib(r.bytes)
                );
                txs.invalidate_all();
                seen.invalidate_all();
                txs.run_pending_tasks(); // invalidation is lazy: drop the entries now
                seen.run_pending_tasks();
                cleanups.fetch_add(1, Ordering::Relaxed);
            }
        })
        .trim_after_callbacks(true)
        .spawn()?;

    let mut duplicates = 0u64;
    let sent = traffic(&args.common, |tx| {
        if !seen.entry(tx.signature).or_insert(()).is_fresh() {
            duplicates += 1;
            return;
        }
        txs.insert(tx.id, Arc::new(tx));
    });

    txs.run_pending_tasks();
    seen.run_pending_tasks();
    eprintln!(
        "s4-fixed: done: {sent} tx, {duplicates} duplicates dropped; caches hold {} signatures \
         and {} transactions ({}); {} watchdog cleanups; memory peak {}, now {}",
        seen.entry_count(),
        txs.entry_count(),
        mib(txs.weighted_size()),
        cleanups.load(Ordering::Relaxed),
        mib(watchdog.peak().map_or(0, |r| r.bytes)),
        mib(own_anon_bytes())
    );
    Ok(())
}
