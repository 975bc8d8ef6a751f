//! Sampling: read a process tree and the machine from `/proc` (and the tree's cgroup) into
//! [`Sample`]s, or every process of the machine grouped ([`host`]). The sampler knows nothing
//! of verdicts or limits.
//!
//! ```no_run
//! use memwarden::sample::{Sampler, tree::{Cadence, Descendants, Membership}};
//! use std::time::Duration;
//! let membership = Membership::Descendants(Descendants { roots: vec![1234], ..Default::default() });
//! let mut sampler = Sampler::new(membership, Cadence::for_interval(Duration::from_secs(1))).unwrap();
//! let sample = sampler.sample().unwrap();
//! println!("{} processes, {} anonymous bytes", sample.tree.processes, sample.tree.anon_bytes);
//! ```

pub mod cgroup;
pub mod group;
pub mod host;
mod listing;
pub mod machine;
pub mod procfs;
pub mod tree;
mod types;

use std::path::PathBuf;
use std::time::Instant;

pub use types::{MachineSample, ProcessSample, ProcessSummary, Sample, TreeTotals};

use machine::MachineReader;
use procfs::ProcFs;
use tree::{Cadence, Membership, ProcessTree};

/// Why a sample could not be taken at all (a single process vanishing is not an error).
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The list of members (`/proc` or `cgroup.procs`) could not be read.
    #[error("listing the tree's processes from {0}: {1}")]
    Listing(PathBuf, #[source] std::io::Error),
    /// The machine's memory figures could not be read.
    #[error("reading the machine's memory (/proc/meminfo): {0}")]
    Machine(#[source] std::io::Error),
}

/// Takes [`Sample`]s of one process tree and the machine.
#[derive(Debug)]
pub struct Sampler {
    tree: ProcessTree,
    machine: MachineReader,
    start: Instant,
}

impl Sampler {
    /// A sampler over `/proc` for the tree `membership` describes; time starts now.
    pub fn new(membership: Membership, cadence: Cadence) -> Result<Self, SampleError> {
        Ok(Sampler {
            tree: ProcessTree::new(ProcFs::default(), membership, cadence),
            machine: MachineReader::open().map_err(SampleError::Machine)?,
            start: Instant::now(),
        })
    }

    /// When sampling started (time 0 of every sample).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Reads the tree and the machine now.
    pub fn sample(&mut self) -> Result<Sample, SampleError> {
        let t = self.start.elapsed().as_secs_f64();
        let tree = self.tree.refresh(t)?;
        let cgroup_bytes = self.tree.cgroup_mut().and_then(|cg| cg.usage_bytes());
        let machine = self.machine.read().map_err(SampleError::Machine)?;
        Ok(Sample {
            t,
            tree,
            cgroup_bytes,
            machine,
        })
    }

    /// The tree being sampled: members, summaries, exited processes.
    pub fn tree(&self) -> &ProcessTree {
        &self.tree
    }

    /// Mutable access to the tree (to drain exited processes or exclude helpers).
    pub fn tree_mut(&mut self) -> &mut ProcessTree {
        &mut self.tree
    }
}
