//! Reading a cgroup (v2, or v1 with the memory controller): its processes, what the kernel
//! charges it, its limit and its OOM kills. Creating and limiting groups is the binary's job;
//! this module only reads, from any root (a fake one in tests).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::procfs::read_held;

/// Which cgroup interface a group belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The unified hierarchy (`memory.current`, `memory.max`, `memory.events`).
    V2,
    /// The v1 memory controller (`memory.usage_in_bytes`, `memory.limit_in_bytes`).
    V1,
}

impl CgroupVersion {
    /// `"cgroup-v2"` or `"cgroup-v1"`, as reports name the tree mode.
    pub fn mode_name(self) -> &'static str {
        match self {
            CgroupVersion::V2 => "cgroup-v2",
            CgroupVersion::V1 => "cgroup-v1",
        }
    }
}

/// Where this machine mounts its cgroup hierarchies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// The cgroup2 mount point and the root of the hierarchy it shows (for namespaced mounts).
    pub v2: Option<(PathBuf, String)>,
    /// The v1 memory controller's mount point and root.
    pub v1_memory: Option<(PathBuf, String)>,
}

impl CgroupMounts {
    /// Reads `/proc/self/mountinfo`; no mounts found is not an error (degraded mode).
    pub fn discover() -> Self {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|t| Self::parse_mountinfo(&t))
            .unwrap_or_default()
    }

    /// Parses mountinfo text (see proc(5)).
    ///
    /// ```
    /// use memwarden::sample::cgroup::CgroupMounts;
    /// let m = CgroupMounts::parse_mountinfo(
    ///     "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
    ///      41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    /// assert_eq!(m.v1_memory.unwrap().0.to_str(), Some("/sys/fs/cgroup/memory"));
    /// assert_eq!(m.v2.unwrap().0.to_str(), Some("/sys/fs/cgroup/unified"));
    /// ```
    pub fn parse_mountinfo(text: &str) -> Self {
        let mut mounts = CgroupMounts::default();
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 {
                continue;
            }
            let entry = (
                PathBuf::from(unescape_mount(pre[4])),
                unescape_mount(pre[3]),
            );
            match post[0] {
                "cgroup2" if mounts.v2.is_none() => mounts.v2 = Some(entry),
                "cgroup" if post[2].split(',').any(|o| o == "memory") => {
                    mounts.v1_memory.get_or_insert(entry);
                }
                _ => {}
            }
        }
        mounts
    }

    /// The directory of `pid`'s v2 cgroup and of its v1 memory cgroup, where mounted.
    pub fn dirs_of(&self, pid: u32) -> (Option<PathBuf>, Option<PathBuf>) {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let (v2, v1) = parse_proc_cgroup(&text);
        let place = |mount: &Option<(PathBuf, String)>, path: Option<String>| {
            let (point, root) = mount.as_ref()?;
            let path = path?;
            let rel = path.strip_prefix(root.as_str()).unwrap_or(&path);
            Some(point.join(rel.trim_start_matches('/')))
        };
        (place(&self.v2, v2), place(&self.v1_memory, v1))
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_mount(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// Parses `/proc/PID/cgroup` into the v2 path (`0::/x`) and the v1 memory path (`N:memory:/y`).
///
/// ```
/// use memwarden::sample::cgroup::parse_proc_cgroup;
/// let (v2, v1) = parse_proc_cgroup("4:memory:/a/b\n1:cpu,cpuacct:/\n0::/user.slice\n");
/// assert_eq!((v2.as_deref(), v1.as_deref()), (Some("/user.slice"), Some("/a/b")));
/// ```
pub fn parse_proc_cgroup(text: &str) -> (Option<String>, Option<String>) {
    let (mut v2, mut v1) = (None, None);
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" && ctrl.is_empty() {
            v2 = Some(path.to_string());
        } else if ctrl.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        }
    }
    (v2, v1)
}

/// The hard memory limit set on the group at `dir` itself, bytes (`None` when unlimited or
/// unreadable); its ancestors' limits apply too (see [`MemoryHierarchy::limit_of`]).
pub fn limit_in(dir: &Path, version: CgroupVersion) -> Option<u64> {
    let (name, unlimited_above) = match version {
        CgroupVersion::V2 => ("memory.max", u64::MAX),
        // v1 writes "unlimited" as the largest page-aligned i64.
        CgroupVersion::V1 => ("memory.limit_in_bytes", i64::MAX as u64 / 2),
    };
    read_u64(&dir.join(name)).filter(|v| *v < unlimited_above)
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Where a machine's cgroup memory figures are read: the v2 hierarchy when it has the memory
/// controller, else the v1 memory controller, else nowhere (processes are still named by
/// their v2 path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryHierarchy {
    /// The mounts found.
    pub mounts: CgroupMounts,
    /// Which of them has the memory controller.
    pub memory: Option<CgroupVersion>,
}

