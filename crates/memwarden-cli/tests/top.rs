//! `memwarden top` on real processes: one leaking program among many that do not (servers
//! under load, garbage-collected runtimes) ranked first and alone called a leak; the live
//! view driven in a real terminal (tmux); the metrics of groups, and a gone group's series
//! dropped; groups recorded as runs; other users' processes counted, not errors.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{python, stderr, stdout_json, wait_for, Group, Lab};

/// Allocates and keeps 4 MiB every second: a leak the detector calls within a minute.
const LEAKER: &str = r#"
import sys, time
keep = []
while True:
    b = bytearray(4 << 20)
    for j in range(0, len(b), 4096): b[j] = 1
    keep.append(b)
    time.sleep(1)
"#;

/// Serves HTTP; its load comes from [`LOAD`].
const SERVER: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"x" * 65536
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// Requests the server in a loop, dropping every answer.
const LOAD: &str = r#"
import sys, time, urllib.request
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1]).read()
    except OSError:
        time.sleep(0.05)
"#;

/// Churns a garbage-collected heap: a sawtooth, never a rising floor.
const NODE_CHURN: &str =
    "setInterval(() => { const a = []; for (let i = 0; i < 100000; i++) a.push({ i, s: 'x' + i }); }, 20);";

const JAVA_CHURN: &str = r#"
public class Churn {
    public static void main(String[] args) throws Exception {
        java.util.List<byte[]> live = new java.util.ArrayList<>();
        while (true) {
            for (int i = 0; i < 1000; i++) live.add(new byte[1024]);
            if (live.size() > 20000) live.clear();
            Thread.sleep(5);
        }
    }
}
"#;

