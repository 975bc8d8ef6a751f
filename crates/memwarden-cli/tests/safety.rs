//! What memwarden must never do, on real processes: stop itself, its ancestors, init or a
//! kernel thread; kill a program with a signal meant to ask it to clean up; claim a stop
//! that did not happen. And what stays after the command: `--wait tree`, `--keep-leftovers`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn events_of(r: &serde_json::Value, kind: &str) -> Vec<String> {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect()
}

/// `memwarden ARGS…` from a shell that stays memwarden's parent (it does not exec it), with
/// `$$` — the shell's PID, memwarden's ancestor — in the arguments.
fn from_a_shell(lab: &Lab, args: &str) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_memwarden");
    Command::new("bash")
        .args(["-c", &format!("{bin} {args}; exit $?")])
        .current_dir(lab.dir.path())
        .env("MEMWARDEN_DB", lab.db())
        .output()
        .unwrap()
}

#[test]
fn watch_refuses_to_act_on_its_own_ancestor_and_only_observes_it() {
    let lab = Lab::new();
    let out = from_a_shell(&lab, "watch --timeout 1s $$");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is an ancestor of memwarden"), "{err}");
    // Without an action it may watch (its descendants include memwarden, never signalled).
    let out = from_a_shell(&lab, "watch -q --interval 50ms --duration 300ms $$");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("observing only"), "{}", stderr(&out));
}

#[test]
fn watch_refuses_init_in_a_pid_namespace_and_kernel_threads() {
    if !is_root() {
        eprintln!("skipped: a PID namespace needs root");
        return;
    }
    let lab = Lab::new();
    let bin = env!("CARGO_BIN_EXE_memwarden");
    // In its own PID namespace, `sleep` is PID 1 and memwarden runs beside it.
    let script =
        format!("sleep 30 & sleep 0.2; {bin} watch --timeout 1s 1; echo \"status $?\"; kill %1");
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "bash", "-c", &script])
        .current_dir(lab.dir.path())
        .env("MEMWARDEN_DB", lab.db())
        .output()
        .unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("status 2"), "{text}\n{err}");
    assert!(err.contains("pid 1 is init"), "{err}");
    // kthreadd is PID 2 in the machine's namespace.
    let out = lab.run(&["watch", "--duration", "1s", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("kernel thread"), "{}", stderr(&out));
}

/// Allocates about 40 MiB in steps, without a handler for USR1, then exits 0.
const NO_HANDLER: &str = r#"
import time
chunks = []
for _ in range(8):
    chunks.append(bytearray(5 << 20))
    time.sleep(0.1)
time.sleep(1)
"#;

#[test]
fn a_warning_signal_is_not_sent_to_a_program_it_would_kill() {
    let lab = Lab::new();
    lab.script("plain.py", NO_HANDLER);
    let (out, r) = lab.run_json(&[
        "run",
        "--interval",
        "20ms",
        "--warn",
        "20MiB",
        "--on-warn",
        "signal:USR1",
        "--",
        &python(),
        "plain.py",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "not killed by USR1: {err}");
    assert_eq!(events_of(&r, "warn").len(), 1, "{r}");
    let actions = events_of(&r, "action");
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        actions[0].contains("did not send USR1") && actions[0].contains("no handler"),
        "{actions:?}"
    );
    assert!(
        err.contains("memwarden: did not send USR1"),
        "said live: {err}"
    );
}

/// Holds 50 MiB for 30 s (as root, so `nobody` cannot signal it).
const ROOTS_HOG: &str = "import time\nb = bytearray(50 << 20)\ntime.sleep(30)\n";

#[test]
fn a_stop_that_could_not_happen_is_named_and_not_claimed() {
    let lab = Lab::new();
    let Some(mut nobody) = lab.as_nobody() else {
        return;
    };
    lab.script("hog.py", ROOTS_HOG);
    let hog = Group::spawn(
        Command::new("/usr/bin/python3")
            .arg("hog.py")
            .current_dir(lab.dir.path()),
    );
    let pid = hog.id();
    wait_for("the hog's 50 MiB", Duration::from_secs(20), || {
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        (pages * 4096 > 40 << 20).then_some(())
    });
    let out = nobody
        .args(["watch", "--limit", "10MiB", "--grace", "100ms", "--json"])
        .arg(lab.path("r.json"))
        .arg(pid.to_string())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_ne!(
        out.status.code(),
        Some(121),
        "121 means the tree is gone: {err}"
    );
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains(&format!("could not stop 1 process: {pid}")),
        "{err}"
    );
    assert!(alive(pid), "the root's process was out of nobody's reach");
}

/// Starts a daemon (double fork, its stdio on /dev/null as daemons do) that lives `argv[1]`
/// seconds, writes its PID, and exits 3.
const DAEMONIZES: &str = r#"
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        open("daemon.pid.tmp", "w").write(str(os.getpid()))
        os.rename("daemon.pid.tmp", "daemon.pid")
        time.sleep(float(sys.argv[1]))
        os._exit(0)
    os._exit(0)
