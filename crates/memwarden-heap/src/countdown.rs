//! Each thread's bytes left before its next sample: the one piece of thread-local state every
//! allocation touches.
//!
//! `thread_local!` in a shared object uses the general-dynamic TLS model, in which every
//! access calls the loader's `__tls_get_addr`: about 3 ns per `malloc`, measured as most of
//! what the interposer added to a program allocating small blocks in a loop. A preloaded
//! library is part of every thread's initial TLS block, so on x86-64 the countdown is
//! declared in assembly and reached the way C's initial-exec model does it: its offset from
//! the thread pointer, read once from the GOT, and one `fs`-relative address. Stable Rust
//! cannot choose a TLS model; elsewhere the countdown is a `thread_local!`.

use std::cell::Cell;

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    // Global so every codegen unit's `asm!` can name it; hidden, so not exported.
    ".globl memwarden_heap_countdown",
    ".hidden memwarden_heap_countdown",
    ".type memwarden_heap_countdown,@object",
    ".size memwarden_heap_countdown,8",
    "memwarden_heap_countdown:",
    ".zero 8",
    ".popsection",
);

/// Runs `f` with this thread's countdown (0 in a new thread).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn with<R>(f: impl FnOnce(&Cell<i64>) -> R) -> R {
    let address: usize;
    // SAFETY: the System V x86-64 TLS sequence for an initial-exec variable: `fs:0` holds
    // the thread pointer and the GOT entry its (negative) offset to the variable, which the
    // loader filled in when it mapped this library. Reads memory, writes none.
    unsafe {
        std::arch::asm!(
            "mov {a}, qword ptr fs:[0]",
            "add {a}, qword ptr [rip + memwarden_heap_countdown@GOTTPOFF]",
            a = out(reg) address,
            options(pure, readonly, nostack),
        );
    }
    // SAFETY: an aligned, initialised i64 owned by this thread for its whole life; the
    // reference does not leave `f`.
    f(unsafe { &*(address as *const Cell<i64>) })
}

#[cfg(not(target_arch = "x86_64"))]
thread_local! {
    static COUNTDOWN: Cell<i64> = const { Cell::new(0) };
}

/// Runs `f` with this thread's countdown (0 in a new thread).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn with<R>(f: impl FnOnce(&Cell<i64>) -> R) -> R {
    COUNTDOWN.with(f)
}
