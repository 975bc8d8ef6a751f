//! Cgroup placement: create a cgroup of the run's own, so the tree is exactly what the group
//! holds (double-forked daemons included) and the kernel can enforce a limit.
//!
//! Where, in order of preference:
//! 1. `$MEMWARDEN_CGROUP_PARENT`, a v2 directory the user delegated to memwarden;
//! 2. v2, under memwarden's own cgroup when memory is already enabled for its children
//!    (the root cgroup, or a group set up for memwarden);
//! 3. v2, a delegated scope holding only memwarden (`systemd-run --user --scope -p Delegate=yes`):
//!    memwarden moves itself into a leaf so memory can be enabled for a sibling run group;
//! 4. v2, under the hierarchy's root when memwarden may write there (root);
//! 5. v1, under memwarden's own memory cgroup.
//!
//! Otherwise no cgroup: the tree is followed by parent links (with the reasons given).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use memwarden::sample::cgroup::{Cgroup, CgroupMounts, CgroupVersion};

/// The cgroup directories memwarden may place a run under.
#[derive(Debug, Clone, Default)]
pub struct CgroupEnv {
    /// An explicit v2 parent (`MEMWARDEN_CGROUP_PARENT`).
    pub explicit_parent: Option<PathBuf>,
    /// The v2 hierarchy's root directory, if mounted.
    pub v2_root: Option<PathBuf>,
    /// memwarden's own v2 cgroup directory.
    pub v2_own: Option<PathBuf>,
    /// memwarden's own v1 memory cgroup directory.
    pub v1_own: Option<PathBuf>,
    /// memwarden's PID (to recognise a scope that holds only memwarden).
    pub self_pid: u32,
}

impl CgroupEnv {
    /// Reads this machine's mounts and memwarden's own cgroups.
    pub fn discover() -> Self {
        let mounts = CgroupMounts::discover();
        let self_pid = std::process::id();
        let (v2_own, v1_own) = mounts.dirs_of(self_pid);
        CgroupEnv {
            explicit_parent: std::env::var_os("MEMWARDEN_CGROUP_PARENT")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            v2_root: mounts.v2.map(|(point, _)| point),
            v2_own,
            v1_own,
            self_pid,
        }
    }
}

/// A cgroup created for one run; removed when dropped (once empty).
#[derive(Debug)]
pub struct Placement {
    dir: PathBuf,
    version: CgroupVersion,
    procs: File,
}

/// Why no cgroup could be created: one reason per place tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPlacement(pub Vec<String>);

impl std::fmt::Display for NoPlacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn has_word(path: &Path, word: &str) -> bool {
    read(path).split_ascii_whitespace().any(|w| w == word)
}

impl Placement {
    /// Creates a group named `name` in the first place that allows it.
    pub fn create(env: &CgroupEnv, name: &str) -> Result<Placement, NoPlacement> {
        let mut why = Vec::new();
        let mut attempt = |what: &str, result: Result<Placement, String>| match result {
            Ok(p) => Some(p),
            Err(e) => {
                why.push(format!("{what}: {e}"));
                None
            }
        };
        if let Some(parent) = &env.explicit_parent {
            if let Some(p) = attempt("MEMWARDEN_CGROUP_PARENT", v2_under(parent, name)) {
                return Ok(p);
            }
        }
        if let Some(own) = &env.v2_own {
            let enabled = has_word(&own.join("cgroup.subtree_control"), "memory");
            let result = if enabled {
                v2_under(own, name)
            } else {
                delegate_self(own, env.self_pid).and_then(|()| v2_under(own, name))
            };
            if let Some(p) = attempt("cgroup v2", result) {
                return Ok(p);
            }
        }
        if let Some(root) = env
            .v2_root
            .as_ref()
            .filter(|r| Some(*r) != env.v2_own.as_ref())
        {
            if let Some(p) = attempt("cgroup v2 root", v2_under(root, name)) {
                return Ok(p);
            }
        }
        if let Some(own) = &env.v1_own {
            if let Some(p) = attempt("cgroup v1 memory", make(own, name, CgroupVersion::V1)) {
                return Ok(p);
            }
        }
        if why.is_empty() {
            why.push("no cgroup hierarchy is mounted".into());
        }
        Err(NoPlacement(why))
    }

    /// The group's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// v1 or v2.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The open `cgroup.procs`, for the child to write itself into before it executes.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// A reader of the group.
    pub fn reader(&self) -> std::io::Result<Cgroup> {
        Cgroup::open(&self.dir, self.version)
    }

