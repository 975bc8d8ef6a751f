//! The sampled allocations still live in this process.
//!
//! A `free` must learn whether its pointer was sampled without taking a lock, so a filter of
//! counters indexed by a hash of the address answers "certainly not" with one load; only a
//! pointer whose counter is non-zero takes the lock and looks in the exact set. The filter has
//! many more counters than the set has entries, so few unsampled frees get past it.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU8, Ordering};

/// Most sampled allocations tracked at once per process: at the default interval this is
/// about 16 GiB of live sampled heap; past it new samples are counted as dropped. It bounds
/// the set (about 0.5 MiB at its fullest).
pub const CAPACITY: usize = 32 * 1024;

const FILTER_BITS: u32 = 19;
/// 512 KiB of counters, 16 for each entry the set can hold.
static FILTER: [AtomicU8; 1 << FILTER_BITS] = [const { AtomicU8::new(0) }; 1 << FILTER_BITS];

#[inline(always)]
fn slot(p: usize) -> usize {
    // Fibonacci hashing of the address without its always-zero low bits.
    ((p >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - FILTER_BITS))
        & ((1 << FILTER_BITS) - 1)
}

/// Whether `p` may be a sampled allocation; `false` is certain.
#[inline(always)]
pub fn maybe_sampled(p: usize) -> bool {
    FILTER[slot(p)].load(Ordering::Relaxed) != 0
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
            let c = &FILTER[slot(p)];
            // Saturated counters stay saturated: they only cost a lookup.
            let _ = c.fetch_update(Ordering::Release, Ordering::Relaxed, |v| v.checked_add(1));
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
        let c = &FILTER[slot(p)];
        let _ = c.fetch_update(Ordering::Release, Ordering::Relaxed, |v| match v {
            u8::MAX => None,
            v => Some(v - 1),
        });
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
