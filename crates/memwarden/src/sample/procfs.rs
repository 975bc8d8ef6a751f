//! Readers and parsers for the per-process files under `/proc`.
//!
//! Parsers take bytes, so edge cases (a command name with spaces and parentheses, a kernel
//! thread with an empty `statm`) are tested without a live process; readers take the proc root,
//! so fixture trees stand in for `/proc` where a real process cannot produce the case.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Why a per-process file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The process is gone (exited, or never existed). Normal during sampling.
    #[error("process {0} is gone")]
    Gone(u32),
    /// The file exists but this user may not read it (another user's process).
    #[error("not allowed to read {0}")]
    Denied(PathBuf),
    /// The file did not have the expected shape.
    #[error("unexpected contents in {0}")]
    Malformed(PathBuf),
    /// Any other I/O failure.
    #[error("reading {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl ReadError {
    pub(crate) fn from_io(pid: u32, path: &Path, e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ESRCH) => ReadError::Gone(pid),
            Some(libc::EACCES) | Some(libc::EPERM) => ReadError::Denied(path.to_path_buf()),
            _ => ReadError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        }
    }
}

/// The fields of `/proc/PID/stat` the sampler uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The command name (`comm`, at most 15 bytes, may contain spaces and parentheses).
    pub comm: String,
    /// One-letter state (`R`, `S`, `Z`...).
    pub state: char,
    /// Parent PID.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub session: u32,
    /// The kernel's flags for the process (`PF_*`; see [`Stat::is_kernel_thread`]).
    pub flags: u32,
    /// Thread count.
    pub threads: u32,
    /// Start time in clock ticks since boot: tells a reused PID apart.
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name sits in parentheses and may itself contain
/// `") ("`, so fields are counted from the *last* closing parenthesis.
///
/// ```
/// use memwarden::sample::procfs::parse_stat;
/// let s = parse_stat(b"42 (a (b) c) S 1 42 42 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 3 0 12345 0 0").unwrap();
/// assert_eq!((s.comm.as_str(), s.ppid, s.threads, s.start_ticks), ("a (b) c", 1, 3, 12345));
/// ```
pub fn parse_stat(buf: &[u8]) -> Option<Stat> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = buf.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let comm = String::from_utf8_lossy(&buf[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&buf[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // Field numbers below are those of proc(5); field 3 (state) is the first after the name.
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?; // 4
    let pgrp = fields.next()?.parse().ok()?; // 5
    let session = fields.next()?.parse().ok()?; // 6
    let flags = fields.nth(2)?.parse().ok()?; // 9
    let threads = fields.nth(10)?.parse().ok()?; // 20
    let start_ticks = fields.nth(1)?.parse().ok()?; // 22
    Some(Stat {
        comm,
        state,
        ppid,
        pgrp,
        session,
        flags,
        threads,
        start_ticks,
    })
}

/// `PF_KTHREAD` in `stat`'s flags: the process is a kernel thread.
const PF_KTHREAD: u32 = 0x0020_0000;

impl Stat {
    /// Whether this is a kernel thread (never a program's process: nothing to watch or stop).
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }

    /// Whether the process has exited and waits for its parent to reap it.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Resident and shared memory from `/proc/PID/statm`, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statm {
    /// Resident pages (RssAnon + RssFile + RssShmem).
    pub resident: u64,
    /// Shared pages (RssFile + RssShmem), so `resident - shared` is RssAnon.
    pub shared: u64,
}

impl Statm {
    /// Anonymous resident memory (RssAnon) in bytes, for pages of `page_size` bytes.
    pub fn anon_bytes(&self, page_size: u64) -> u64 {
        self.resident.saturating_sub(self.shared) * page_size
    }
}

/// Parses `/proc/PID/statm` (`size resident shared text lib data dt`).
/// A kernel thread's or zombie's statm is all zeros (or empty): that reads as zero memory.
///
/// ```
/// use memwarden::sample::procfs::parse_statm;
/// let m = parse_statm(b"1000 300 100 1 0 200 0\n").unwrap();
/// assert_eq!((m.resident, m.shared), (300, 100));
/// assert_eq!(parse_statm(b"").unwrap().resident, 0);
/// ```
pub fn parse_statm(buf: &[u8]) -> Option<Statm> {
    // Hand-parsed: this is the file read for every process on every sample, and a number
    // scan avoids the UTF-8 check and iterator setup of the generic path (see BENCHMARKS.md).
    let mut nums = [0u64; 3];
    let mut idx = 0;
    let mut cur: Option<u64> = None;
    for &b in buf {
        match b {
            b'0'..=b'9' => {
                let d = u64::from(b - b'0');
                cur = Some(cur.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
            }
            b' ' | b'\n' => {
                if let Some(v) = cur.take() {
                    nums[idx] = v;
                    idx += 1;
                    if idx == 3 {
                        break;
                    }
                }
            }
            _ => return None,
        }
    }
    if let (Some(v), true) = (cur, idx < 3) {
        nums[idx] = v;
        idx += 1;
    }
    match idx {
        0 => Some(Statm::default()),
        3 => Some(Statm {
            resident: nums[1],
            shared: nums[2].min(nums[1]),
        }),
        _ => None,
    }
}

/// The fields of `/proc/PID/status` read at the slower rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Swapped-out anonymous memory, bytes.
    pub swap_bytes: u64,
    /// Thread count.
    pub threads: u32,
}

/// Parses `/proc/PID/status` for `VmSwap` and `Threads` (kernel threads have no `VmSwap`).
pub fn parse_status(buf: &[u8]) -> Option<Status> {
    let text = std::str::from_utf8(buf).ok()?;
    let mut status = Status::default();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("VmSwap:") {
            status.swap_bytes = parse_kib(v)?;
        } else if let Some(v) = line.strip_prefix("Threads:") {
            status.threads = v.trim().parse().ok()?;
        }
    }
    Some(status)
}

