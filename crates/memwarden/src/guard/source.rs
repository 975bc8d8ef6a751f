//! What a watchdog measures: this process, a process tree, or a cgroup, each read the cheap way.

use std::fs::File;
use std::time::Duration;

use super::SetupError;
use crate::sample::cgroup::Cgroup;
use crate::sample::procfs::{self, ProcFs};
use crate::sample::tree::{Cadence, Membership, ProcessTree};

/// What a [`Watchdog`](super::Watchdog) watches.
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Watched {
    /// This process's anonymous memory: resident minus shared pages (one `pread` of a held
    /// `/proc/self/statm` per sample), plus swap (from `status`, about once a second).
    #[default]
    OwnProcess,
    /// A process tree's anonymous memory, summed over its members (see [`ProcessTree`]).
    Tree(Membership),
    /// What the kernel charges a cgroup (`memory.current`, or `memory.usage_in_bytes` on v1).
    Cgroup(Cgroup),
}

/// An opened [`Watched`], ready to be read every interval.
#[derive(Debug)]
pub(crate) enum Source {
    Own(OwnMemory),
    Tree {
        tree: Box<ProcessTree>,
        /// The first root of a tree found by parent links: its cgroup is the tree's.
        root: Option<u32>,
    },
    Cgroup(Cgroup),
}

impl Source {
    /// Opens what `watched` names, for sampling every `interval`.
    pub(crate) fn open(watched: Watched, interval: Duration) -> Result<Self, SetupError> {
        Ok(match watched {
            Watched::OwnProcess => Source::Own(OwnMemory::open(interval)?),
            Watched::Tree(membership) => {
                let root = match &membership {
                    Membership::Descendants(d) => d.roots.first().copied(),
                    Membership::Cgroup(_) => None,
                };
                let tree = ProcessTree::new(
                    ProcFs::default(),
                    membership,
                    Cadence::for_interval(interval),
                );
                Source::Tree {
                    tree: Box::new(tree),
                    root,
                }
            }
            Watched::Cgroup(cg) => {
                if !cg.has_memory_controller() {
                    return Err(SetupError::Invalid(
                        "the cgroup has no memory controller, so its usage cannot be read",
                    ));
                }
                Source::Cgroup(cg)
            }
        })
    }

    /// The memory limit of the cgroup the watched memory is charged to, if it has one.
    pub(crate) fn cgroup_limit(&mut self) -> Option<u64> {
        match self {
            Source::Own(_) => Cgroup::own_limit(),
            Source::Tree { tree, root } => match tree.cgroup_mut() {
                Some(cg) => cg.limit_bytes(),
                // Without a cgroup of its own, the tree is charged to its first root's group.
                None => Cgroup::of_process((*root)?)?.limit_bytes(),
            },
            Source::Cgroup(cg) => cg.limit_bytes(),
        }
    }

    /// The watched amount now, bytes; `None` when it could not be read this time.
    pub(crate) fn read(&mut self, t: f64) -> Option<u64> {
        match self {
            Source::Own(own) => own.read(),
            Source::Tree { tree, .. } => {
                let totals = tree.refresh(t).ok();
                // Nobody reads the exited processes' summaries here; unread they would pile up.
                tree.drain_exited();
                totals.map(|totals| totals.anon_bytes)
            }
            Source::Cgroup(cg) => cg.usage_bytes(),
        }
    }
}

/// This process's anonymous memory, read through a held `statm`.
#[derive(Debug)]
pub(crate) struct OwnMemory {
    statm: File,
    buf: Vec<u8>,
    page_size: u64,
    fs: ProcFs,
    status_buf: Vec<u8>,
    swap_bytes: u64,
    swap_every: u32,
    reads: u32,
}

impl OwnMemory {
    fn open(interval: Duration) -> Result<Self, SetupError> {
        let fs = ProcFs::default();
        let statm = fs
            .open_statm(std::process::id())
            .map_err(|e| SetupError::Io {
                what: "/proc/self/statm",
                source: std::io::Error::other(e),
            })?;
        Ok(OwnMemory {
            statm,
            buf: vec![0; 256],
            page_size: rustix::param::page_size() as u64,
            fs,
            status_buf: Vec::with_capacity(2048),
            swap_bytes: 0,
            // Swap changes slowly and `status` costs ten times a `statm` read: once a second.
            swap_every: Cadence::for_interval(interval).slow_every,
            reads: 0,
        })
    }

    fn read(&mut self) -> Option<u64> {
        if self.reads.is_multiple_of(self.swap_every.max(1)) {
            if let Ok(status) = self.fs.status(std::process::id(), &mut self.status_buf) {
                self.swap_bytes = status.swap_bytes;
            }
        }
        self.reads = self.reads.wrapping_add(1);
        let n = procfs::read_held(&self.statm, &mut self.buf).ok()?;
        let m = procfs::parse_statm(&self.buf[..n])?;
        Some(m.anon_bytes(self.page_size) + self.swap_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_memory_grows_with_touched_pages() {
        let mut src = Source::open(Watched::OwnProcess, Duration::from_millis(10)).unwrap();
        let before = src.read(0.0).unwrap();
        // Touch every page (a zeroed Vec could stay unbacked), then read again.
        let block = vec![7u8; 64 << 20];
        let during = src.read(0.1).unwrap();
        assert!(
            during >= before + (48 << 20),
            "before {before}, during {during}"
        );
        drop(block);
    }

    #[test]
    fn a_tree_of_this_process_is_read() {
        use crate::sample::tree::Descendants;
        let membership = Membership::Descendants(Descendants {
            roots: vec![std::process::id()],
            ..Default::default()
        });
        let mut src = Source::open(Watched::Tree(membership), Duration::from_millis(10)).unwrap();
        assert!(src.read(0.0).unwrap() > 0);
        // The machine may or may not have a limit; either way the call must not fail.
        let _ = src.cgroup_limit();
    }
}
