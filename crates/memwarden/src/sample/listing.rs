//! Listing the processes of a proc root: one `getdents` pass over a held directory handle,
//! numeric names only, and a cheap test of whether anything was forked since the last pass.

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, RawDir, SeekFrom};

use super::procfs;
use super::SampleError;

/// The PIDs of a proc root, listed on demand through handles held between passes.
#[derive(Debug)]
pub(crate) struct ProcLister {
    root: PathBuf,
    dir: Option<OwnedFd>,
    loadavg: Option<File>,
    last_pid: Option<u32>,
    dirbuf: Vec<u8>,
    small: [u8; 128],
}

impl ProcLister {
    /// A lister of `root` (normally `/proc`); nothing is opened yet.
    pub fn new(root: &Path) -> Self {
        ProcLister {
            root: root.to_path_buf(),
            dir: None,
            loadavg: None,
            last_pid: None,
            dirbuf: Vec::with_capacity(64 * 1024),
            small: [0; 128],
        }
    }

    /// Whether any process or thread was created since the last call: the last PID the kernel
    /// handed out (the last field of `loadavg`) has moved. One `pread` of a held file instead of
    /// listing every process of the machine. True when it cannot tell.
    pub fn forked_since_last(&mut self) -> bool {
        if self.loadavg.is_none() {
            self.loadavg = File::open(self.root.join("loadavg")).ok();
        }
        let last = self.loadavg.as_ref().and_then(|f| {
            let n = procfs::read_held(f, &mut self.small).ok()?;
            let text = std::str::from_utf8(&self.small[..n]).ok()?;
            text.split_ascii_whitespace().last()?.parse::<u32>().ok()
        });
        match last {
            Some(pid) if self.last_pid == Some(pid) => false,
            _ => {
                self.last_pid = last;
                true
            }
        }
    }

    /// Appends every PID of the root to `out`.
    pub fn list(&mut self, out: &mut Vec<u32>) -> Result<(), SampleError> {
        let root = &self.root;
        let listing = |e: rustix::io::Errno| SampleError::Listing(root.clone(), e.into());
        if self.dir.is_none() {
            let fd = rustix::fs::open(
                root,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(listing)?;
            self.dir = Some(fd);
        }
        let fd = self.dir.as_ref().expect("opened above");
        rustix::fs::seek(fd, SeekFrom::Start(0)).map_err(listing)?;
        let mut dir = RawDir::new(fd, self.dirbuf.spare_capacity_mut());
        while let Some(entry) = dir.next() {
            let entry = entry.map_err(listing)?;
            if let Some(pid) = parse_pid(entry.file_name().to_bytes()) {
                out.push(pid);
            }
        }
        Ok(())
    }
}

fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid(b"123"), Some(123));
        for bad in [&b""[..], b"self", b"12a", b"99999999999"] {
            assert_eq!(parse_pid(bad), None);
        }
    }

    #[test]
    fn lists_this_process() {
        let mut lister = ProcLister::new(Path::new("/proc"));
        let mut pids = Vec::new();
        lister.list(&mut pids).unwrap();
        assert!(pids.contains(&std::process::id()));
        let again = pids.len();
        pids.clear();
        lister.list(&mut pids).unwrap();
        assert!(pids.len() > again / 2, "a second pass lists again");
    }
}