fn python_group(lab: &Lab, name: &str, body: &str, args: &[&str]) -> Group {
    let script = lab.script(name, body);
    Group::spawn(
        Command::new(python())
            .arg(script)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_leaking_program_ranks_first_and_no_busy_program_is_called_a_leak() {
    let lab = Lab::new();
    let port = free_port();
    let port = port.to_string();
    let mut calm = vec![
        python_group(&lab, "server.py", SERVER, &[&port]),
        python_group(&lab, "load.py", LOAD, &[&port]),
        python_group(&lab, "load.py", LOAD, &[&port]),
    ];
    for _ in 0..20 {
        calm.push(Group::spawn(Command::new("sleep").arg("300")));
    }
    if has("node") {
        calm.push(Group::spawn(
            Command::new("node")
                .args(["-e", NODE_CHURN])
                .stdout(Stdio::null()),
        ));
    }
    if has("java") {
        let src = lab.script("Churn.java", JAVA_CHURN);
        calm.push(Group::spawn(
            Command::new("java")
                .args(["-Xmx64m", "-XX:+UseSerialGC"])
                .arg(src)
                .stdout(Stdio::null()),
        ));
    }
    // The busy programs are past their start-up when the view starts; the leak starts with it.
    std::thread::sleep(Duration::from_secs(8));
    let _leaker = python_group(&lab, "leaker.py", LEAKER, &[]);
    let out = lab.run(&["top", "--duration", "50s", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    let groups = report["groups"].as_array().expect("groups");
    let name = |g: &serde_json::Value| g["name"].as_str().unwrap_or_default().to_string();
    let kind = |g: &serde_json::Value| {
        g["verdict"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let leaker = groups
        .iter()
        .position(|g| name(g).contains("leaker.py"))
        .unwrap_or_else(|| panic!("no leaker group in {report:#}"));
    assert_eq!(kind(&groups[leaker]), "leak", "{:#}", groups[leaker]);
    assert!(
        groups[leaker]["verdict"]["time_to_limit_s"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Only leaks of the machine's own (another program growing on a shared machine) may rank
    // above it; nothing that does not leak does.
    for g in &groups[..leaker] {
        assert_eq!(kind(g), "leak", "{} ranks above the leak: {g:#}", name(g));
    }
    for ours in ["server.py", "load.py", "sleep N", "node -e", "Churn.java"] {
        for g in groups.iter().filter(|g| name(g).contains(ours)) {
            assert_ne!(kind(g), "leak", "{} is not a leak: {g:#}", name(g));
        }
    }
    let load = groups
        .iter()
        .find(|g| name(g).contains("load.py"))
        .expect("the load group");
    assert_eq!(
        load["processes"], 2,
        "both clients are one command: {load:#}"
    );
    let sleeps = groups
        .iter()
        .find(|g| name(g) == "sleep N")
        .expect("sleeps");
    assert!(sleeps["processes"].as_u64().unwrap() >= 20, "{sleeps:#}");
    // The same verdict object as a run's report.
    for field in [
        "kind",
        "growth_bytes_per_s",
        "growth_ci_bytes_per_s",
        "detected_at_s",
        "reason",
    ] {
        assert!(groups[leaker]["verdict"].get(field).is_some(), "{field}");
    }
    drop(calm);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tmux session removed when dropped.
struct Tmux(String);

impl Drop for Tmux {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

#[test]
fn the_live_view_starts_sorts_resizes_and_quits_in_a_real_terminal() {
    if !has("tmux") {
        eprintln!("skipped: tmux is not installed (./test.sh installs it)");
        return;
    }
    let lab = Lab::new();
    let name = format!("mw-top-{}", std::process::id());
    let session = Tmux(name.clone());
    let done = lab.path("exit-status");
    let command = format!(
        "{} top --interval 500ms; echo $? > {}; sleep 30",
        env!("CARGO_BIN_EXE_memwarden"),
        done.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "140",
        "-y",
        "40",
        "-e",
        "NO_COLOR=1",
        &command,
    ]);
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    wait_for("the view's header", Duration::from_secs(30), || {
        let s = screen();
        (s.contains("memwarden top · by command") && s.contains("VERDICT") && s.contains("q quit"))
            .then_some(())
    });
    tmux(&["send-keys", "-t", &name, "s"]);
    wait_for("the next order", Duration::from_secs(10), || {
        screen().contains("sort: memory").then_some(())
    });
    tmux(&["resize-window", "-t", &name, "-x", "90", "-y", "24"]);
    wait_for("a redraw at the new size", Duration::from_secs(10), || {
        let s = screen();
        let lines: Vec<&str> = s.lines().collect();
        (lines.len() <= 24
            && lines.iter().all(|l| l.chars().count() <= 90)
            && lines.iter().any(|l| l.contains("q quit"))
            && s.contains("GROUP"))
        .then_some(())
    });
    tmux(&["send-keys", "-t", &name, "q"]);
    let status = wait_for("the view to quit", Duration::from_secs(10), || {
        std::fs::read_to_string(&done).ok()
    });
    assert_eq!(status.trim(), "0");
    drop(session);
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("the endpoint answers");
    use std::io::Write;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn each_group_has_its_series_and_a_gone_group_loses_them() {
    let lab = Lab::new();
    let mut top = lab
        .memwarden()
        .args([
            "top",
            "--by",
            "process",
            "--interval",
            "200ms",
            "--metrics",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The line may arrive in pieces: read until it is whole.
    let mut err = BufReader::new(top.stderr.take().unwrap());
    let addr = wait_for("the metrics address", Duration::from_secs(20), || {
        let mut line = String::new();
        err.read_line(&mut line).ok()?;
        let at = line.find("http://")? + 7;
        Some(line[at..].split('/').next()?.to_string())
    });
    let sleeper = Group::spawn(Command::new("sleep").arg("300"));
    let label = format!("label=\"{} sleep N\"", sleeper.id());
    wait_for("the sleeper's series", Duration::from_secs(20), || {
        let text = scrape(&addr);
        let line = format!("memwarden_tree_processes{{{label},tree=\"process\"}} 1");
        text.contains(&line).then_some(())
    });
    drop(sleeper);
    wait_for(
        "the sleeper's series to go",
        Duration::from_secs(20),
        || (!scrape(&addr).contains(&label)).then_some(()),
    );
    let text = scrape(&addr);
    assert!(text.contains("memwarden_tree_verdict{"), "{text}");
    assert!(text.contains("tree=\"process\""), "{text}");
    let _ = top.kill();
    let _ = top.wait();
}

#[test]
fn groups_are_recorded_as_runs_that_report_and_compare() {
    let lab = Lab::new();
    let _sleepers: Vec<Group> = (0..3)
        .map(|_| Group::spawn(Command::new("sleep").arg("300")))
        .collect();
    let out = lab.run(&["top", "--record", "--duration", "3s", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ls = lab.run(&["ls", "--format", "json", "--label", "sleep N"]);
    let runs = stdout_json(&ls);
    let run = &runs.as_array().expect("runs")[0];
    assert_eq!(run["kind"], "top", "{run:#}");
    let report = lab.run(&["report", "sleep N", "--format", "json"]);
    assert!(report.status.success(), "{}", stderr(&report));
    let report = stdout_json(&report);
    assert!(report["samples"].as_u64().unwrap() >= 3, "{report:#}");
    assert!(report["memory"]["peak_bytes"].as_u64().unwrap() > 0);
    assert!(report["processes"]["seen"].as_u64().unwrap() >= 3);
    let compare = lab.run(&["compare", "sleep N", "sleep N"]);
    assert!(compare.status.success(), "{}", stderr(&compare));
}

#[test]
fn other_users_processes_are_counted_not_errors() {
    let lab = Lab::new();
    let Some(mut nobody) = lab.as_nobody() else {
        return;
    };
    // Root's processes exist (this test runs as root): their descriptors are not nobody's to
    // list. Since Linux 6.2 anyone may count them (the size of their fd/), and memwarden does;
    // before, they are counted as unreadable and said so.
    let sized = std::fs::metadata("/proc/1/fd").is_ok_and(|m| m.len() > 0);
    let out = nobody
        .args(["top", "--duration", "1s", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    let unreadable_fds = report["unreadable"]["fds"].as_u64().unwrap();
    assert_eq!(unreadable_fds == 0, sized, "{report:#}");
    let text = lab
        .as_nobody()
        .unwrap()
        .args(["top", "--duration", "1s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.contains("could not be counted"), !sized, "{text}");
}