impl MemoryHierarchy {
    /// This machine's (from `/proc/self/mountinfo` and the v2 root's `cgroup.controllers`).
    pub fn discover() -> Self {
        Self::of(CgroupMounts::discover())
    }

    /// The hierarchy of `mounts` (fixture roots in tests).
    pub fn of(mounts: CgroupMounts) -> Self {
        let v2_memory = mounts.v2.as_ref().is_some_and(|(point, _)| {
            std::fs::read_to_string(point.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_ascii_whitespace().any(|c| c == "memory"))
        });
        let memory = if v2_memory {
            Some(CgroupVersion::V2)
        } else {
            mounts.v1_memory.as_ref().map(|_| CgroupVersion::V1)
        };
        MemoryHierarchy { mounts, memory }
    }

    /// The path a process is grouped by, from its `/proc/PID/cgroup` text: its path in the
    /// hierarchy with the memory controller, else its v2 path.
    pub fn path_of<'a>(&self, v2: Option<&'a str>, v1_memory: Option<&'a str>) -> Option<&'a str> {
        match self.memory {
            Some(CgroupVersion::V1) => v1_memory.or(v2),
            _ => v2.or(v1_memory),
        }
    }

    /// The directory of the memory hierarchy at `path` (as `/proc/PID/cgroup` gives it), when
    /// the hierarchy has the memory controller.
    pub fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let (point, root) = match self.memory? {
            CgroupVersion::V2 => self.mounts.v2.as_ref()?,
            CgroupVersion::V1 => self.mounts.v1_memory.as_ref()?,
        };
        let rel = path.strip_prefix(root.as_str()).unwrap_or(path);
        Some(point.join(rel.trim_start_matches('/')))
    }

    /// The tightest limit on the group at `dir`: its own or an ancestor's, up to the mount.
    pub fn limit_of(&self, dir: &Path) -> Option<u64> {
        let version = self.memory?;
        let point = match version {
            CgroupVersion::V2 => &self.mounts.v2.as_ref()?.0,
            CgroupVersion::V1 => &self.mounts.v1_memory.as_ref()?.0,
        };
        dir.ancestors()
            .take_while(|d| d.starts_with(point))
            .filter_map(|d| limit_in(d, version))
            .min()
    }

    /// The file holding what the kernel charges the group at `dir`.
    pub fn usage_file(&self, dir: &Path) -> Option<PathBuf> {
        Some(dir.join(match self.memory? {
            CgroupVersion::V2 => "memory.current",
            CgroupVersion::V1 => "memory.usage_in_bytes",
        }))
    }
}

/// A cgroup being read: membership, charged memory, limit and OOM kills.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    version: CgroupVersion,
    procs: File,
    usage: Option<File>,
    buf: Vec<u8>,
}

impl Cgroup {
    /// Opens the group at `dir`. A v2 group without the memory controller has no usage file;
    /// it still lists its processes.
    pub fn open(dir: impl Into<PathBuf>, version: CgroupVersion) -> io::Result<Self> {
        let dir = dir.into();
        let procs = File::open(dir.join("cgroup.procs"))?;
        let usage = File::open(dir.join(match version {
            CgroupVersion::V2 => "memory.current",
            CgroupVersion::V1 => "memory.usage_in_bytes",
        }))
        .ok();
        Ok(Cgroup {
            dir,
            version,
            procs,
            usage,
            buf: vec![0; 64 * 1024],
        })
    }

    /// The memory limit of the cgroup the calling process runs in, if it has one.
    pub fn own_limit() -> Option<u64> {
        Cgroup::of_process(std::process::id())?.limit_bytes()
    }

    /// The memory cgroup `pid` is in (v2 with the memory controller first, else v1), if any.
    pub fn of_process(pid: u32) -> Option<Cgroup> {
        let (v2, v1) = CgroupMounts::discover().dirs_of(pid);
        v2.filter(|d| d.join("memory.current").exists() || d.join("memory.max").exists())
            .and_then(|d| Cgroup::open(d, CgroupVersion::V2).ok())
            .or_else(|| v1.and_then(|d| Cgroup::open(d, CgroupVersion::V1).ok()))
    }

    /// The group's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// v1 or v2.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Whether the memory controller is on for this group (usage, limit and OOM counts exist).
    pub fn has_memory_controller(&self) -> bool {
        self.usage.is_some()
    }