/// The `Name:` of a `status` file (the command name, escaped as status escapes it).
///
/// ```
/// use memwarden::sample::procfs::status_name;
/// assert_eq!(status_name(b"Name:\tpython3\nUmask:\t0022\n"), Some(&b"python3"[..]));
/// ```
pub fn status_name(buf: &[u8]) -> Option<&[u8]> {
    let line = buf
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Name:"))?;
    Some(line[5..].trim_ascii())
}

/// Parses `SigCgt:` from `/proc/PID/status`: the signals the process has a handler for, bit
/// `n - 1` for signal `n`.
///
/// ```
/// use memwarden::sample::procfs::parse_caught_signals;
/// let mask = parse_caught_signals(b"Name:\tx\nSigCgt:\t0000000000000200\n").unwrap();
/// assert!(mask & (1 << (10 - 1)) != 0); // SIGUSR1 is caught
/// ```
pub fn parse_caught_signals(buf: &[u8]) -> Option<u64> {
    let line = buf
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"SigCgt:"))?;
    let hex = std::str::from_utf8(&line[7..]).ok()?.trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Parses `Pss:` from `/proc/PID/smaps_rollup`, in bytes.
pub fn parse_smaps_rollup(buf: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(buf).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(parse_kib)
}

/// Parses `"   1234 kB"` into bytes.
pub(crate) fn parse_kib(v: &str) -> Option<u64> {
    let n: u64 = v.trim().trim_end_matches("kB").trim().parse().ok()?;
    n.checked_mul(1024)
}

/// Access to the per-process files of one proc root (`/proc`, or a fixture tree in tests).
#[derive(Debug, Clone)]
pub struct ProcFs {
    root: PathBuf,
    /// Whether the root is a real procfs, whose `fd/` directories have a size (see
    /// [`fd_count`](Self::fd_count)); a fixture tree's do not.
    sized_fd_dirs: bool,
}

impl Default for ProcFs {
    fn default() -> Self {
        ProcFs::new("/proc")
    }
}

