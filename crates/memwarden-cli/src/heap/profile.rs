//! What the stream tells, accumulated: each call site's estimated live bytes (the weights of
//! its sampled allocations not yet freed, in processes still running) and allocated bytes,
//! judged over time by the same leak detector as the tree.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::path::PathBuf;

use memwarden::detect::{Detector, DetectorConfig};

use super::protocol::Record;
use super::symbols::{is_system_object, Frame, Namer};

/// Most call sites told apart; samples from further sites count under one "other sites"
/// entry. Bounds memwarden's memory (each site has a detector of a few KiB).
pub const MAX_SITES: usize = 1024;

/// A return address as a place in a file: which loaded object (an index into
/// [`Profile::objects`]) and the address in that file's own numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeRef {
    /// Index into [`Profile::objects`]; `u32::MAX` when no known object holds the address.
    pub object: u32,
    /// Address in the object's file (process address minus load bias), or the raw address.
    pub address: u64,
}

/// One call site: a distinct stack of return addresses from the program's own code outward.
/// Stacks that differ only inside libraries (SQLite's many paths to malloc from one call)
/// are one site.
#[derive(Clone)]
pub struct Site {
    /// Innermost first, from the first frame of the program's own code; empty for the
    /// "other sites" entry.
    pub stack: Vec<CodeRef>,
    /// The library frames inside it, as the first sample here saw them.
    pub inner: Vec<CodeRef>,
    /// Estimated bytes allocated here and still live now.
    pub live: f64,
    /// `live` at the last snapshot taken while a process was running.
    pub last_live: f64,
    /// Highest `live` seen at a snapshot.
    pub peak_live: f64,
    /// Estimated bytes ever allocated here.
    pub allocated: f64,
    /// Samples taken here.
    pub samples: u64,
    /// The leak detector over `live`, one point per snapshot.
    pub detector: Detector,
}

/// One connected process.
#[derive(Default)]
pub struct Process {
    /// Its pid, once it said hello.
    pub pid: Option<u32>,
    /// Loaded objects: address range, load bias, index into `Profile::objects`.
    objects: Vec<(Range<u64>, u64, u32)>,
    /// Sampled live pointers: site and weight.
    live: HashMap<u64, (u32, f64)>,
}

/// Most raw stacks remembered with their site, by a 64-bit hash of their addresses (a cache:
/// forgotten ones are worked out again). About 1 MiB at its fullest.
const MAX_RAW_STACKS: usize = 64 * 1024;

/// Everything the stream said, for the whole tree.
pub struct Profile {
    /// Files of the loaded objects seen, indexed by [`CodeRef::object`].
    pub objects: Vec<PathBuf>,
    object_index: HashMap<PathBuf, u32>,
    /// Call sites, indexed by their number.
    pub sites: Vec<Site>,
    site_index: HashMap<Vec<CodeRef>, u32>,
    raw_index: HashMap<u64, u32>,
    /// Names the code, and tells the program's own from libraries.
    pub namer: Namer,
    /// Mean bytes between samples, as the processes reported it.
    pub sample_bytes: u64,
    /// Processes that reported (each connection is a process image: an `exec` opens anew).
    pub processes: u64,
    /// Processes connected now (that said hello).
    pub connected: usize,
    /// Samples received.
    pub samples: u64,
    /// Samples the processes could not track (their live sets were full).
    pub dropped: u64,
    config: DetectorConfig,
}

impl Profile {
    /// An empty profile whose sites are judged with `config`.
    pub fn new(config: DetectorConfig, sample_bytes: u64) -> Self {
        Profile {
            objects: Vec::new(),
            object_index: HashMap::new(),
            sites: Vec::new(),
            site_index: HashMap::new(),
            raw_index: HashMap::new(),
            namer: Namer::default(),
            sample_bytes,
            processes: 0,
            connected: 0,
            samples: 0,
            dropped: 0,
            config,
        }
    }

    /// A process's connection closed: it exited or replaced its image, and its heap with it.
    pub fn disconnect(&mut self, process: Process) {
        if process.pid.is_some() {
            self.connected -= 1;
        }
        for (site, weight) in process.live.into_values() {
            self.sites[site as usize].live -= weight;
        }
    }

    /// Applies one record from `process`.
    pub fn apply(&mut self, process: &mut Process, record: Record) {
        match record {
            Record::Hello {
                pid, sample_bytes, ..
            } => {
                if process.pid.is_none() {
                    self.connected += 1;
                    self.processes += 1;
                }
                process.pid = Some(pid);
                self.sample_bytes = sample_bytes;
            }
            Record::Module {
                start,
                end,
                bias,
                path,
            } => {
                let path = PathBuf::from(
                    <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(path),
                );
                let object = self.object(path);
                process.objects.retain(|(r, _, _)| r.start != start);
                process.objects.push((start..end, bias, object));
            }
            Record::Alloc {
                ptr,
                weight,
                frames,
                ..
            } => {
                let stack: Vec<CodeRef> = frames.iter().map(|&a| locate(process, a)).collect();
                let site = self.site(stack);
                let weight = weight as f64;
                let s = &mut self.sites[site as usize];
                s.live += weight;
                s.allocated += weight;
                s.samples += 1;
                self.samples += 1;
                if let Some((old, w)) = process.live.insert(ptr, (site, weight)) {
                    // A pointer sampled twice without a free between: the first is gone.
                    self.sites[old as usize].live -= w;
                }
            }
            Record::Free { ptr, .. } => {
                // Unknown pointers were sampled before a fork, in the parent: not ours.
                if let Some((site, weight)) = process.live.remove(&ptr) {
                    self.sites[site as usize].live -= weight;
                }
            }
            Record::Dropped { count } => self.dropped = self.dropped.max(count),
        }
    }