    /// Lists the group's processes (thread-group IDs) into `out` (cleared first).
    pub fn read_pids(&mut self, out: &mut Vec<u32>) -> io::Result<()> {
        out.clear();
        // v1 caches the PID list of an open cgroup.procs for about a second, so a held handle
        // reads stale members: v1 opens the file afresh, v2 re-reads the held one.
        let fresh;
        let file = match self.version {
            CgroupVersion::V1 => {
                fresh = File::open(self.dir.join("cgroup.procs"))?;
                &fresh
            }
            CgroupVersion::V2 => &self.procs,
        };
        let mut offset = 0;
        let mut carry = 0u32;
        let mut in_number = false;
        // cgroup.procs can exceed any fixed buffer on a big tree: read it in chunks.
        loop {
            let n = std::os::unix::fs::FileExt::read_at(file, &mut self.buf, offset)?;
            if n == 0 {
                break;
            }
            for &b in &self.buf[..n] {
                if b.is_ascii_digit() {
                    carry = carry.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
                    in_number = true;
                } else if in_number {
                    out.push(carry);
                    carry = 0;
                    in_number = false;
                }
            }
            offset += n as u64;
        }
        if in_number {
            out.push(carry);
        }
        Ok(())
    }

    /// What the kernel charges the group now, bytes (`None` without the memory controller).
    pub fn usage_bytes(&mut self) -> Option<u64> {
        let file = self.usage.as_ref()?;
        let n = read_held(file, &mut self.buf).ok()?;
        std::str::from_utf8(&self.buf[..n])
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The hard limit, bytes (`None` when unlimited or unreadable).
    pub fn limit_bytes(&self) -> Option<u64> {
        limit_in(&self.dir, self.version)
    }

    /// The highest charge the kernel recorded for the group, bytes.
    pub fn peak_bytes(&self) -> Option<u64> {
        let name = match self.version {
            CgroupVersion::V2 => "memory.peak",
            CgroupVersion::V1 => "memory.max_usage_in_bytes",
        };
        self.read_u64(name)
    }

    /// A file of the group holding one number.
    fn read_u64(&self, name: &str) -> Option<u64> {
        read_u64(&self.dir.join(name))
    }

    /// How many processes the kernel's OOM killer killed in the group.
    pub fn oom_kills(&self) -> Option<u64> {
        let name = match self.version {
            CgroupVersion::V2 => "memory.events",
            CgroupVersion::V1 => "memory.oom_control",
        };
        let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_group(files: &[(&str, &str)]) -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mw-cg-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        dir
    }

    #[test]
    fn reads_a_v2_group() {
        let dir = fake_group(&[
            ("cgroup.procs", "12\n345\n6789\n"),
            ("memory.current", "1048576\n"),
            ("memory.max", "4194304\n"),
            ("memory.peak", "2097152\n"),
            ("memory.events", "low 0\nhigh 3\nmax 9\noom 2\noom_kill 2\n"),
        ]);
        let mut g = Cgroup::open(&dir, CgroupVersion::V2).unwrap();
        let mut pids = Vec::new();
        g.read_pids(&mut pids).unwrap();
        assert_eq!(pids, vec![12, 345, 6789]);
        assert!(g.has_memory_controller());
        assert_eq!(g.usage_bytes(), Some(1 << 20));
        assert_eq!(g.limit_bytes(), Some(4 << 20));
        assert_eq!(g.peak_bytes(), Some(2 << 20));
        assert_eq!(g.oom_kills(), Some(2));
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        assert_eq!(g.limit_bytes(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reads_a_v1_group_and_a_v2_group_without_memory() {
        let dir = fake_group(&[
            ("cgroup.procs", ""),
            ("memory.usage_in_bytes", "4096\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n",
            ),
        ]);
        let mut g = Cgroup::open(&dir, CgroupVersion::V1).unwrap();
        let mut pids = vec![1];
        g.read_pids(&mut pids).unwrap();
        assert!(pids.is_empty());
        assert_eq!(g.usage_bytes(), Some(4096));
        assert_eq!(g.limit_bytes(), None, "v1's huge default means unlimited");
        assert_eq!(g.oom_kills(), Some(5));
        std::fs::remove_dir_all(dir).unwrap();

        let dir = fake_group(&[("cgroup.procs", "1\n")]);
        let mut g = Cgroup::open(&dir, CgroupVersion::V2).unwrap();
        assert!(!g.has_memory_controller());
        assert_eq!(g.usage_bytes(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn namespaced_mounts_and_escapes() {
        let m = CgroupMounts::parse_mountinfo(
            "1 0 0:1 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
             2 0 0:2 / /mnt/with\\040space rw - cgroup cgroup rw,cpu,memory\n\
             3 0 0:3 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
        );
        assert_eq!(
            m.v2,
            Some((PathBuf::from("/sys/fs/cgroup"), "/docker/abc".to_string()))
        );
        assert_eq!(m.v1_memory.unwrap().0, PathBuf::from("/mnt/with space"));
    }

    #[test]
    fn this_process_has_a_cgroup_where_mounted() {
        let mounts = CgroupMounts::discover();
        let (v2, v1) = mounts.dirs_of(std::process::id());
        assert_eq!(v2.is_some(), mounts.v2.is_some());
        assert_eq!(v1.is_some(), mounts.v1_memory.is_some());
        if let Some(dir) = v1.or(v2) {
            assert!(dir.join("cgroup.procs").exists(), "{dir:?}");
        }
    }
}
