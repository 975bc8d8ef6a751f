//! `memwarden watch` on running trees: big trees at 10 ms, processes vanishing, reused PIDs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn a_bash_with_500_sleeping_children_is_sampled_at_10ms() {
    let lab = Lab::new();
    let ready = lab.path("ready");
    // The children are in bash's process group, which goes when the test ends (or fails).
    let script = format!(
        "for i in $(seq 500); do sleep 120 & done; echo > {}; wait",
        ready.display()
    );
    let bash = Group::spawn(Command::new("bash").args(["-c", &script]));
    wait_for("500 children", Duration::from_secs(30), || {
        ready.exists().then_some(())
    });
    let pid = bash.id().to_string();
    let (out, r) = lab.run_json(&["watch", "--interval", "10ms", "--duration", "10s", &pid]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        r["samples"].as_u64().unwrap() >= 200,
        "samples: {}",
        r["samples"]
    );
    assert_eq!(r["processes"]["max_alive"], 501);
    assert_eq!(r["processes"]["seen"], 501);
    assert_eq!(r["resources"]["threads"]["peak"], 501);
    assert_eq!(r["kind"], "watch");
    assert!(r["exit"].is_null());
}

#[test]
fn watching_a_missing_pid_is_a_clear_usage_error() {
    let lab = Lab::new();
    let out = lab.run(&["watch", "4194300"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no process with PID 4194300"),
        "{}",
        stderr(&out)
    );
    let out = lab.run(&["watch", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn processes_vanishing_mid_sample_are_not_errors() {
    let lab = Lab::new();
    // A shell forking short-lived children as fast as it can for two seconds.
    let churn = Group::spawn(Command::new("bash").args([
        "-c",
        "end=$((SECONDS+2)); while [ $SECONDS -lt $end ]; do /bin/true; done",
    ]));
    let pid = churn.id().to_string();
    let (out, r) = lab.run_json(&["watch", "--interval", "10ms", &pid]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        r["processes"]["seen"].as_u64().unwrap() > 10,
        "{}",
        r["processes"]
    );
    let events = r["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["kind"] == "exit"),
        "the watch ends when the tree is gone"
    );
}

/// Starts a child, lets memwarden see it, kills it, waits until memwarden has let go of it,
/// then forks a new child onto the same PID (through ns_last_pid) and waits until memwarden
/// holds it too. Every wait is on memwarden's own descriptors, so nothing depends on timing.
const REUSE: &str = r#"
import os, subprocess, sys, time
def held(pid):
    me = int(open("mw.pid").read())
    target = "/proc/%d/statm" % pid
    n = 0
    for fd in os.listdir("/proc/%d/fd" % me):
        try:
            if os.readlink("/proc/%d/fd/%s" % (me, fd)) == target: n += 1
        except OSError: pass
    return n
def until(cond, limit=60):
    end = time.time() + limit
    while not cond():
        if time.time() > end: sys.exit("timed out")
        time.sleep(0.005)
until(lambda: os.path.exists("mw.pid"))
a = subprocess.Popen(["sleep", "60"])
until(lambda: held(a.pid) == 1)
start_a = open("/proc/%d/stat" % a.pid).read().rsplit(")", 1)[1].split()[19]
a.kill(); a.wait()
until(lambda: held(a.pid) == 0)
for attempt in range(50):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f: f.write(str(a.pid - 1))
    b = subprocess.Popen(["sleep", "60"])
    if b.pid == a.pid: break
    b.kill(); b.wait()
else:
    sys.exit("could not get pid %d again" % a.pid)
until(lambda: held(b.pid) == 1)
start_b = open("/proc/%d/stat" % b.pid).read().rsplit(")", 1)[1].split()[19]
assert start_a != start_b
open("reused", "w").write("%d %s %s" % (a.pid, start_a, start_b))
b.kill(); b.wait()
"#;

#[test]
fn a_reused_pid_is_told_apart() {
    if !is_root() {
        eprintln!("skipped: forcing a PID through ns_last_pid needs root");
        return;
    }
    let lab = Lab::new();
    lab.script("reuse.py", REUSE);
    let py = Group::spawn(
        Command::new(python())
            .arg("reuse.py")
            .current_dir(lab.dir.path()),
    );
    let pid = py.id().to_string();
    let mut mw = lab
        .memwarden()
        .args(["watch", "-q", "--interval", "10ms", &pid])
        .spawn()
        .unwrap();
    std::fs::write(lab.path("mw.pid"), mw.id().to_string()).unwrap();
    let status = mw.wait().unwrap();
    assert!(status.success());
    let reused = std::fs::read_to_string(lab.path("reused")).expect("the script reused a PID");
    let reused_pid: u64 = reused.split(' ').next().unwrap().parse().unwrap();
    let out = lab.run(&["report", "--format", "json"]);
    let r: serde_json::Value = stdout_json(&out);
    let same_pid = r["processes"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pid"].as_u64() == Some(reused_pid))
        .count();
    assert_eq!(
        same_pid, 2,
        "two processes with pid {reused_pid}: {}",
        r["processes"]
    );
    assert!(
        r["processes"]["seen"].as_u64().unwrap() >= 3,
        "{}",
        r["processes"]
    );
}
