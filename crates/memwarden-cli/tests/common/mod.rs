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
        self.command(Path::new(env!("CARGO_BIN_EXE_memwarden")))
    }

    /// The memwarden binary at `bin` (a copy of it), set up as [`Lab::memwarden`].
    pub fn command(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.current_dir(self.dir.path())
            .env("MEMWARDEN_DB", self.db())
            .env_remove("MEMWARDEN_CGROUP_PARENT")
            .stdin(Stdio::null());
        c
    }

    /// `memwarden ARGS` as the unprivileged user `nobody` (a world-readable copy of the
    /// binary, the lab made world-writable for its store); `None` when not root, or when
    /// there is no interpreter `nobody` can run at /usr/bin/python3.
    pub fn as_nobody(&self) -> Option<Command> {
        use std::os::unix::fs::PermissionsExt;
        if !is_root() || !Path::new("/usr/bin/python3").exists() {
            eprintln!("skipped: running as nobody needs root and /usr/bin/python3");
            return None;
        }
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o777)).ok()?;
        let bin = self.path("memwarden");
        std::fs::copy(env!("CARGO_BIN_EXE_memwarden"), &bin).ok()?;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).ok()?;
        let mut command = self.command(&bin);
        drop_to_nobody(&mut command);
        Some(command)
    }

    /// Runs memwarden to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.memwarden()
            .args(args)
            .output()
            .expect("memwarden runs")
    }

    /// Records the Python `script` as `LABEL.py` under `label`, sampled every `interval`; the
    /// run must succeed.
    pub fn record(&self, label: &str, script: &str, interval: &str) {
        let file = format!("{label}.py");
        self.script(&file, script);
        let py = python();
        let out = self.run(&[
            "run",
            "-q",
            "--interval",
            interval,
            "--label",
            label,
            "--",
            &py,
            &file,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Writes the HTML report of `run` (the last run for `None`) to `file` in the lab.
    pub fn html_report(&self, run: Option<&str>, file: &str) -> PathBuf {
        let page = self.path(file);
        let mut args = vec!["report"];
        args.extend(run);
        args.extend(["--format", "html", "-o", page.to_str().unwrap()]);
        let out = self.run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        page
    }

    /// The runs of this lab's store, as `ls --format json` lists them (oldest first).
    pub fn runs(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["ls", "--format", "json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout_json(&out).as_array().expect("a JSON array").clone()
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

/// The JSON a command printed; a panic shows its stderr.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(out)))
}

/// A child leading its own process group, killed with the whole group when dropped, so a
/// test that panics leaves nothing behind. The group is named by the leader's PID, so the
/// leader is reaped only here, after the kill (a reaped PID could be another's by then).
pub struct Group(std::process::Child);

impl Group {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(command: &mut Command) -> Group {
        use std::os::unix::process::CommandExt;
        Group(command.process_group(0).spawn().expect("spawn"))
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group this child leads; it has not been reaped yet.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

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

/// The `mode` a run placed in a cgroup of its own reports here (as root): `cgroup-v2` when a
/// mounted v2 hierarchy has the memory controller (memwarden tries v2 first), else `cgroup-v1`.
pub fn expected_cgroup_mode() -> &'static str {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let v2_memory = mounts
        .lines()
        .filter(|l| l.contains(" - cgroup2 "))
        .filter_map(|l| l.split(' ').nth(4))
        .any(|dir| {
            std::fs::read_to_string(Path::new(dir).join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
        });
    if v2_memory {
        "cgroup-v2"
    } else {
        "cgroup-v1"
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

/// Makes `command` run as user and group nobody (65534), without supplementary groups.
pub fn drop_to_nobody(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
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

/// A run written straight into a lab's store with fixed times and values, so reports of it
/// are the same on every machine (golden files, long runs, filters).
#[derive(Debug, Clone)]
pub struct FakeRun {
    pub label: String,
    pub command: Vec<String>,
    pub started_unix_ms: i64,
    pub interval_s: f64,
    pub duration_s: f64,
    pub options: serde_json::Value,
    pub verdict: Option<serde_json::Value>,
    pub exit_code: Option<i32>,
    pub samples: Vec<FakeSample>,
    /// `(pid, command, first_seen_s, last_seen_s, first_anon, last_anon, peak_anon)`.
    pub processes: Vec<(u32, String, f64, f64, u64, u64, u64)>,
    /// `(at_s, kind, detail)`.
    pub events: Vec<(f64, String, String)>,
}

/// One sample of a [`FakeRun`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeSample {
    pub t: f64,
    pub anon: u64,
    pub rss: u64,
    pub swap: u64,
    pub pss: Option<u64>,
    pub threads: u64,
    pub fds: u64,
    pub processes: u32,
    pub cgroup: Option<u64>,
    pub mem_available: u64,
    pub psi_some: Option<f64>,
    pub psi_full: Option<f64>,
}

impl FakeRun {
    /// A run labelled `label` started at `started_unix_ms`, with no samples yet.
    pub fn new(label: &str, started_unix_ms: i64) -> FakeRun {
        FakeRun {
            label: label.to_string(),
            command: vec!["python3".into(), format!("{label}.py")],
            started_unix_ms,
            interval_s: 1.0,
            duration_s: 0.0,
            options: serde_json::json!({"interval": "1s", "metric": "anon"}),
            verdict: None,
            exit_code: Some(0),
            samples: Vec::new(),
            processes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Inserts the run and returns its id.
    pub fn insert(&self, conn: &mut rusqlite::Connection) -> i64 {
        use rusqlite::params;
        let tx = conn.transaction().unwrap();
        let secs = self.started_unix_ms / 1000;
        let started_at = rfc3339(secs);
        let peak = self.samples.iter().map(|s| s.anon).max().unwrap_or(0);
        tx.execute(
            "INSERT INTO runs (kind, label, command, host, started_at, started_unix_ms, interval_s,
                mode, metric, mem_total_bytes, options, ended_unix_ms, duration_s, exit_code,
                exit_signal, stopped_by, status, peak_bytes, verdict)
             VALUES ('run', ?1, ?2, 'testhost', ?3, ?4, ?5, 'cgroup-v2', 'anon', ?6, ?7, ?8, ?9,
                ?10, NULL, NULL, ?11, ?12, ?13)",
            params![
                self.label,
                serde_json::to_string(&self.command).unwrap(),
                started_at,
                self.started_unix_ms,
                self.interval_s,
                16i64 << 30,
                self.options.to_string(),
                self.started_unix_ms + (self.duration_s * 1000.0) as i64,
                self.duration_s,
                self.exit_code,
                self.exit_code.unwrap_or(0),
                peak as i64,
                self.verdict.as_ref().map(|v| v.to_string()),
            ],
        )
        .unwrap();
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO samples (run_id, t, rss, anon, swap, pss, threads, fds,
                        processes, cgroup, mem_available, psi_some, psi_full)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .unwrap();
            for s in &self.samples {
                stmt.execute(params![
                    id,
                    s.t,
                    s.rss as i64,
                    s.anon as i64,
                    s.swap as i64,
                    s.pss.map(|v| v as i64),
                    s.threads as i64,
                    s.fds as i64,
                    s.processes,
                    s.cgroup.map(|v| v as i64),
                    s.mem_available as i64,
                    s.psi_some,
                    s.psi_full,
                ])
                .unwrap();
            }
            let mut stmt = tx
                .prepare(
                    "INSERT INTO processes (run_id, pid, start_ticks, ppid, command, first_seen_s,
                        last_seen_s, first_anon, last_anon, peak_anon, peak_at_s, peak_rss,
                        peak_threads, peak_fds, exited)
                     VALUES (?1, ?2, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?5, ?8, 1, 4, 1)",
                )
                .unwrap();
            for (pid, command, first, last, first_anon, last_anon, peak) in &self.processes {
                stmt.execute(params![
                    id,
                    pid,
                    command,
                    first,
                    last,
                    *first_anon as i64,
                    *last_anon as i64,
                    *peak as i64
                ])
                .unwrap();
            }
            let mut stmt = tx
                .prepare("INSERT INTO events (run_id, at_s, kind, detail) VALUES (?1, ?2, ?3, ?4)")
                .unwrap();
            for (at, kind, detail) in &self.events {
                stmt.execute(params![id, at, kind, detail]).unwrap();
            }
        }
        tx.commit().unwrap();
        id
    }
}

/// `2024-05-01T10:00:00Z` for seconds since the epoch (UTC).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Lab {
    /// Creates this lab's database with memwarden's own schema (memwarden migrates an empty
    /// file when it opens it) and opens it for inserting [`FakeRun`]s.
    pub fn fake_store(&self) -> rusqlite::Connection {
        std::fs::write(self.db(), b"").expect("create the database file");
        let out = self.run(&["ls"]);
        assert!(out.status.success(), "{}", stderr(&out));
        rusqlite::Connection::open(self.db()).expect("open the lab's database")
    }
}

/// Compares `actual` with the golden file `tests/golden/NAME`; `UPDATE_GOLDEN=1` rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}; create it with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the output (rerun with UPDATE_GOLDEN=1 if the change is intended)\n\
         --- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A short Python program that grows steadily: 2 MiB every 20 ms, kept (about a second).
pub const LEAK: &str = r#"
import time
keep = []
for i in range(50):
    b = bytearray(2 << 20)
    for j in range(0, len(b), 4096): b[j] = 1
    keep.append(b)
    time.sleep(0.02)
time.sleep(0.2)
"#;
