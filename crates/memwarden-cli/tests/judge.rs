//! Leak verdicts through the command line: `analyze` on recorded traces, live verdicts in
//! `run`, and the CI gates.

mod common;

use std::path::PathBuf;

use common::*;

fn fixture(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../memwarden/tests/fixtures");
    dir.join(name).to_str().unwrap().to_string()
}

/// A real program's trace from the repository's corpus (bench/corpus/real).
fn real_trace(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/corpus/real")
        .join(name);
    assert!(p.exists(), "{} is missing", p.display());
    p.to_str().unwrap().to_string()
}

#[test]
fn analyze_judges_real_programs_traces() {
    let paths: Vec<String> = [
        "python_http_server_wrk.csv",
        "sqlite_memory_inserts.csv",
        "node_lru_capped_map.csv",
    ]
    .iter()
    .map(|n| real_trace(n))
    .collect();
    let lab = Lab::new();
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let out = lab.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = stdout_json(&out);
    let all = all.as_array().expect("an array for several files");
    let kind = |i: usize| all[i]["verdict"]["kind"].as_str().unwrap().to_string();
    assert_eq!(all[0]["label"], "python_http_server_wrk.csv");
    assert_ne!(kind(0), "leak");
    assert_eq!(kind(1), "leak");
    assert_ne!(kind(2), "leak");
    assert_eq!(all[1]["memory"]["metric"], "anon_bytes");
    assert!(all[1]["run_id"].is_null() && all[1]["schema"] == 1);
    assert!(all[1]["verdict"]["detected_at_s"].as_f64().unwrap() > 0.0);
    let rss = lab.run(&[
        "analyze",
        "--format",
        "json",
        "--column",
        "rss_bytes",
        &paths[1],
    ]);
    assert_eq!(
        stdout_json(&rss)["memory"]["metric"],
        "rss_bytes",
        "one file, one object"
    );
    let gate = lab.run(&["analyze", "--fail-on-leak", &paths[1]]);
    assert_eq!(gate.status.code(), Some(122));
    assert!(
        stdout(&gate).contains("leak: floor rose"),
        "{}",
        stdout(&gate)
    );
}

