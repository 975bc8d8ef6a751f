//! Containment on real processes: limits (kernel and polled), warnings and their actions,
//! the system floor, the timeout, and stopping whole trees with nothing left behind.

mod common;

use std::time::Duration;

use common::*;

/// These tests run memory hogs and fork storms; run together on a small machine they would
/// starve each other (and a polled limit, of the CPU it needs to sample on time).
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Daemonizes a TERM-ignoring grandchild (double fork + setsid), then allocates 32 MiB chunks
/// as fast as it can — up to 1.5 GiB, far past any limit here, so that a limit that failed
/// fails the test (exit 99) rather than the machine.
const HOG: &str = r#"
import os, signal, sys, time
pidfile = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(pidfile + ".tmp", "w").write(str(os.getpid()))
        os.rename(pidfile + ".tmp", pidfile)
        time.sleep(600)
        os._exit(0)
    os._exit(0)
while not os.path.exists(pidfile):
    time.sleep(0.01)
chunks = []
while len(chunks) < 48:
    chunks.append(bytearray(32 << 20))
os._exit(99)
"#;

fn events_of<'a>(r: &'a serde_json::Value, kind: &str) -> Vec<&'a str> {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap())
        .collect()
}

fn has_memory_cgroup() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounts.lines().any(|l| {
        l.contains(" - cgroup ") && l.rsplit(' ').next().is_some_and(|o| o.contains("memory"))
    }) || std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "memory"))
}

/// Whether kernel-limit mode can be exercised here (root, with a memory controller).
fn kernel_limits_here() -> bool {
    if is_root() && has_memory_cgroup() {
        return true;
    }
    eprintln!("skipped: a kernel limit needs root and a cgroup memory controller");
    false
}

/// The hog under `--limit 400MiB --grace 1s`: exit 121, stopped for the limit, at most 5 %
/// over it by every measure the report has, and the daemonized grandchild gone.
fn hog_is_stopped_at_400_mib(mode: &[&str], expect_mode: &str) -> serde_json::Value {
    let lab = Lab::new();
    lab.script("hog.py", HOG);
    let mut args = vec!["run", "--limit", "400MiB", "--grace", "1s"];
    args.extend(mode);
    args.extend(["--", "python3", "hog.py", "daemon.pid"]);
    let (out, r) = lab.run_json(&args);
    assert_eq!(out.status.code(), Some(121), "{}", stderr(&out));
    assert_eq!(r["stopped_by"], "limit", "{r}");
    assert_eq!(r["status"], 121);
    assert_eq!(r["mode"], expect_mode);
    let limit = 400 * MIB;
    let most = limit + limit / 20;
    let memory = &r["memory"];
    for field in ["peak_bytes", "peak_rss_bytes"] {
        let v = memory[field].as_u64().unwrap();
        // Reached at least most of the way: the hog was stopped at the limit, not before.
        assert!(v >= limit * 3 / 4, "{field} {v} in {memory}");
        if expect_mode == "process-tree" || field == "peak_bytes" {
            assert!(
                v <= most,
                "{field} {v} is more than 5 % over the limit: {memory}"
            );
        }
    }
    if let Some(cg) = memory["peak_cgroup_bytes"].as_u64() {
        assert!(cg <= most, "cgroup peak {cg}: {memory}");
    }
    let daemon = read_pid(&lab.path("daemon.pid"));
    wait_for(
        "the daemonized grandchild to be gone",
        Duration::from_secs(5),
        || (!alive(daemon)).then_some(()),
    );
    assert_eq!(events_of(&r, "limit").len(), 1, "{r}");
    let stops = events_of(&r, "stop");
    assert!(
        stops.iter().any(|s| s.contains("needed KILL")),
        "the TERM-ignoring daemon needed KILL: {stops:?}"
    );
    r
}

