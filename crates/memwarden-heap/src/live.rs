//! The sampled allocations still live in this process.
//!
//! A `free` must learn whether its pointer was sampled without taking a lock, so a bitmap
//! indexed by a hash of the address answers "certainly not" with one load and a bit test;
//! only a pointer whose bit is set takes the lock and looks in the exact set. The bitmap is
//! kept small (32 KiB) because every `free` of the program reads a random word of it: with
//! 512 KiB of byte counters (the first design) perf put 1.2 % of a compiler's time on that
//! one load. The counters that let a bit be cleared when the last of its pointers goes are
//! only touched under the lock.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Most sampled allocations tracked at once per process: at the default interval this is
/// about 16 GiB of live sampled heap; past it new samples are counted as dropped. It bounds
/// the set (about 0.5 MiB at its fullest).
pub const CAPACITY: usize = 32 * 1024;

const FILTER_BITS: u32 = 18;
/// One bit per slot, 32 KiB: set while a sampled pointer of that slot is live. With the set
/// full, about one unsampled `free` in eight gets past it; with the few hundred samples of a
/// typical heap, about one in a thousand.
static FILTER: [AtomicU64; 1 << (FILTER_BITS - 6)] =
    [const { AtomicU64::new(0) }; 1 << (FILTER_BITS - 6)];
/// Live sampled pointers per slot (saturating), changed only under the sampler's lock.
static COUNTS: [AtomicU8; 1 << FILTER_BITS] = [const { AtomicU8::new(0) }; 1 << FILTER_BITS];

#[inline(always)]
fn slot(p: usize) -> usize {
    // Fibonacci hashing of the address without its always-zero low bits.
    ((p >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - FILTER_BITS))
        & ((1 << FILTER_BITS) - 1)
}

/// Whether `p` may be a sampled allocation; `false` is certain.
#[inline(always)]
pub fn maybe_sampled(p: usize) -> bool {
    let s = slot(p);
    FILTER[s >> 6].load(Ordering::Relaxed) & (1 << (s & 63)) != 0
}

/// The exact set of sampled live pointers (held under the sampler's lock).
#[derive(Default)]
pub struct LiveSet {
    set: Option<HashSet<usize, BuildHasherDefault<AddressHasher>>>,
}

impl LiveSet {
    /// An empty set that allocates nothing until its first insert.
    pub const fn new() -> Self {
        LiveSet { set: None }
    }

    /// Remembers `p`; `false` when the set is full (the sample is then not reported).
    pub fn insert(&mut self, p: usize) -> bool {
        let set = self.set.get_or_insert_with(Default::default);
        if set.len() >= CAPACITY {
            return false;
        }
        if set.insert(p) {
            let s = slot(p);
            // A saturated counter stays saturated: its bit stays set, which only costs lookups.
            let c = COUNTS[s].load(Ordering::Relaxed);
            if c == 0 {
                FILTER[s >> 6].fetch_or(1 << (s & 63), Ordering::Release);
            }
            COUNTS[s].store(c.saturating_add(1), Ordering::Relaxed);
        }
        true
    }

    /// Forgets `p`; whether it was there.
    pub fn remove(&mut self, p: usize) -> bool {
        let Some(set) = &mut self.set else {
            return false;
        };
        if !set.remove(&p) {
            return false;
        }
        let s = slot(p);
        match COUNTS[s].load(Ordering::Relaxed) {
            u8::MAX => {}
            1 => {
                COUNTS[s].store(0, Ordering::Relaxed);
                FILTER[s >> 6].fetch_and(!(1 << (s & 63)), Ordering::Release);
            }
            c => COUNTS[s].store(c - 1, Ordering::Relaxed),
        }
        true
    }
}

/// Addresses are already well spread after a multiply; SipHash would only cost time.
#[derive(Default)]
pub struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, p: usize) {
        self.0 = ((p >> 4) as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}
