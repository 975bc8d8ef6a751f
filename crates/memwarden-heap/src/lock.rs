//! The one lock of the interposer: a spin lock, because it must work before and during
//! anything glibc's own locks protect, is taken only around a sample (rare by design), and
//! must be taken and released from the fork handlers.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// A value behind a spin lock.
pub struct SpinLock<T> {
    held: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `with` or by the holder of the lock.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// An unlocked value.
    pub const fn new(value: T) -> Self {
        SpinLock {
            held: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, yielding the CPU while another thread holds it.
    pub fn acquire(&self) {
        let mut spins = 0u32;
        while self
            .held
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }

    /// Takes the lock if it is free; whether it did.
    pub fn try_acquire(&self) -> bool {
        self.held
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock taken by `acquire`.
    pub fn release(&self) {
        self.held.store(false, Ordering::Release);
    }

    /// Runs `f` with the value, holding the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.acquire();
        // SAFETY: the lock is held until `f` returns.
        let r = f(unsafe { &mut *self.value.get() });
        self.release();
        r
    }

    /// The value, for the thread that holds the lock.
    ///
    /// # Safety
    /// The caller holds the lock (taken by `acquire`) and makes no other reference to it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn held_value(&self) -> &mut T {
        &mut *self.value.get()
    }
}