impl ProcFs {
    /// A reader rooted at `root` (normally `/proc`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let sized_fd_dirs =
            rustix::fs::statfs(&root).is_ok_and(|s| s.f_type == rustix::fs::PROC_SUPER_MAGIC);
        ProcFs {
            root,
            sized_fd_dirs,
        }
    }

    /// The proc root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ROOT/PID/NAME`.
    pub fn path(&self, pid: u32, name: &str) -> PathBuf {
        let mut p = self.root.join(pid.to_string());
        p.push(name);
        p
    }

    /// Reads a whole per-process file into `buf` (cleared first).
    pub fn read(&self, pid: u32, name: &str, buf: &mut Vec<u8>) -> Result<(), ReadError> {
        let path = self.path(pid, name);
        buf.clear();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(buf))
            .map(|_| ())
            .map_err(|e| ReadError::from_io(pid, &path, e))
    }

    /// Reads and parses `stat`.
    pub fn stat(&self, pid: u32, buf: &mut Vec<u8>) -> Result<Stat, ReadError> {
        self.read(pid, "stat", buf)?;
        parse_stat(buf).ok_or_else(|| ReadError::Malformed(self.path(pid, "stat")))
    }

    /// Reads and parses `status`.
    pub fn status(&self, pid: u32, buf: &mut Vec<u8>) -> Result<Status, ReadError> {
        self.read(pid, "status", buf)?;
        parse_status(buf).ok_or_else(|| ReadError::Malformed(self.path(pid, "status")))
    }

    /// The signals `pid` has a handler for (`SigCgt`), bit `n - 1` for signal `n`.
    pub fn caught_signals(&self, pid: u32, buf: &mut Vec<u8>) -> Result<u64, ReadError> {
        self.read(pid, "status", buf)?;
        parse_caught_signals(buf).ok_or_else(|| ReadError::Malformed(self.path(pid, "status")))
    }

    /// Reads PSS from `smaps_rollup`.
    pub fn pss(&self, pid: u32, buf: &mut Vec<u8>) -> Result<u64, ReadError> {
        self.read(pid, "smaps_rollup", buf)?;
        parse_smaps_rollup(buf).ok_or_else(|| ReadError::Malformed(self.path(pid, "smaps_rollup")))
    }

    /// The command line, NUL separators turned into spaces; empty for kernel threads and zombies.
    pub fn cmdline(&self, pid: u32, buf: &mut Vec<u8>) -> Result<String, ReadError> {
        self.read(pid, "cmdline", buf)?;
        let trimmed = buf.strip_suffix(b"\0").unwrap_or(buf);
        Ok(String::from_utf8_lossy(trimmed).replace('\0', " "))
    }

    /// Counts open descriptors. Since Linux 6.2 the size of `fd/` is the count: one `statx`
    /// instead of an open, a `getdents` pass and a close, and any user may read it (only the
    /// owner or root may list the directory), so other users' processes are counted too.
    /// Older kernels say 0, as does a process with no descriptors: then `fd/` is listed (one
    /// `getdents` pass into a buffer on the stack: no allocation per descriptor).
    pub fn fd_count(&self, pid: u32) -> Result<u32, ReadError> {
        use rustix::fs::{Mode, OFlags, RawDir};
        let path = self.path(pid, "fd");
        if self.sized_fd_dirs {
            if let Some(n) = rustix::fs::stat(&path)
                .ok()
                .and_then(|st| u32::try_from(st.st_size).ok())
                .filter(|&n| n > 0)
            {
                return Ok(n);
            }
        }
        let failed = |e: rustix::io::Errno| ReadError::from_io(pid, &path, e.into());
        let dir = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(failed)?;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut entries = RawDir::new(&dir, &mut buf);
        let mut n = 0;
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(failed)?;
            let name = entry.file_name().to_bytes();
            n += u32::from(name != b"." && name != b"..");
        }
        Ok(n)
    }

    /// Reads `statm` through `held` (one `pread`) or by opening it. A kernel thread's or
    /// zombie's empty or malformed `statm` reads as zero memory; `Err` when the process is
    /// gone (or unreadable).
    pub(crate) fn statm(
        &self,
        pid: u32,
        held: Option<&File>,
        small: &mut [u8],
        buf: &mut Vec<u8>,
    ) -> Result<Statm, ReadError> {
        let parsed = match held {
            Some(file) => read_held(file, small)
                .map_err(|e| ReadError::from_io(pid, self.root(), e))
                .map(|n| parse_statm(&small[..n])),
            None => self.read(pid, "statm", buf).map(|()| parse_statm(buf)),
        };
        match parsed {
            Ok(m) => Ok(m.unwrap_or_default()),
            Err(ReadError::Malformed(_)) => Ok(Statm::default()),
            Err(e) => Err(e),
        }
    }

    /// [`statm`](Self::statm) of a process being followed, `None` once it is gone: exited,
    /// or a zombie (it reads as all zeros until its parent reaps it).
    pub(crate) fn live_statm(
        &self,
        pid: u32,
        held: Option<&File>,
        small: &mut [u8],
        buf: &mut Vec<u8>,
    ) -> Option<Statm> {
        let m = self.statm(pid, held, small, buf).ok()?;
        let dead = m.resident == 0 && self.stat(pid, buf).map_or(true, |s| s.is_zombie());
        (!dead).then_some(m)
    }

    /// Reads `status` into `now` (swap, threads). Returns true when the process's name is no
    /// longer `comm` (updated): it executed another program since, and its command line is
    /// worth reading again.
    pub(crate) fn refresh_status(
        &self,
        pid: u32,
        now: &mut super::types::ProcessSample,
        comm: &mut String,
        buf: &mut Vec<u8>,
    ) -> bool {
        let Ok(status) = self.status(pid, buf) else {
            return false;
        };
        now.swap_bytes = status.swap_bytes;
        now.threads = status.threads;
        match status_name(buf).filter(|n| *n != comm.as_bytes()) {
            Some(name) => {
                *comm = String::from_utf8_lossy(name).into_owned();
                true
            }
            None => false,
        }
    }

    /// Opens `statm` to be re-read with [`read_held`] on every sample.
    pub fn open_statm(&self, pid: u32) -> Result<File, ReadError> {
        let path = self.path(pid, "statm");
        File::open(&path).map_err(|e| ReadError::from_io(pid, &path, e))
    }
}