while not os.path.exists("daemon.pid"):
    time.sleep(0.01)
sys.exit(3)
"#;

#[test]
fn wait_tree_lasts_while_the_daemon_lives() {
    let lab = Lab::new();
    lab.script("d.py", DAEMONIZES);
    let (out, r) = lab.run_json(&[
        "run",
        "--interval",
        "50ms",
        "--wait",
        "tree",
        "--",
        &python(),
        "d.py",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(events_of(&r, "leftovers").is_empty(), "{r}");
    assert!(r["duration_s"].as_f64().unwrap() >= 1.5, "{r}");
    assert!(r["stopped_by"].is_null());
}

#[test]
fn leftovers_are_stopped_by_default_or_kept_when_asked() {
    let lab = Lab::new();
    lab.script("d.py", DAEMONIZES);
    let (out, r) = lab.run_json(&["run", "--", &python(), "d.py", "60"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let daemon = read_pid(&lab.path("daemon.pid"));
    let left = events_of(&r, "leftovers");
    assert!(left[0].contains("stopping them"), "{left:?}");
    assert!(!alive(daemon), "stopped as a leftover");

    std::fs::remove_file(lab.path("daemon.pid")).unwrap();
    let (out, r) = lab.run_json(&["run", "--keep-leftovers", "--", &python(), "d.py", "60"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let daemon = read_pid(&lab.path("daemon.pid"));
    let left = events_of(&r, "leftovers");
    assert!(left[0].contains("left running"), "{left:?}");
    let kept = alive(daemon);
    // SAFETY: the daemon this test started.
    unsafe { libc::kill(daemon as i32, libc::SIGKILL) };
    assert!(kept, "--keep-leftovers left it running");
}

/// Daemonizes a child (its stdio on /dev/null) that lives a minute, then sleeps itself.
const DAEMON_THEN_SLEEP: &str = r#"
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        open("daemon.pid.tmp", "w").write(str(os.getpid()))
        os.rename("daemon.pid.tmp", "daemon.pid")
        time.sleep(60)
        os._exit(0)
    os._exit(0)
time.sleep(60)
"#;

#[test]
fn a_run_whose_memwarden_died_is_said_so_and_the_next_run_reclaims_its_cgroup() {
    if !is_root() || expected_cgroup_mode() == "process-tree" {
        eprintln!("skipped: a run's own cgroup needs root and a memory controller");
        return;
    }
    let lab = Lab::new();
    lab.script("d.py", DAEMON_THEN_SLEEP);
    let mut memwarden = lab.memwarden();
    memwarden
        .args(["run", "-q", "--interval", "100ms", "--", &python(), "d.py"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut dying = memwarden.spawn().unwrap();
    let daemon = read_pid(&lab.path("daemon.pid"));
    let started = wait_for("the run's start event", Duration::from_secs(20), || {
        let r = stdout_json(&lab.run(&["report", "--format", "json"]));
        let start = events_of(&r, "start").into_iter().next()?;
        Some(start)
    });
    let dir = started
        .split(" in ")
        .nth(1)
        .expect("the start event names the run's cgroup")
        .to_string();
    dying.kill().unwrap();
    dying.wait().unwrap();
    assert!(alive(daemon), "the daemon outlived its memwarden");
    let ls = stdout_json(&lab.run(&["ls", "--format", "json"]));
    assert_eq!(ls[0]["state"], "memwarden-died", "{ls}");

    let out = lab.run(&["run", "--", "true"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("whose memwarden died, left 1 process"),
        "{err}"
    );
    assert!(err.contains("removed the cgroup"), "{err}");
    assert!(!alive(daemon), "reclaimed");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} removed");
}

#[test]
fn act_before_stops_a_rising_tree_before_its_limit_as_a_leak() {
    let lab = Lab::new();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/s1_spawner/leaky.py"
    );
    // S1 leaks ~30 MiB/s: at that rate a 2 GiB limit is about a minute away, within 10m as
    // soon as the rise is seen.
    let (out, r) = lab.run_json(&[
        "run",
        "--interval",
        "200ms",
        "--limit",
        "2GiB",
        "--act-before",
        "10m",
        "--on-leak",
        "stop",
        "--grace",
        "1s",
        "--",
        &python(),
        scenario,
        "--duration",
        "120",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(121), "{err}");
    assert_eq!(r["stopped_by"], "leak", "{r}");
    let leak = events_of(&r, "leak");
    assert!(leak[0].contains("within --act-before 10m"), "{leak:?}");
    assert!(
        events_of(&r, "limit").is_empty(),
        "stopped before the limit: {r}"
    );
    assert!(
        r["memory"]["peak_rss_bytes"].as_u64().unwrap() < 2 << 30,
        "{}",
        r["memory"]
    );
}