#[test]
fn a_kernel_limit_stops_the_hog_and_its_daemon() {
    let _heavy = one_at_a_time();
    if !kernel_limits_here() {
        return;
    }
    let r = hog_is_stopped_at_400_mib(&[], expected_cgroup_mode());
    let guard = events_of(&r, "guard");
    assert!(
        guard.iter().any(|g| g.contains("kernel limit")),
        "{guard:?}"
    );
    assert!(!events_of(&r, "oom-kill").is_empty(), "{r}");
    // The kernel's own record of the group's peak: never above the limit.
    let peak = guard
        .iter()
        .find(|g| g.contains("peak charge"))
        .expect("the kernel's peak is recorded");
    let bytes = |after: &str| -> u64 {
        let rest = &peak[peak.find(after).unwrap() + after.len()..];
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(bytes("limit "), 400 * MIB, "{peak}");
    assert!(bytes("(") <= 400 * MIB, "{peak}");
}

#[test]
fn a_polled_limit_stops_the_hog_and_its_daemon() {
    let _heavy = one_at_a_time();
    let r = hog_is_stopped_at_400_mib(&["--no-cgroup"], "process-tree");
    let guard = events_of(&r, "guard");
    assert!(guard.iter().any(|g| g.contains("polling")), "{guard:?}");
}

/// Holds `n` MiB and a TERM-ignoring child, sleeping until killed.
const STUBBORN: &str = r#"
import os, signal, sys, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(600)
    os._exit(0)
time.sleep(600)
"#;

#[test]
fn a_timeout_gives_124_and_the_term_ignoring_child_is_killed_after_the_grace() {
    let _heavy = one_at_a_time();
    for mode in [&["--no-cgroup"][..], &[][..]] {
        let lab = Lab::new();
        lab.script("stubborn.py", STUBBORN);
        let mut args = vec![
            "run",
            "--timeout",
            "1s",
            "--grace",
            "300ms",
            "--interval",
            "100ms",
        ];
        args.extend(mode);
        args.extend(["--", "python3", "stubborn.py", "child.pid"]);
        let (out, r) = lab.run_json(&args);
        assert_eq!(out.status.code(), Some(124), "{mode:?}: {}", stderr(&out));
        assert_eq!(r["stopped_by"], "timeout");
        let child = read_pid(&lab.path("child.pid"));
        assert!(!alive(child), "the TERM-ignoring child {child} survived");
        assert_eq!(events_of(&r, "timeout").len(), 1, "{r}");
        let stop = events_of(&r, "stop");
        // The command died of TERM; its child ignored it and needed KILL after the grace.
        assert!(
            stop[0].contains("2 sent TERM") && stop[0].contains("1 needed KILL"),
            "{stop:?}"
        );
        assert_eq!(r["exit"]["signal"], libc::SIGTERM);
    }
}

/// A bounded fork storm: a binary tree of depth 7 (at most 255 processes) that ignore TERM,
/// each holding 4 MiB and forking its two children after a short random delay, so the storm
/// is still growing when its memory reaches the limit and it is stopped. Every process
/// appends "PID STARTTIME" to a file.
const STORM: &str = r#"
import os, random, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
log = sys.argv[1]
def note():
    with open("/proc/self/stat") as f:
        start = f.read().rsplit(")", 1)[1].split()[19]
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {start}\n")
    return bytearray(4 << 20)
depth = 0
held = note()
while depth < 7:
    time.sleep(random.random() * 0.05)
    if os.fork() == 0:
        depth += 1
        held = note()
        continue
    if os.fork() == 0:
        depth += 1
        held = note()
        continue
    break
time.sleep(600)
"#;

fn alive_since(pid: u32, start: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // A reused PID has another start time; a zombie is dead already.
            fields.get(19) == Some(&start) && !matches!(fields.first(), Some(&"Z") | Some(&"X"))
        }
        Err(_) => false,
    }
}

#[test]
fn a_fork_storm_is_stopped_to_the_last_process() {
    let _heavy = one_at_a_time();
    let mut modes = vec![&["--no-cgroup"][..]];
    if is_root() && has_memory_cgroup() {
        modes.push(&[][..]);
    }
    for mode in modes {
        let lab = Lab::new();
        lab.script("storm.py", STORM);
        let log = lab.path("pids.log");
        // The limit, not a timer, stops the storm: it is reached while the storm still grows,
        // however slowly a loaded machine starts its processes.
        let mut args = vec!["run", "--limit", "200MiB", "--grace", "200ms"];
        args.extend(mode);
        args.extend(["--", "python3", "storm.py", log.to_str().unwrap()]);
        let (out, r) = lab.run_json(&args);
        assert_eq!(out.status.code(), Some(121), "{mode:?}: {}", stderr(&out));
        let text = std::fs::read_to_string(&log).unwrap();
        let pids: Vec<(u32, &str)> = text
            .lines()
            .filter_map(|l| {
                let (p, s) = l.split_once(' ')?;
                Some((p.parse().ok()?, s))
            })
            .collect();
        assert!(
            pids.len() > 10,
            "the storm barely started: {} processes",
            pids.len()
        );
        // memwarden returns only once the tree is empty: nothing the storm forked may be left.
        let left: Vec<u32> = pids
            .iter()
            .filter(|(p, s)| alive_since(*p, s))
            .map(|(p, _)| *p)
            .collect();
        assert!(
            left.is_empty(),
            "{mode:?}: {} of {} storm processes survived: {left:?}; events {}",
            left.len(),
            pids.len(),
            r["events"]
        );
        assert!(events_of(&r, "stop")[0].contains("needed KILL"), "{r}");
    }
}

