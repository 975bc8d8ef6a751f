//! Kernel limits on the run's own cgroup, and what the kernel did at them.
//!
//! The strongest layer of containment: with the limit in the kernel there is no overshoot at all,
//! however fast the tree allocates. v2 gets `memory.max`, `memory.high` a little below it (the
//! kernel throttles and reclaims there before it has to kill) and `memory.swap.max` 0; v1 gets
//! `memory.limit_in_bytes` and, where swap is accounted, `memory.memsw.limit_in_bytes`. Swap is
//! capped so the limit means what the report measures: the tree's memory, swapped or not.

use std::path::Path;

use memwarden::sample::cgroup::{Cgroup, CgroupVersion};
use memwarden::units::format_bytes;

/// Where `memory.high` is put, as a share of `memory.max`.
pub const HIGH_FRACTION: f64 = 0.95;

/// A limit the kernel enforces on the run's cgroup.
#[derive(Debug)]
pub struct KernelLimit {
    group: Cgroup,
    bytes: u64,
    written: Vec<String>,
    oom_kills: u64,
}

fn write(dir: &Path, file: &'static str, value: &str) -> Result<(), String> {
    std::fs::write(dir.join(file), value)
        .map_err(|e| format!("cannot write {value} to {}: {e}", dir.join(file).display()))
}

impl KernelLimit {
    /// Puts a limit of `bytes` on the (still empty) group at `dir`. Only the hard limit must
    /// take; throttling (`memory.high`) and the swap cap are helps, tried and reported.
    pub fn apply(dir: &Path, version: CgroupVersion, bytes: u64) -> Result<KernelLimit, String> {
        let mut written = Vec::new();
        let mut optional = |file: &'static str, value: &str| {
            if !dir.join(file).exists() {
                return;
            }
            match write(dir, file, value) {
                Ok(()) => written.push(file.to_string()),
                Err(e) => written.push(format!("not {file}: {e}")),
            }
        };
        match version {
            CgroupVersion::V2 => {
                write(dir, "memory.max", &bytes.to_string())?;
                let high = (bytes as f64 * HIGH_FRACTION) as u64;
                optional("memory.high", &high.to_string());
                optional("memory.swap.max", "0");
                written.insert(0, "memory.max".to_string());
            }
            CgroupVersion::V1 => {
                // memory+swap may never be below memory alone: set memory first (both start
                // unlimited), then memory+swap to the same value.
                write(dir, "memory.limit_in_bytes", &bytes.to_string())?;
                optional("memory.memsw.limit_in_bytes", &bytes.to_string());
                written.insert(0, "memory.limit_in_bytes".to_string());
            }
        }
        let group = Cgroup::open(dir, version)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        // The kernel rounds the limit to whole pages; report the one in force.
        let bytes = group.limit_bytes().unwrap_or(bytes);
        let oom_kills = group.oom_kills().unwrap_or(0);
        Ok(KernelLimit {
            group,
            bytes,
            written,
            oom_kills,
        })
    }

    /// The limit in force, bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// What was set, in words, for the run's `guard` event.
    pub fn describe(&self) -> String {
        format!(
            "kernel limit {} on {} ({})",
            format_bytes(self.bytes),
            self.group.dir().display(),
            self.written.join(", ")
        )
    }

    /// OOM kills in the group since the last call (v2 `memory.events`, v1 `memory.oom_control`).
    pub fn new_oom_kills(&mut self) -> u64 {
        let now = self.group.oom_kills().unwrap_or(self.oom_kills);
        let new = now.saturating_sub(self.oom_kills);
        self.oom_kills = now;
        new
    }

    /// The highest charge the kernel recorded for the group.
    pub fn kernel_peak(&self) -> Option<u64> {
        self.group.peak_bytes()
    }
}

/// What a percentage of `--limit` or `--warn` is a share of: the `ambient` limit of the cgroup
/// memwarden runs under when there is one (never above RAM), else RAM; the same
/// rule as the library's `Reference::Auto`. Read `ambient` before the run's own group exists:
/// memwarden may move itself into a leaf of its scope to create it, and that leaf has no
/// limit of its own.
pub fn reference_bytes(mem_total: u64, ambient: Option<u64>) -> u64 {
    ambient.map_or(mem_total, |limit| limit.min(mem_total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        dir
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn v2_gets_max_high_and_no_swap() {
        let g = fake(&[
            ("cgroup.procs", ""),
            ("memory.current", "0\n"),
            ("memory.max", "max\n"),
            ("memory.high", "max\n"),
            ("memory.swap.max", "max\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
        ]);
        let mut limit = KernelLimit::apply(g.path(), CgroupVersion::V2, 400 << 20).unwrap();
        assert_eq!(read(g.path(), "memory.max"), (400u64 << 20).to_string());
        assert_eq!(read(g.path(), "memory.high"), (380u64 << 20).to_string());
        assert_eq!(read(g.path(), "memory.swap.max"), "0");
        assert_eq!(limit.bytes(), 400 << 20);
        let said = limit.describe();
        assert!(
            said.contains("400.0 MiB") && said.contains("memory.high") && said.contains("swap"),
            "{said}"
        );

        assert_eq!(limit.new_oom_kills(), 0);
        std::fs::write(
            g.path().join("memory.events"),
            "low 0\nhigh 9\nmax 4\noom 1\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(limit.new_oom_kills(), 2);
        assert_eq!(limit.new_oom_kills(), 0, "each kill is counted once");
    }

    #[test]
    fn v2_without_swap_accounting_still_limits() {
        let g = fake(&[("cgroup.procs", ""), ("memory.max", "max\n")]);
        let limit = KernelLimit::apply(g.path(), CgroupVersion::V2, 1 << 30).unwrap();
        assert_eq!(read(g.path(), "memory.max"), (1u64 << 30).to_string());
        assert!(!limit.describe().contains("swap"));
    }

    #[test]
    fn v1_limits_memory_then_memory_and_swap() {
        let g = fake(&[
            ("cgroup.procs", ""),
            ("memory.usage_in_bytes", "0\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
        ]);
        let mut limit = KernelLimit::apply(g.path(), CgroupVersion::V1, 64 << 20).unwrap();
        assert_eq!(
            read(g.path(), "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            read(g.path(), "memory.memsw.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            limit.new_oom_kills(),
            0,
            "kills before the run are not the run's"
        );
    }

    #[test]
    fn an_unwritable_group_is_refused_with_the_reason() {
        let g = tempfile::tempdir().unwrap();
        let missing = g.path().join("gone");
        let err = KernelLimit::apply(&missing, CgroupVersion::V1, 1 << 20).unwrap_err();
        assert!(err.contains("memory.limit_in_bytes"), "{err}");
    }

    #[test]
    fn the_reference_is_never_above_ram() {
        let ram = 1u64 << 40;
        assert!(reference_bytes(ram, Cgroup::own_limit()) <= ram);
        assert_eq!(reference_bytes(1, Cgroup::own_limit()), 1);
        assert_eq!(reference_bytes(100, Some(40)), 40);
        assert_eq!(reference_bytes(100, None), 100);
    }
}