    /// Kills everything in the group at once where the kernel can (v2 `cgroup.kill`).
    pub fn kill_all(&self) -> bool {
        self.version == CgroupVersion::V2
            && OpenOptions::new()
                .write(true)
                .open(self.dir.join("cgroup.kill"))
                .and_then(|mut f| f.write_all(b"1"))
                .is_ok()
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        // Fails (EBUSY) only if processes remain, which the stop logic prevents; an empty
        // group left behind is harmless and visible.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A v2 group under `parent`, which must offer the memory controller to its children.
fn v2_under(parent: &Path, name: &str) -> Result<Placement, String> {
    if !has_word(&parent.join("cgroup.controllers"), "memory") {
        return Err(format!(
            "the memory controller is not available in {}",
            parent.display()
        ));
    }
    let control = parent.join("cgroup.subtree_control");
    if !has_word(&control, "memory") {
        std::fs::write(&control, "+memory")
            .map_err(|e| format!("cannot enable memory in {}: {e}", control.display()))?;
    }
    make(parent, name, CgroupVersion::V2)
}

/// In a delegated v2 scope that holds only memwarden, moves memwarden into a leaf of its own
/// (v2 allows processes only in leaves once controllers are enabled for children).
fn delegate_self(own: &Path, self_pid: u32) -> Result<(), String> {
    let procs = read(&own.join("cgroup.procs"));
    let pids: Vec<&str> = procs.split_ascii_whitespace().collect();
    if pids != [self_pid.to_string().as_str()] {
        return Err(format!(
            "{} holds other processes too; memory can only be enabled for a scope of memwarden's own \
             (start it with `systemd-run --user --scope -p Delegate=yes memwarden ...`) \
             or a parent named by MEMWARDEN_CGROUP_PARENT",
            own.display()
        ));
    }
    if !has_word(&own.join("cgroup.controllers"), "memory") {
        return Err(format!(
            "the memory controller is not available in {}",
            own.display()
        ));
    }
    let leaf = own.join("memwarden-self");
    std::fs::create_dir_all(&leaf).map_err(|e| format!("cannot create {}: {e}", leaf.display()))?;
    std::fs::write(leaf.join("cgroup.procs"), self_pid.to_string())
        .map_err(|e| format!("cannot move memwarden into {}: {e}", leaf.display()))
}

fn make(parent: &Path, name: &str, version: CgroupVersion) -> Result<Placement, String> {
    let dir = parent.join(name);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let procs = OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .map_err(|e| {
            let _ = std::fs::remove_dir(&dir);
            format!(
                "cannot open {}/cgroup.procs for writing: {e}",
                dir.display()
            )
        })?;
    Ok(Placement {
        dir,
        version,
        procs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake v2 hierarchy: plain directories and files shaped like cgroupfs.
    fn fake_v2(controllers: &str, own_procs: &str) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("user.slice/app.scope");
        std::fs::create_dir_all(&own).unwrap();
        for dir in [root.path(), own.as_path()] {
            std::fs::write(dir.join("cgroup.controllers"), controllers).unwrap();
            std::fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
        }
        std::fs::write(own.join("cgroup.procs"), own_procs).unwrap();
        (root, own)
    }

    /// Plain directories do not grow cgroup files by themselves: a test creates the files
    /// the kernel would, in each new group.
    fn with_procs_file(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), "").unwrap();
    }

    #[test]
    fn a_delegated_scope_holding_only_memwarden_is_used() {
        let (_root, own) = fake_v2("cpu memory pids", "4242\n");
        with_procs_file(&own.join("run-1"));
        let env = CgroupEnv {
            v2_own: Some(own.clone()),
            self_pid: 4242,
            ..Default::default()
        };
        let p = Placement::create(&env, "run-1").unwrap();
        assert_eq!(p.version(), CgroupVersion::V2);
        assert_eq!(p.dir(), own.join("run-1"));
        assert_eq!(read(&own.join("memwarden-self/cgroup.procs")), "4242");
        assert_eq!(read(&own.join("cgroup.subtree_control")), "+memory");
    }

    #[test]
    fn a_shared_scope_falls_back_to_the_root_then_v1() {
        let (root, own) = fake_v2("cpu memory", "4242\n77\n");
        with_procs_file(&root.path().join("run-2"));
        let env = CgroupEnv {
            v2_root: Some(root.path().to_path_buf()),
            v2_own: Some(own.clone()),
            self_pid: 4242,
            ..Default::default()
        };
        let p = Placement::create(&env, "run-2").unwrap();
        assert_eq!(p.dir(), root.path().join("run-2"));
        assert_eq!(read(&root.path().join("cgroup.subtree_control")), "+memory");
        assert!(
            !own.join("memwarden-self").exists(),
            "memwarden must not move itself out of a shared scope"
        );

        // Without the memory controller anywhere in v2, v1 is next.
        let (root, own) = fake_v2("cpu", "4242\n");
        let v1 = tempfile::tempdir().unwrap();
        with_procs_file(&v1.path().join("run-3"));
        let env = CgroupEnv {
            v2_root: Some(root.path().to_path_buf()),
            v2_own: Some(own),
            v1_own: Some(v1.path().to_path_buf()),
            self_pid: 4242,
            ..Default::default()
        };
        let p = Placement::create(&env, "run-3").unwrap();
        assert_eq!(p.version(), CgroupVersion::V1);
    }

    #[test]
    fn every_refusal_is_explained() {
        let (root, own) = fake_v2("cpu", "1\n2\n");
        let env = CgroupEnv {
            v2_root: Some(root.path().to_path_buf()),
            v2_own: Some(own),
            self_pid: 1,
            ..Default::default()
        };
        let err = Placement::create(&env, "run-4").unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.to_string()
                .contains("memory controller is not available"),
            "{err}"
        );
        let none = Placement::create(&CgroupEnv::default(), "x").unwrap_err();
        assert!(none.to_string().contains("no cgroup hierarchy"));
    }
}