/// Grows to 200 MiB in 10 MiB steps; on USR1 frees all but 20 MiB and writes a marker; exits
/// 0 once it has freed (3 if no signal came within 20 s).
const CLEANS_UP: &str = r#"
import os, signal, sys, time
freed = False
chunks = []
def cleanup(sig, frame):
    global freed, chunks
    chunks = chunks[:2]
    freed = True
signal.signal(signal.SIGUSR1, cleanup)
open(sys.argv[1], "w").write(str(os.getpid()))
while len(chunks) < 20 and not freed:
    chunks.append(bytearray(10 << 20))
    time.sleep(0.02)
deadline = time.time() + 20
while not freed and time.time() < deadline:
    time.sleep(0.01)
if freed:
    open(sys.argv[2], "w").write("freed")
    time.sleep(0.3)
sys.exit(0 if freed else 3)
"#;

#[test]
fn a_warning_signal_lets_the_program_clean_up_and_no_stop_follows() {
    let _heavy = one_at_a_time();
    for mode in [&["--no-cgroup"][..], &[][..]] {
        let lab = Lab::new();
        lab.script("cleans.py", CLEANS_UP);
        let mut args = vec![
            "run",
            "--interval",
            "20ms",
            "--warn",
            "120MiB",
            "--on-warn",
            "signal:USR1",
            "--on-warn",
            "log",
            "--limit",
            "400MiB",
        ];
        args.extend(mode);
        args.extend(["--", "python3", "cleans.py", "pid", "freed"]);
        let (out, r) = lab.run_json(&args);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {}", stderr(&out));
        assert!(r["stopped_by"].is_null(), "{r}");
        assert!(lab.path("freed").exists());
        let pid = read_pid(&lab.path("pid"));
        let warns = events_of(&r, "warn");
        assert_eq!(warns.len(), 1, "{r}");
        let actions = events_of(&r, "action");
        assert_eq!(
            actions,
            [format!("sent USR1 to pid {pid}, the tree's root").as_str()],
            "{r}"
        );
        assert!(events_of(&r, "stop").is_empty() && events_of(&r, "limit").is_empty());
        // The tree fell well below the warning after the cleanup: armed again.
        assert_eq!(events_of(&r, "rearm").len(), 1, "{r}");
        assert!(stderr(&out).contains("memwarden: warning: the tree's memory reached"));
    }
}

/// Holds 80 MiB until the hook has written its file (at most 20 s).
const WAITS_FOR_HOOK: &str = r#"
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
b = bytearray(80 << 20)
deadline = time.time() + 20
while not os.path.exists(sys.argv[2]) and time.time() < deadline:
    time.sleep(0.01)
time.sleep(0.1)
"#;

#[test]
fn an_exec_hook_sees_the_run_in_its_environment() {
    let _heavy = one_at_a_time();
    let lab = Lab::new();
    lab.script("waits.py", WAITS_FOR_HOOK);
    let env_file = lab.path("hook.env");
    let hook = format!(
        "exec:sh -c 'env | grep ^MEMWARDEN_ | sort > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"' {}",
        env_file.display()
    );
    let (out, r) = lab.run_json(&[
        "run",
        "--interval",
        "20ms",
        "--no-cgroup",
        "--limit",
        "500MiB",
        "--warn",
        "50MiB",
        "--on-warn",
        &hook,
        "--",
        "python3",
        "waits.py",
        "pid",
        env_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&env_file).expect("the hook ran");
    let var = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
            .to_string()
    };
    assert_eq!(var("MEMWARDEN_RUN_ID"), r["run_id"].to_string());
    assert_eq!(
        var("MEMWARDEN_PID").parse::<u32>().unwrap(),
        read_pid(&lab.path("pid"))
    );
    assert!(var("MEMWARDEN_TREE_BYTES").parse::<u64>().unwrap() >= 50 * MIB);
    assert_eq!(var("MEMWARDEN_LIMIT_BYTES"), (500 * MIB).to_string());
    assert_eq!(var("MEMWARDEN_WARN_BYTES"), (50 * MIB).to_string());
    assert_eq!(var("MEMWARDEN_REASON"), "warn");
    let started = events_of(&r, "action");
    assert!(started[0].starts_with("started exec:sh -c"), "{started:?}");
    let hook_end = events_of(&r, "hook");
    assert!(
        hook_end.len() == 1 && hook_end[0].contains("exited with status 0"),
        "{r}"
    );
    // The hook is memwarden's helper, not a process of the tree.
    let top = r["processes"]["top"].as_array().unwrap();
    assert!(
        top.iter()
            .all(|p| !p["command"].as_str().unwrap().starts_with("sh -c env")),
        "{top:?}"
    );
}

