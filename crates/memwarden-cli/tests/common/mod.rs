//! Helpers shared by the integration tests: the built binary, a private database per test,
//! scripts written to a temporary directory, and polling with a deadline.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory with its own run database.
pub struct Lab {
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> PathBuf {
        self.path("runs.db")
    }

    /// Writes a script into the lab and returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, body).expect("write script");
        p
    }

    /// `memwarden ARGS` with this lab's database, run in the lab directory.
    pub fn memwarden(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_memwarden"));
        c.current_dir(self.dir.path())
            .env("MEMWARDEN_DB", self.db())
            .env_remove("MEMWARDEN_CGROUP_PARENT")
            .stdin(Stdio::null());
        c
    }

    /// Runs memwarden to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.memwarden()
            .args(args)
            .output()
            .expect("memwarden runs")
    }

    /// Runs memwarden with `--json` and returns its output and the parsed report.
    pub fn run_json(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let json = self.path("report.json");
        let _ = std::fs::remove_file(&json);
        let (before, after) = split_at_dashes(args);
        let mut all: Vec<&str> = before.to_vec();
        let json_s = json.to_str().unwrap().to_string();
        all.extend(["--json", &json_s]);
        all.extend(after);
        let out = self.run(&all);
        let text = std::fs::read_to_string(&json)
            .unwrap_or_else(|_| panic!("no JSON report; stderr: {}", stderr(&out)));
        (out, serde_json::from_str(&text).expect("valid JSON"))
    }
}

fn split_at_dashes<'a>(args: &'a [&'a str]) -> (&'a [&'a str], &'a [&'a str]) {
    match args.iter().position(|a| *a == "--") {
        Some(i) => args.split_at(i),
        None => (args, &[]),
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub const MIB: u64 = 1 << 20;

/// Polls `f` until it gives `Some`, or panics naming `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a process with this PID exists (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Reads a PID a script wrote to `path`, waiting for it to appear.
pub fn read_pid(path: &Path) -> u32 {
    wait_for(
        &format!("a pid in {}", path.display()),
        Duration::from_secs(20),
        || std::fs::read_to_string(path).ok()?.trim().parse().ok(),
    )
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The real Python interpreter (not a version manager's shim, whose helper processes would
/// crowd a test's tree).
pub fn python() -> String {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is installed");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    })
    .clone()
}