    /// Records every site's live bytes at `t` seconds, while a process is running (an exited
    /// tree is not a drop in memory).
    pub fn snapshot(&mut self, t: f64) {
        if self.connected == 0 {
            return;
        }
        for s in &mut self.sites {
            let live = s.live.max(0.0);
            s.last_live = live;
            s.peak_live = s.peak_live.max(live);
            s.detector.push(t, live);
        }
    }

    fn object(&mut self, path: PathBuf) -> u32 {
        if let Some(&i) = self.object_index.get(&path) {
            return i;
        }
        let i = self.objects.len() as u32;
        self.objects.push(path.clone());
        self.object_index.insert(path, i);
        i
    }

    /// The site of a sampled stack: cut where the program's own code starts.
    fn site(&mut self, raw: Vec<CodeRef>) -> u32 {
        let key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            raw.hash(&mut h);
            h.finish()
        };
        if let Some(&i) = self.raw_index.get(&key) {
            return i;
        }
        let objects = &self.objects;
        let namer = &mut self.namer;
        // A system library is never the program's own code: no need to name its frames here.
        let own = |r: &CodeRef| {
            objects
                .get(r.object as usize)
                .is_none_or(|p| !is_system_object(p))
                && namer.frames(objects, *r).iter().any(Frame::is_own_code)
        };
        let cut = raw.iter().position(own).unwrap_or(0);
        let i = self.site_of(raw[cut..].to_vec(), &raw[..cut]);
        if self.raw_index.len() >= MAX_RAW_STACKS {
            self.raw_index.clear();
        }
        self.raw_index.insert(key, i);
        i
    }

    fn site_of(&mut self, stack: Vec<CodeRef>, inner: &[CodeRef]) -> u32 {
        if let Some(&i) = self.site_index.get(&stack) {
            return i;
        }
        let full = self.sites.len() + 1 >= MAX_SITES;
        let stack = if full { Vec::new() } else { stack };
        if let Some(&i) = self.site_index.get(&stack) {
            return i;
        }
        let i = self.sites.len() as u32;
        let mut detector = Detector::new(self.config.clone());
        // A site first seen late had nothing live before: its series starts at zero.
        if let Some(t) = self.sites.first().and_then(|s| s.detector.floor().next()) {
            detector.push(t.0, 0.0);
        }
        self.sites.push(Site {
            stack: stack.clone(),
            inner: if full { Vec::new() } else { inner.to_vec() },
            live: 0.0,
            last_live: 0.0,
            peak_live: 0.0,
            allocated: 0.0,
            samples: 0,
            detector,
        });
        self.site_index.insert(stack, i);
        i
    }
}

/// The object holding return address `a` in `process`, and the address in its file. A
/// return address points after the call, so one byte back is the call itself.
fn locate(process: &Process, a: u64) -> CodeRef {
    let call = a.saturating_sub(1);
    process
        .objects
        .iter()
        .rev()
        .find(|(r, _, _)| r.contains(&call))
        .map_or(
            CodeRef {
                object: u32::MAX,
                address: call,
            },
            |&(_, bias, object)| CodeRef {
                object,
                address: call - bias,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(ptr: u64, weight: u64, frames: &[u64]) -> Record {
        Record::Alloc {
            time_ns: 0,
            ptr,
            size: 64,
            weight,
            frames: frames.to_vec(),
        }
    }

    fn hello() -> Record {
        Record::Hello {
            version: 1,
            pid: 7,
            sample_bytes: 512 << 10,
            program: b"/bin/prog".to_vec(),
        }
    }

    #[test]
    fn sites_are_places_in_files_whatever_the_load_address() {
        let mut p = Profile::new(DetectorConfig::default(), 512 << 10);
        let (mut a, mut b) = (Process::default(), Process::default());
        for (proc_, base) in [(&mut a, 0x1000_0000u64), (&mut b, 0x7000_0000)] {
            p.apply(proc_, hello());
            let module = Record::Module {
                start: base,
                end: base + 0x10000,
                bias: base,
                path: b"/bin/prog".to_vec(),
            };
            p.apply(proc_, module);
            p.apply(proc_, alloc(base + 0x20, 100, &[base + 0x101]));
        }
        assert_eq!(p.sites.len(), 1);
        assert_eq!(
            p.sites[0].stack[0],
            CodeRef {
                object: 0,
                address: 0x100
            }
        );
        assert_eq!(p.sites[0].live, 200.0);
        p.apply(
            &mut a,
            Record::Free {
                time_ns: 0,
                ptr: 0x1000_0020,
            },
        );
        // A pointer this process never sampled (inherited across fork) changes nothing.
        p.apply(
            &mut a,
            Record::Free {
                time_ns: 0,
                ptr: 0x5,
            },
        );
        assert_eq!(p.sites[0].live, 100.0);
        p.disconnect(b);
        assert_eq!(p.sites[0].live, 0.0);
        assert_eq!(p.sites[0].allocated, 200.0);
    }

    #[test]
    fn snapshots_stop_when_no_process_runs() {
        let mut p = Profile::new(DetectorConfig::default(), 512 << 10);
        let mut a = Process::default();
        p.apply(&mut a, hello());
        p.apply(&mut a, alloc(0x10, 1000, &[0x1]));
        p.snapshot(1.0);
        p.disconnect(a);
        p.snapshot(2.0);
        assert_eq!(p.sites[0].last_live, 1000.0);
        assert_eq!(p.sites[0].detector.samples(), 1);
    }
}