/// Re-reads a held `/proc` file from offset 0 with one `pread` (about ten times cheaper than
/// open + read + close). Once the process has exited every read fails with ESRCH, which is
/// how a reused PID is never mistaken for the process the handle was opened on.
pub fn read_held(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    file.read_at(buf, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_counted_alike_by_size_and_by_listing() {
        use std::process::{Command, Stdio};
        // A child holding exactly its three standard descriptors, then 3 + 64 of them.
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import os,sys\nfds=[os.open('/dev/null',0) for _ in range(64)]\nsys.stdin.read()",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let pid = child.id();
        let sized = ProcFs::default();
        assert!(sized.sized_fd_dirs && !ProcFs::new(std::env::temp_dir()).sized_fd_dirs);
        let listed = ProcFs {
            sized_fd_dirs: false,
            ..ProcFs::default()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let n = loop {
            let n = listed.fd_count(pid).expect("own child's fd/ lists");
            if n >= 67 {
                break n;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "64 descriptors opened"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(sized.fd_count(pid).unwrap(), n);
        drop(child.stdin.take());
        child.wait().unwrap();
        assert!(sized.fd_count(pid).is_err() && listed.fd_count(pid).is_err());
    }

    #[test]
    fn stat_with_hostile_command_name() {
        let line = b"77 (x) S (y)) R 5 77 9 34816 77 4194560 100 0 0 0 1 2 0 0 20 0 7 0 99887766 123 45 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "x) S (y)");
        assert_eq!(s.state, 'R');
        assert_eq!((s.ppid, s.pgrp, s.session), (5, 77, 9));
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_ticks, 99887766);
    }

    #[test]
    fn stat_truncated_is_refused() {
        assert!(parse_stat(b"1 (init) S 0 1 1").is_none());
        assert!(parse_stat(b"").is_none());
        assert!(parse_stat(b"1 )bad( S 0 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 5").is_none());
    }

    #[test]
    fn statm_shapes() {
        assert_eq!(
            parse_statm(b"0 0 0 0 0 0 0\n").unwrap(),
            Statm {
                resident: 0,
                shared: 0
            }
        );
        assert_eq!(
            parse_statm(b"10 5 2").unwrap(),
            Statm {
                resident: 5,
                shared: 2
            }
        );
        assert!(parse_statm(b"10 5").is_none());
        assert!(parse_statm(b"10 x 5").is_none());
        assert!(parse_statm(b"99999999999999999999999 1 1").is_none());
    }

    #[test]
    fn status_and_rollup() {
        let status = b"Name:\tpython3\nThreads:\t4\nVmSwap:\t     128 kB\n";
        assert_eq!(
            parse_status(status).unwrap(),
            Status {
                swap_bytes: 128 * 1024,
                threads: 4
            }
        );
        // Kernel threads have no VmSwap line.
        assert_eq!(
            parse_status(b"Name:\tkthreadd\nThreads:\t1\n")
                .unwrap()
                .swap_bytes,
            0
        );
        let rollup = b"00400000-7fff [rollup]\nRss:   2048 kB\nPss:   1000 kB\nPss_Anon: 10 kB\n";
        assert_eq!(parse_smaps_rollup(rollup), Some(1000 * 1024));
        assert_eq!(parse_smaps_rollup(b"Rss: 1 kB\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let fs = ProcFs::default();
        let me = std::process::id();
        let mut buf = Vec::new();
        let stat = fs.stat(me, &mut buf).unwrap();
        assert!(stat.start_ticks > 0 && stat.threads >= 1);
        let file = fs.open_statm(me).unwrap();
        let mut small = [0u8; 128];
        let n = read_held(&file, &mut small).unwrap();
        let m = parse_statm(&small[..n]).unwrap();
        assert!(m.resident > 0);
        assert!(fs.fd_count(me).unwrap() >= 3);
        assert!(fs.cmdline(me, &mut buf).unwrap().len() > 1);
    }

    #[test]
    fn a_missing_process_reads_as_gone() {
        let dir = std::env::temp_dir().join(format!("mw-procfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fs = ProcFs::new(&dir);
        let mut buf = Vec::new();
        assert!(matches!(
            fs.stat(12345, &mut buf),
            Err(ReadError::Gone(12345))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