#[test]
fn a_system_floor_above_what_is_available_stops_the_tree_at_once() {
    let _heavy = one_at_a_time();
    let lab = Lab::new();
    let (out, r) = lab.run_json(&[
        "run",
        "--system-floor",
        "100%",
        "--grace",
        "1s",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(121), "{}", stderr(&out));
    assert_eq!(r["stopped_by"], "system-floor");
    assert!(events_of(&r, "system-floor")[0].contains("available memory fell"));
}

#[test]
fn watch_acts_only_when_asked_and_then_stops_the_watched_tree() {
    let _heavy = one_at_a_time();
    let lab = Lab::new();
    // Grows to 1 GiB at most (far past the limit), then waits to be stopped.
    lab.script(
        "grow.py",
        "import time\nl = []\nwhile len(l) < 128:\n    l.append(bytearray(8 << 20))\n    time.sleep(0.01)\ntime.sleep(60)\n",
    );
    let mut hog = std::process::Command::new("python3")
        .arg(lab.path("grow.py"))
        .spawn()
        .unwrap();
    let pid = hog.id().to_string();
    let (out, r) = lab.run_json(&["watch", "--limit", "200MiB", "--grace", "1s", &pid]);
    if out.status.code() != Some(121) {
        let _ = hog.kill();
        let _ = hog.wait();
        panic!("the watched hog was not stopped: {}", stderr(&out));
    }
    assert_eq!(r["stopped_by"], "limit");
    assert!(stderr(&out).contains("polling --limit"), "{}", stderr(&out));
    let status = hog.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM)
    );
    assert!(
        r["memory"]["peak_rss_bytes"].as_u64().unwrap() <= 210 * MIB,
        "{r}"
    );
}

#[test]
fn without_root_or_a_cgroup_the_limit_is_polled_and_still_holds() {
    let _heavy = one_at_a_time();
    let lab = Lab::new();
    let Some(mut command) = lab.as_nobody() else {
        return;
    };
    lab.script("hog.py", HOG);
    command
        .args(["run", "--limit", "400MiB", "--grace", "1s", "--json"])
        .arg(lab.path("report.json"))
        .args(["--", "/usr/bin/python3", "hog.py", "daemon.pid"]);
    let out = command.output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(121), "{err}");
    assert!(err.contains("no cgroup for this run"), "{err}");
    assert!(err.contains("polling --limit 400.0 MiB"), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.path("report.json")).unwrap()).unwrap();
    assert_eq!(r["mode"], "process-tree");
    assert_eq!(r["stopped_by"], "limit");
    // How far past the limit a polled limit lets a multi-GiB/s hog get depends on the
    // machine: that is a benchmark figure (bench/overshoot.sh), not a bound to assert here.
    let daemon = read_pid(&lab.path("daemon.pid"));
    wait_for("the daemon to be gone", Duration::from_secs(5), || {
        (!alive(daemon)).then_some(())
    });
}

#[test]
fn impossible_combinations_are_refused_before_anything_starts() {
    let _heavy = one_at_a_time();
    let lab = Lab::new();
    let marker = lab.path("ran");
    let touch = format!("touch {}", marker.display());
    for args in [
        &["--limit", "1G", "--warn", "2G"][..],
        &["--warn", "1G", "--on-warn", "exec:/no/such/hook"][..],
        &["--on-warn", "signal:USR1"][..],
    ] {
        let mut all = vec!["run"];
        all.extend(args);
        all.extend(["--", "sh", "-c", &touch]);
        let out = lab.run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!marker.exists(), "{args:?} started the command");
    }
}
