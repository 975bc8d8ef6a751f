//! Every exit status memwarden gives, in one place (the README lists them).

/// The run went as it should (or a non-`run` command succeeded).
pub const OK: u8 = 0;
/// A non-`run` command failed (no such run, unreadable store, bad trace).
pub const FAILURE: u8 = 1;
/// The command line could not be understood (clap uses the same code).
pub const USAGE: u8 = 2;
/// The tree was stopped by memwarden for memory: limit, system floor or leak policy.
pub const STOPPED_FOR_MEMORY: u8 = 121;
/// The command succeeded but a CI gate (`--fail-on-leak`, `--max-growth`) failed.
pub const GATE_FAILED: u8 = 122;
/// The tree was stopped by `--timeout`, as timeout(1).
pub const TIMEOUT: u8 = 124;
/// memwarden itself failed.
pub const INTERNAL: u8 = 125;
/// The command exists but could not be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command was not found.
pub const NOT_FOUND: u8 = 127;

/// The shell's convention for a process killed by signal `sig`.
pub fn for_signal(sig: i32) -> u8 {
    (128 + sig).clamp(0, 255) as u8
}
