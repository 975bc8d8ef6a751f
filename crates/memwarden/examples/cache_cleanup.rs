//! A cache cleaned when memory is high (S3's and S4's fix, without guessing `if len > N`):
//! a service fills a moka cache; the watchdog's warn callback empties it, and trimming after
//! the callback hands the freed memory back to the OS, so the sawtooth is visible from outside.
//!
//! ```text
//! cargo run --example cache_cleanup
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memwarden::guard::Watchdog;
use memwarden::units::{format_bytes, Threshold};
use moka::sync::Cache;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ENTRIES: u64 = 2000;
    const ENTRY_BYTES: usize = 64 << 10;
    let cache: Cache<u64, Arc<Vec<u8>>> = Cache::builder().build();
    let cleanups = Arc::new(AtomicUsize::new(0));

    let watchdog = Watchdog::builder()
        .interval(Duration::from_millis(5))
        // An absolute warning level keeps this example the same on any machine; a service
        // would rather say Threshold::Percent(70.0) of its RAM or cgroup limit.
        .warn(Threshold::Bytes(40 << 20))
        .on_warn({
            let (cache, cleanups) = (cache.clone(), Arc::clone(&cleanups));
            move |r| {
                eprintln!(
                    "warn at {}: emptying {} cache entries",
                    format_bytes(r.bytes),
                    cache.entry_count()
                );
                cache.invalidate_all();
                cache.run_pending_tasks(); // invalidation is lazy: drop the values now
                cleanups.fetch_add(1, Ordering::SeqCst);
            }
        })
        .trim_after_callbacks(true)
        .spawn()?;

    for key in 0..ENTRIES {
        // The request that fills the cache: a computed value worth keeping.
        cache.insert(key, Arc::new(vec![key as u8 | 1; ENTRY_BYTES]));
        std::thread::sleep(Duration::from_micros(200));
    }

    println!(
        "{ENTRIES} entries of {} inserted ({} in all); {} cleanups; warn at {}; \
         peak sampled {}; now {}",
        format_bytes(ENTRY_BYTES as u64),
        format_bytes(ENTRIES * ENTRY_BYTES as u64),
        cleanups.load(Ordering::SeqCst),
        format_bytes(watchdog.warn_bytes().unwrap_or(0)),
        format_bytes(watchdog.peak().map_or(0, |r| r.bytes)),
        format_bytes(watchdog.latest().map_or(0, |r| r.bytes)),
    );
    Ok(())
}
