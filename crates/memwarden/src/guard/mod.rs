//! Guard rails inside a program: a [`Watchdog`] that watches memory and calls back when it
//! crosses a threshold or leaks, and a [`MemoryGate`] that admits work only while memory has room.
//!
//! These are what three of the seed incidents built by hand (scenarios/): size concurrency from
//! memory (S1), clean up when memory is high (S3, S4), stop admitting work when the machine is
//! short (S1, S2).
//!
//! ```
//! use memwarden::guard::{MemoryGate, Watchdog};
//! use memwarden::units::Threshold;
//! use std::time::Duration;
//!
//! // Warn when this process's anonymous memory passes 80 % of RAM (or of its cgroup limit).
//! let _watchdog = Watchdog::builder()
//!     .interval(Duration::from_millis(100))
//!     .warn(Threshold::Percent(80.0))
//!     .on_warn(|r| eprintln!("memory high: {} bytes", r.bytes))
//!     .spawn()?;
//!
//! // Admit work while at most 64 MiB of it is in flight.
//! let gate = MemoryGate::new(64 << 20);
//! let permit = gate.acquire(16 << 20)?;
//! assert_eq!(gate.in_use(), 16 << 20);
//! drop(permit);
//! assert_eq!(gate.in_use(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod alarm;
mod gate;
mod source;
mod trim;
mod watchdog;

pub use gate::{GateBuilder, GateError, MemoryGate, Permit};
pub use source::Watched;
pub use trim::trim;
pub use watchdog::{LeakJudge, LeakNotice, Reading, Watchdog, WatchdogBuilder};

use crate::sample::machine::MachineReader;

/// What a percentage threshold is a share of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reference {
    /// The cgroup's memory limit when there is one (capped at RAM), else total RAM, as the
    /// command line reads percentages.
    #[default]
    Auto,
    /// Total RAM (`MemTotal`).
    Ram,
    /// The cgroup's memory limit; setting up fails when the group has none.
    CgroupLimit,
}

impl Reference {
    /// The reference in bytes, given the relevant cgroup's limit (if any).
    pub(crate) fn bytes(self, cgroup_limit: Option<u64>) -> Result<u64, SetupError> {
        if self == Reference::CgroupLimit {
            return cgroup_limit.ok_or(SetupError::NoCgroupLimit);
        }
        let ram = machine_total()?;
        Ok(match (self, cgroup_limit) {
            (Reference::Auto, Some(limit)) => limit.min(ram),
            _ => ram,
        })
    }
}

/// `MemTotal`, bytes.
fn machine_total() -> Result<u64, SetupError> {
    MachineReader::open()
        .and_then(|mut m| m.read())
        .map(|m| m.mem_total_bytes)
        .map_err(|source| SetupError::Io {
            what: "/proc/meminfo",
            source,
        })
}

/// Why a [`Watchdog`] or a [`MemoryGate`] could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A file needed to measure or to resolve a percentage could not be read.
    #[error("reading {what}: {source}")]
    Io {
        /// The file.
        what: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A percentage refers to the cgroup limit, but the cgroup has none (or there is no cgroup).
    #[error("a percentage of the cgroup limit was asked for, but there is no cgroup memory limit")]
    NoCgroupLimit,
    /// A setting is out of its range; the message says which and why.
    #[error("{0}")]
    Invalid(&'static str),
    /// The watchdog thread could not be started.
    #[error("starting the watchdog thread: {0}")]
    Spawn(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Watchdog>();
        send_sync::<MemoryGate>();
        send_sync::<Permit>();
        send_sync::<GateError>();
        send_sync::<SetupError>();
    }

    #[test]
    fn references_resolve() {
        let ram = machine_total().unwrap();
        assert_eq!(Reference::Ram.bytes(Some(1)).unwrap(), ram);
        assert_eq!(Reference::Auto.bytes(None).unwrap(), ram);
        assert_eq!(Reference::Auto.bytes(Some(1 << 20)).unwrap(), 1 << 20);
        assert_eq!(Reference::Auto.bytes(Some(u64::MAX)).unwrap(), ram);
        assert_eq!(Reference::CgroupLimit.bytes(Some(5)).unwrap(), 5);
        assert!(matches!(
            Reference::CgroupLimit.bytes(None),
            Err(SetupError::NoCgroupLimit)
        ));
    }
}
