//! memwarden: watch a process tree's memory, judge whether it leaks, and keep it contained.
//!
//! The library is the lean half of memwarden (no command line, no database, no HTTP):
//! - [`guard`] keeps a program within its memory from the inside: a watchdog with threshold
//!   callbacks, and a gate that admits work by memory;
//! - [`sample`] reads a process tree and the machine from `/proc` and cgroups;
//! - [`detect`] judges a `(t, value)` series: leak, stable, plateau or inconclusive;
//! - [`trace`] streams recorded traces (CSV, psrecord, mprof) as such series, in bounded memory;
//! - [`units`] parses and prints sizes, percentages, durations and rates.

#![warn(missing_docs)]

pub mod detect;
pub mod guard;
pub mod sample;
pub mod trace;
pub mod units;
