//! `memwarden run` on real process trees: sums, re-parented daemons, exit codes, signals.

mod common;

use std::time::Duration;

use common::*;

const FORK3: &str = r#"
import os, sys, time
kids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        b = bytearray(60 * 1024 * 1024)
        for j in range(0, len(b), 4096): b[j] = 1
        time.sleep(1.0)
        os._exit(0)
    kids.append(pid)
for p in kids: os.waitpid(p, 0)
sys.exit(7)
"#;

#[test]
fn three_children_of_60_mib_are_summed_and_the_exit_status_kept() {
    let lab = Lab::new();
    lab.script("fork3.py", FORK3);
    let (out, r) = lab.run_json(&["run", "--interval", "100ms", "--", "python3", "fork3.py"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(r["processes"]["seen"].as_u64().unwrap() >= 4, "{r}");
    assert!(
        r["memory"]["peak_bytes"].as_u64().unwrap() >= 150 * MIB,
        "{r}"
    );
    assert_eq!(r["exit"]["code"], 7);
    assert_eq!(r["schema"], 1);
    let summary = stderr(&out);
    assert!(
        summary.contains("exited with status 7") && summary.contains("stored"),
        "{summary}"
    );

    let ls = lab.run(&["ls"]);
    assert!(ls.status.success());
    assert!(stdout(&ls).contains("python3 fork3.py"), "{}", stdout(&ls));
    let listed = lab.run(&["ls", "--format", "json"]);
    let rows: serde_json::Value = stdout_json(&listed);
    assert_eq!(rows[0]["label"], "python3 fork3.py");
    assert_eq!(rows[0]["status"], 7);
}

/// A single process holding a known amount of anonymous memory (MiB, argv[1]), saying so in
/// argv[2], for argv[3] seconds.
const HOLD: &str = r#"
import sys, time
n = int(sys.argv[1])
b = bytearray(n * 1024 * 1024)
for j in range(0, len(b), 4096): b[j] = 1
open(sys.argv[2], "w").write("ready")
time.sleep(float(sys.argv[3]))
"#;

fn tree_sum_matches_a_known_allocation(mode: &[&str]) {
    let lab = Lab::new();
    lab.script("hold.py", HOLD);
    let mut args = vec!["run", "--interval", "50ms"];
    args.extend(mode);
    args.extend(["--", "python3", "hold.py", "100", "ready", "0.5"]);
    let (out, r) = lab.run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let peak = r["memory"]["peak_bytes"].as_u64().unwrap();
    // 100 MiB touched, plus the interpreter's own few MiB (and the pyenv shim's shell).
    assert!((100 * MIB..130 * MIB).contains(&peak), "peak {peak} in {r}");
    let top = &r["processes"]["top"][0];
    assert!(top["peak_bytes"].as_u64().unwrap() >= 100 * MIB, "{top}");
    assert!(
        top["command"].as_str().unwrap().contains("hold.py"),
        "{top}"
    );
}

#[test]
fn tree_sum_matches_a_known_allocation_in_a_cgroup() {
    tree_sum_matches_a_known_allocation(&[]);
}

#[test]
fn tree_sum_matches_a_known_allocation_by_parent_links() {
    tree_sum_matches_a_known_allocation(&["--no-cgroup"]);
}

/// Double-forks a daemon holding 50 MiB that ignores TERM, writes its PID, and exits.
const DAEMONIZE: &str = r#"
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        b = bytearray(50 * 1024 * 1024)
        for j in range(0, len(b), 4096): b[j] = 1
        open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(600)
        os._exit(0)
    os._exit(0)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
time.sleep(0.3)
"#;

fn daemons_are_seen_then_stopped(mode: &[&str], expect_mode: &str) {
    let lab = Lab::new();
    lab.script("daemonize.py", DAEMONIZE);
    let mut args = vec!["run", "--interval", "50ms"];
    args.extend(mode);
    args.extend(["--", "python3", "daemonize.py", "daemon.pid"]);
    let (out, r) = lab.run_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r["mode"], expect_mode);
    let daemon = read_pid(&lab.path("daemon.pid"));
    assert!(
        !alive(daemon),
        "the daemonized grandchild {daemon} outlived the run"
    );
    assert!(
        r["memory"]["peak_bytes"].as_u64().unwrap() >= 50 * MIB,
        "{r}"
    );
    let events = r["events"].as_array().unwrap();
    let leftovers = events
        .iter()
        .find(|e| e["kind"] == "leftovers")
        .expect("a leftovers event");
    assert!(
        leftovers["detail"]
            .as_str()
            .unwrap()
            .contains(&daemon.to_string()),
        "{leftovers}"
    );
    let stop = events
        .iter()
        .find(|e| e["kind"] == "stop")
        .expect("a stop event");
    assert!(
        stop["detail"].as_str().unwrap().contains("1 needed KILL"),
        "{stop}"
    );
    // The stored run tells the same story, the leftovers' teardown included.
    let stored = lab.run(&["report", "--format", "json"]);
    let stored: serde_json::Value = stdout_json(&stored);
    for field in ["memory", "resources", "verdict", "samples"] {
        assert_eq!(stored[field], r[field], "{field}");
    }
}

#[test]
fn a_double_forked_daemon_is_in_the_cgroup_and_stopped() {
    if !is_root() {
        eprintln!("skipped: creating a cgroup here needs root");
        return;
    }
    daemons_are_seen_then_stopped(&["--grace", "200ms"], expected_cgroup_mode());
}

#[test]
fn a_double_forked_daemon_is_adopted_and_stopped_without_a_cgroup() {
    daemons_are_seen_then_stopped(&["--no-cgroup", "--grace", "200ms"], "process-tree");
}

#[test]
fn exit_codes_follow_the_contract() {
    let lab = Lab::new();
    let code = |args: &[&str]| lab.run(args).status.code();
    assert_eq!(code(&["run", "-q", "--", "sh", "-c", "exit 3"]), Some(3));
    assert_eq!(code(&["run", "-q", "--", "sh", "-c", "exit 0"]), Some(0));
    assert_eq!(
        code(&["run", "-q", "--", "sh", "-c", "kill -TERM $$"]),
        Some(143)
    );
    assert_eq!(
        code(&["run", "-q", "--", "sh", "-c", "kill -KILL $$"]),
        Some(137)
    );

    let out = lab.run(&["run", "--", "no-such-command-memwarden"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("command not found"),
        "{}",
        stderr(&out)
    );

    let script = lab.script("not-executable.sh", "#!/bin/sh\nexit 0\n");
    let out = lab.run(&["run", "--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(stderr(&out).contains("cannot execute"), "{}", stderr(&out));

    let out = lab.run(&["run", "--interval", "soon", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--interval"), "{}", stderr(&out));
    assert_eq!(code(&["run"]), Some(2));
}

/// Exits with 10 + the number of the signal it received.
const TRAP: &str = r#"
import os, signal, sys, time
def handler(sig, frame):
    sys.exit(10 + sig)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(s, handler)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
sys.exit(99)
"#;

#[test]
fn signals_are_forwarded_to_the_command() {
    let lab = Lab::new();
    lab.script("trap.py", TRAP);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        let ready = lab.path(&format!("ready-{sig}"));
        let json = lab.path(&format!("trap-{sig}.json"));
        let mut child = lab
            .memwarden()
            .args(["run", "-q", "--interval", "50ms", "--json"])
            .arg(&json)
            .args(["--", "python3", "trap.py"])
            .arg(&ready)
            .spawn()
            .unwrap();
        read_pid(&ready);
        // SAFETY: signalling the memwarden we started.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(10 + sig), "signal {sig}");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        // The command handled the signal and exited by itself: memwarden stopped nothing.
        assert_eq!(r["stopped_by"], serde_json::Value::Null, "{r}");
        assert!(
            r["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "signal"
                    && e["detail"].as_str().unwrap().starts_with("forwarded")),
            "{r}"
        );
    }
}

/// Ignores TERM and INT, forks a child that does too, and says when both are ready.
const DEAF: &str = r#"
import os, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, signal.SIG_IGN)
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"#;

#[test]
fn a_second_interrupt_stops_a_tree_that_ignores_the_first() {
    let lab = Lab::new();
    lab.script("deaf.py", DEAF);
    let ready = lab.path("ready");
    let json = lab.path("deaf.json");
    let mut child = lab
        .memwarden()
        .args(["run", "--interval", "50ms", "--grace", "200ms", "--json"])
        .arg(&json)
        .args(["--", "python3", "deaf.py"])
        .arg(&ready)
        .spawn()
        .unwrap();
    read_pid(&ready);
    // SAFETY: signalling the memwarden we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let db_says_forwarded = || {
        let out = lab.run(&["report", "--format", "json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        r["events"]
            .as_array()?
            .iter()
            .any(|e| e["kind"] == "signal")
            .then_some(())
    };
    wait_for(
        "the forwarded signal's event",
        Duration::from_secs(10),
        db_says_forwarded,
    );
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "as a shell reports an interrupted job"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["stopped_by"], "interrupt", "{r}");
    let stops: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "stop")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    // Both ignored TERM: the command and its child needed KILL.
    assert!(
        stops
            .iter()
            .any(|s| s.contains("2 sent TERM, 2 needed KILL")),
        "{stops:?}"
    );
}

#[test]
fn the_command_dies_with_memwarden() {
    let lab = Lab::new();
    lab.script("trap.py", TRAP);
    let ready = lab.path("ready");
    let mut mw = lab
        .memwarden()
        .args(["run", "-q", "--no-cgroup", "--", "python3", "trap.py"])
        .arg(&ready)
        .spawn()
        .unwrap();
    let pid = read_pid(&ready);
    mw.kill().unwrap();
    mw.wait().unwrap();
    wait_for(
        "the command to die with memwarden",
        Duration::from_secs(10),
        || (!alive(pid)).then_some(()),
    );
}

#[test]
fn report_reads_back_what_the_run_wrote() {
    let lab = Lab::new();
    lab.script("hold.py", HOLD);
    let (out, live) = lab.run_json(&[
        "run",
        "--interval",
        "50ms",
        "--label",
        "hold-40",
        "--",
        "python3",
        "hold.py",
        "40",
        "r",
        "0.3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = lab.run(&["report", "hold-40", "--format", "json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let stored: serde_json::Value = stdout_json(&again);
    for field in [
        "run_id",
        "label",
        "command",
        "samples",
        "exit",
        "memory",
        "processes",
        "mode",
    ] {
        assert_eq!(stored[field], live[field], "field {field}");
    }
    assert_eq!(
        stored["events"].as_array().unwrap().len(),
        live["events"].as_array().unwrap().len()
    );
    let text = lab.run(&["report"]);
    let text = stdout(&text);
    assert!(
        text.contains("hold-40") && text.contains("largest processes") && text.contains("hold.py"),
        "{text}"
    );
    let missing = lab.run(&["report", "no-such-run"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no run with id or label 'no-such-run'"));
}
