//! Scenario S4, global maps: what both variants share — the options, the stream of
//! transactions (with replays that deduplication must catch), and the pacing.
//!
//! The seed: a Rust service with three global maps (dedup signatures, monitoring data, a
//! transaction map) and cleanup threads grew 158 MB/min. `s4-leaky` keeps every transaction and
//! signature in global maps whose cleanup uses a TTL far longer than the run; `s4-fixed` keeps
//! them in moka caches bounded by TTL and by bytes, under a memwarden watchdog that empties the
//! caches when memory passes a warning level.

use std::time::{Duration, Instant};

use clap::Parser;

/// Options of both variants.
#[derive(Debug, Parser)]
pub struct Args {
    /// Seconds of traffic.
    #[arg(long, default_value_t = 12.0)]
    pub duration: f64,
    /// New transactions per second, as MiB/s of transaction bytes.
    #[arg(long, default_value_t = 3.0)]
    pub rate_mib: f64,
    /// Multiplies the rate (for soaks and stress).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

impl Args {
    /// Transactions per second.
    pub fn tx_per_s(&self) -> f64 {
        self.rate_mib * self.scale * (1 << 20) as f64 / TX_BYTES as f64
    }
}

/// Bytes of one transaction, payload included.
pub const TX_BYTES: usize = 1024;

/// One transaction as the service keeps it.
#[derive(Debug, Clone)]
pub struct Tx {
    /// Sequence number.
    pub id: u64,
    /// Sender and receiver accounts.
    pub from: [u8; 32],
    /// Receiver.
    pub to: [u8; 32],
    /// What deduplication keys on.
    pub signature: [u8; 64],
    /// The body.
    pub payload: Vec<u8>,
}

impl Tx {
    /// The transaction numbered `id` (deterministic: a replay of `id` is equal to it).
    pub fn new(id: u64) -> Tx {
        let mut sig = [0u8; 64];
        for (i, chunk) in sig.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(id ^ ((i as u64) << 56)).to_le_bytes());
        }
        let mut from = [0u8; 32];
        from[..8].copy_from_slice(&mix(id % 997).to_le_bytes());
        let mut to = [0u8; 32];
        to[..8].copy_from_slice(&mix(id % 991 + 7).to_le_bytes());
        let fixed = std::mem::size_of::<Tx>();
        Tx {
            id,
            from,
            to,
            signature: sig,
            payload: vec![(id % 251) as u8 | 1; TX_BYTES - fixed],
        }
    }

    /// Bytes this transaction holds (struct and payload).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Tx>() + self.payload.len()
    }
}

/// splitmix64's finalizer: spreads a counter into well-mixed bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Feeds the traffic at the options' rate for their duration: calls `handle` with each
/// arriving transaction, one in ten a replay of a recent one. Returns how many were delivered.
pub fn traffic(args: &Args, mut handle: impl FnMut(Tx)) -> u64 {
    let start = Instant::now();
    let end = Duration::from_secs_f64(args.duration.max(0.0));
    let per_s = args.tx_per_s();
    let mut sent = 0u64;
    let mut fresh = 0u64;
    while start.elapsed() < end {
        let due = (start.elapsed().as_secs_f64() * per_s) as u64;
        while sent < due {
            let id = if sent % 10 == 9 {
                fresh.saturating_sub(1 + sent % 50) // a replay from a moment ago
            } else {
                fresh += 1;
                fresh
            };
            handle(Tx::new(id));
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    sent
}

/// This process's anonymous memory (RssAnon + VmSwap), bytes; 0 if unreadable.
pub fn own_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("RssAnon:") || l.starts_with("VmSwap:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// Bytes as MiB with one decimal, for the summaries.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_a_kibibyte_and_replays_are_equal() {
        let tx = Tx::new(42);
        assert_eq!(tx.bytes(), TX_BYTES);
        assert_eq!(Tx::new(42).signature, tx.signature);
        assert_ne!(Tx::new(43).signature, tx.signature);
    }

    #[test]
    fn traffic_keeps_its_rate_and_replays_one_in_ten() {
        let args = Args {
            duration: 0.3,
            rate_mib: 1.0,
            scale: 1.0,
        };
        let mut ids = Vec::new();
        let sent = traffic(&args, |tx| ids.push(tx.id));
        // 1024 tx/s for 0.3 s, give or take the last tick.
        assert!((250..=320).contains(&sent), "{sent}");
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert!(distinct.len() < ids.len() && distinct.len() * 10 >= ids.len() * 8);
    }
}