#[test]
fn analyze_reads_what_psrecord_and_mprof_wrote() {
    let lab = Lab::new();
    for name in [
        "psrecord_slow_leak.log",
        "mprof_slow_leak.dat",
        "psrecord_leaky.csv",
        "mprof_multiprocess.dat",
    ] {
        let out = lab.run(&["analyze", "--format", "json", &fixture(name)]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let r = stdout_json(&out);
        assert!(r["samples"].as_u64().unwrap() > 10, "{name}: {r}");
        assert!(
            r["memory"]["peak_bytes"].as_f64().unwrap() > 1e6,
            "{name}: {r}"
        );
        if name.contains("slow_leak") {
            assert_eq!(
                r["verdict"]["kind"], "leak",
                "{name}: {}",
                r["verdict"]["reason"]
            );
        }
    }
}

#[test]
fn malformed_traces_name_the_file_and_line() {
    let lab = Lab::new();
    let bad = lab.script("bad.csv", "t_seconds,rss_bytes\n0,100\n1,oops\n");
    let good = lab.script("good.csv", "t_seconds,rss_bytes\n0,100\n1,200\n");
    let out = lab.run(&["analyze", bad.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a bad file fails the command");
    let err = stderr(&out);
    assert!(err.contains("bad.csv: line 3"), "{err}");
    assert!(
        stdout(&out).contains("good.csv"),
        "the good file is still judged"
    );
    let out = lab.run(&["analyze", "--column", "nope", good.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("no column named \"nope\"") && stderr(&out).contains("rss_bytes")
    );
    let out = lab.run(&["analyze", lab.path("missing.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.csv"), "{}", stderr(&out));
}

/// Keeps `mib` MiB more every second for `secs` seconds (0: allocate once and hold).
const GROW: &str = r#"
import sys, time
mib, secs = float(sys.argv[1]), float(sys.argv[2])
keep = [bytearray(64 << 20)]
for b in keep:
    for j in range(0, len(b), 4096): b[j] = 1
end = time.time() + secs
while time.time() < end:
    if mib:
        b = bytearray(int(mib * (1 << 20)))
        for j in range(0, len(b), 4096): b[j] = 1
        keep.append(b)
    time.sleep(1.0)
"#;

/// Starts a thread every 0.2 s that never ends, for `secs` seconds.
const THREADS: &str = r#"
import sys, threading, time
stop = threading.Event()
end = time.time() + float(sys.argv[1])
while time.time() < end:
    threading.Thread(target=stop.wait, daemon=True).start()
    time.sleep(0.2)
"#;

const FAST: [&str; 4] = ["--interval", "100ms", "--judge-after", "10s"];

fn run_judged(
    lab: &Lab,
    extra: &[&str],
    script: &str,
    args: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let py = python();
    let mut all = vec!["run"];
    all.extend(FAST);
    all.extend(extra);
    all.extend(["--", &py, script]);
    all.extend(args);
    lab.run_json(&all)
}

#[test]
fn a_growing_command_is_called_leaking_and_fails_the_gates() {
    let lab = Lab::new();
    lab.script("grow.py", GROW);
    let (out, r) = run_judged(&lab, &["--fail-on-leak"], "grow.py", &["4", "25"]);
    assert_eq!(out.status.code(), Some(122), "{}", stderr(&out));
    let v = &r["verdict"];
    assert_eq!(v["kind"], "leak", "{v}");
    assert_eq!(v["resource"], "memory");
    let rate = v["growth_bytes_per_s"].as_f64().unwrap();
    assert!(
        (2.0 * MIB as f64..6.0 * MIB as f64).contains(&rate),
        "{rate}"
    );
    assert!(v["time_to_limit_s"].as_f64().unwrap() > 0.0);
    let events = r["events"].as_array().unwrap();
    assert!(events.iter().any(
        |e| e["kind"] == "verdict" && e["detail"].as_str().unwrap().starts_with("memory: leak")
    ));
    assert!(events.iter().any(|e| e["kind"] == "gate"));
    assert!(
        stderr(&out).contains("gate     --fail-on-leak"),
        "{}",
        stderr(&out)
    );

    let (out, _) = run_judged(&lab, &["--max-growth", "1MiB/s"], "grow.py", &["4", "25"]);
    assert_eq!(out.status.code(), Some(122));
    let (out, _) = run_judged(&lab, &["--max-growth", "100MiB/s"], "grow.py", &["4", "25"]);
    assert_eq!(out.status.code(), Some(0));
    let stored = lab.run(&["ls", "--format", "json"]);
    assert_eq!(
        stdout_json(&stored)[0]["verdict"],
        "leak",
        "ls shows the stored verdict"
    );
}

#[test]
fn a_command_holding_its_memory_is_stable_and_passes() {
    let lab = Lab::new();
    lab.script("grow.py", GROW);
    let (out, r) = run_judged(
        &lab,
        &["--fail-on-leak", "--max-growth", "1MiB/min"],
        "grow.py",
        &["0", "25"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(r["verdict"]["kind"], "stable", "{}", r["verdict"]);
}

#[test]
fn a_thread_leak_is_called_as_such() {
    let lab = Lab::new();
    lab.script("threads.py", THREADS);
    let (out, r) = run_judged(&lab, &[], "threads.py", &["35"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = &r["verdict"];
    assert_eq!(v["kind"], "leak", "{v}");
    assert!(v["resource"].as_str().unwrap().contains("threads"), "{v}");
    assert_eq!(v["resources"]["threads"]["kind"], "leak");
    assert!(v["reason"].as_str().unwrap().contains("threads"), "{v}");
}
