//! The metrics endpoint against a real Prometheus (Debian's `prometheus` package; the test
//! command installs it): Prometheus scrapes a live `memwarden run --metrics` of a leaking
//! scenario and its HTTP API sees the verdict turn to leak; `promtool` checks a scrape, the
//! rules of `memwarden rules` and their unit tests.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// `prometheus` or `promtool`: from `MEMWARDEN_PROMETHEUS_DIR` (where ./test.sh unpacks
/// them), else /usr/bin.
fn need(tool: &str) -> String {
    let dir = std::env::var("MEMWARDEN_PROMETHEUS_DIR").unwrap_or_else(|_| "/usr/bin".into());
    let path = format!("{dir}/{tool}");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: run the tests with ./test.sh, which unpacks Debian's prometheus \
         package into target/tools (or install it, or set MEMWARDEN_PROMETHEUS_DIR)"
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from `addr` (HTTP/1.0, so the body ends with the connection); the body.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}

fn promtool(lab: &Lab, args: &[&str]) {
    let out = Command::new(need("promtool"))
        .args(args)
        .current_dir(lab.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn the_rules_pass_promtool_and_their_unit_tests() {
    let lab = Lab::new();
    let rules = lab.run(&["rules"]);
    std::fs::write(lab.path("memwarden-rules.yml"), &rules.stdout).unwrap();
    let tests = lab.run(&["rules", "--tests"]);
    std::fs::write(lab.path("tests.yml"), &tests.stdout).unwrap();
    promtool(&lab, &["check", "rules", "memwarden-rules.yml"]);
    promtool(&lab, &["test", "rules", "tests.yml"]);
}

#[test]
fn a_real_prometheus_sees_a_live_run_turn_to_leak() {
    let prometheus = need("prometheus");
    let lab = Lab::new();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/s1_spawner/leaky.py"
    );
    let mut memwarden = lab.memwarden();
    // The scenario's helpers chatter, and complain when they are stopped at the end.
    memwarden
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _run = Group::spawn(memwarden.args([
        "run",
        "-q",
        "--interval",
        "200ms",
        "--label",
        "s1 leaky",
        // The live verdict waits 6 minutes by default before calling a steady rise a leak
        // (a filling cache looks the same until it stops); S1 leaks 30 MiB/s.
        "--judge-after",
        "15s",
        "--metrics",
        &metrics.to_string(),
        "--",
        &python(),
        scenario,
        "--duration",
        "90",
    ]));
    let scrape = wait_for("the endpoint", Duration::from_secs(30), || {
        get(metrics, "/metrics")
    });
    std::fs::write(lab.path("scrape.txt"), &scrape).unwrap();
    let out = Command::new(need("promtool"))
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(lab.path("scrape.txt")).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}",
        stderr(&out)
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: memwarden\n    \
         static_configs:\n      - targets: ['{metrics}']\n"
    );
    std::fs::write(lab.path("prometheus.yml"), config).unwrap();
    let _prometheus = Group::spawn(
        Command::new(prometheus)
            .arg("--config.file=prometheus.yml")
            .arg("--storage.tsdb.path=tsdb")
            .arg(format!("--web.listen-address={web}"))
            .current_dir(lab.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let query = "/api/v1/query?query=memwarden_tree_verdict%7Bkind%3D%22leak%22%7D";
    let answer = wait_for(
        "Prometheus to see the leak",
        Duration::from_secs(120),
        || {
            let body = get(web, query)?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let series = v["data"]["result"].as_array()?.first()?.clone();
            (series["value"][1] == "1").then_some(series)
        },
    );
    assert_eq!(answer["metric"]["label"], "s1 leaky", "{answer}");
    assert_eq!(answer["metric"]["tree"], "run", "{answer}");
    assert_eq!(answer["metric"]["job"], "memwarden", "{answer}");
    // The projection to the limit comes once memory itself is called leaking (threads or
    // descriptors may be called first).
    let left = wait_for("a time to the limit", Duration::from_secs(60), || {
        let body = get(
            web,
            "/api/v1/query?query=memwarden_tree_time_to_limit_seconds",
        )?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()
    });
    assert!(left > 0.0, "{left}");
}
