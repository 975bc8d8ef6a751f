//! `run --heap` on real programs: C programs built here with gcc (one leaking call site among
//! churning ones; a fork storm with threads, dlopen and an allocating signal handler; tens
//! of thousands of sampled blocks live at once; a static program), the Rust scenarios S4 and
//! S5, and a SQLite leak through rusqlite. Each checks what the report says about the sites
//! and that the command's own output and exit status came through untouched.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// Seconds a leak runs for its site to be judged (with `--warmup 1s`, a steady leak is called
/// after about 15 s; loaded CI machines need the margin).
const LONG: &str = "24";

/// Compiles the C source `name` (under tests/heap) into the lab with `flags`.
fn gcc(lab: &Lab, name: &str, flags: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/heap")
        .join(name);
    let out = lab.path(name.trim_end_matches(".c"));
    let status = Command::new("gcc")
        .args(["-O2", "-g", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .args(flags)
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc failed on {name}");
    out
}

/// A binary built beside memwarden: a scenario's, or an example's.
fn built(relative: &str) -> String {
    let dir = Path::new(env!("CARGO_BIN_EXE_memwarden")).parent().unwrap();
    let path = dir.join(relative);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --workspace` builds it",
        path.display()
    );
    path.to_str().unwrap().to_string()
}

/// `memwarden run --heap ARGS -- CMD` with a JSON report; returns the output and the report.
fn run_heap(lab: &Lab, args: &[&str], cmd: &[&str]) -> (Output, Value) {
    let mut all = vec!["run", "--heap", "--warmup", "1s"];
    all.extend(args);
    all.push("--");
    all.extend(cmd);
    lab.run_json(&all)
}

/// Runs a scenario's leaky and fixed variants (`LONG` seconds each) under `--heap ARGS` side by side.
fn leaky_and_fixed(scenario: &str, args: &[&str]) -> [Value; 2] {
    let bins = ["leaky", "fixed"].map(|v| built(&format!("{scenario}-{v}")));
    std::thread::scope(|s| {
        let runs = bins.map(|bin| {
            s.spawn(move || {
                let lab = Lab::new();
                let (out, report) = run_heap(&lab, args, &[&bin, "--duration", LONG]);
                assert!(out.status.success(), "{bin}: {}", stderr(&out));
                report
            })
        });
        runs.map(|r| r.join().expect("the run's thread"))
    })
}

fn sites(report: &Value) -> &Vec<Value> {
    report["heap"]["sites"].as_array().expect("heap.sites")
}

fn kind(site: &Value) -> &str {
    site["verdict"]["kind"].as_str().unwrap()
}

/// Whether any frame of `site` is in a function whose name contains `name`.
fn has_frame(site: &Value, name: &str) -> bool {
    site["frames"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["function"].as_str().is_some_and(|n| n.contains(name)))
}

/// A leaking site's verdict: `leak`, or still `inconclusive` with a growth whose whole
/// confidence interval is above zero (on a loaded machine a sampled series can need more
/// looks than a short run gives before the detector confirms the call).
fn assert_judged_rising(site: &Value, report: &Value) {
    let low = site["verdict"]["growth_ci_bytes_per_s"][0]
        .as_f64()
        .unwrap();
    let rising = kind(site) == "inconclusive" && low > 0.0;
    assert!(
        kind(site) == "leak" || rising,
        "{}\n{}",
        site["verdict"],
        describe(report)
    );
}

fn describe(report: &Value) -> String {
    sites(report)
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {}",
                s["rank"],
                s["function"],
                kind(s),
                s["live_bytes"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_leaking_c_function_is_named_first_and_no_churning_site_is_called_leaking() {
    let lab = Lab::new();
    let prog = gcc(&lab, "leaky_and_churning.c", &[]);
    let pprof = lab.path("heap.pb.gz");
    let (out, report) = run_heap(
        &lab,
        &["--heap-export", "pprof", pprof.to_str().unwrap()],
        &[prog.to_str().unwrap(), LONG],
    );
    // The command's output and exit status, untouched.
    assert_eq!(stdout(&out), "kept 12000 blocks\n");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let all = sites(&report);
    let first = &all[0];
    assert_eq!(first["function"], "leaky_remember", "{}", describe(&report));
    assert!(first["location"]
        .as_str()
        .unwrap()
        .contains("leaky_and_churning.c:"));
    assert_eq!(kind(first), "leak", "{}", describe(&report));
    // 50 blocks of 4 KiB every 100 ms: 2 MB/s, estimated from samples.
    let growth = first["verdict"]["growth_bytes_per_s"].as_f64().unwrap();
    assert!((1.0e6..4.0e6).contains(&growth), "growth {growth}");
    for s in &all[1..] {
        assert_ne!(
            kind(s),
            "leak",
            "a churning site called leaking:\n{}",
            describe(&report)
        );
    }
    for churn in ["churn_small", "churn_big", "churn_buffers"] {
        assert!(
            all.iter().any(|s| s["function"] == churn),
            "{churn} missing:\n{}",
            describe(&report)
        );
    }
    assert_eq!(report["heap"]["sample_interval_bytes"], 512 * 1024);
    assert!(stderr(&out).contains("Heap call sites"), "{}", stderr(&out));

    // The pprof profile: gzipped protocol buffers naming the sites and both sample types.
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&pprof).expect("pprof written"))
        .read_to_end(&mut text)
        .expect("gzip");
    let text = String::from_utf8_lossy(&text);
    for word in ["leaky_remember", "churn_big", "inuse_space", "alloc_space"] {
        assert!(text.contains(word), "{word} missing from the pprof profile");
    }

    // The store keeps the sites: `report` shows them, `compare` puts them side by side.
    let id = report["run_id"].to_string();
    let stored = lab.run(&["report", &id, "--format", "json"]);
    let stored: Value = serde_json::from_str(&stdout(&stored)).unwrap();
    assert_eq!(stored["heap"], report["heap"]);
    let text = stdout(&lab.run(&["report", &id]));
    assert!(
        text.contains("leaky_remember (leaky_and_churning.c:"),
        "{text}"
    );
    let html = std::fs::read_to_string(lab.html_report(Some(&id), "r.html")).unwrap();
    assert!(html.contains("id=\"heap\"") && html.contains("leaky_remember"));
    let cmp = stdout(&lab.run(&["compare", &id, &id, "--format", "text"]));
    assert!(cmp.contains("heap leaky_remember: live"), "{cmp}");
}

#[test]
fn forks_threads_dlopen_and_an_allocating_signal_handler_run_unchanged() {
    let lab = Lab::new();
    let prog = gcc(&lab, "torture.c", &["-ldl"]);
    let lib = lab.path("libblock.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/heap/block.c");
    let built = Command::new("gcc")
        .args(["-O2", "-g", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap();
    assert!(built.success());
    let args = [prog.to_str().unwrap(), lib.to_str().unwrap()];
    let plain = Command::new(args[0]).arg(args[1]).output().unwrap();
    assert_eq!(plain.status.code(), Some(7));
    // Nearly every allocation sampled: the sampler's paths run as often as they can.
    let (out, report) = run_heap(&lab, &["--heap-sample", "256"], &args);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&plain));
    assert!(stdout(&out).contains("signal handler ran: yes"));
    let heap = &report["heap"];
    // The program and its 100 forked children (one exec'ing) each reported.
    assert!(heap["processes"].as_u64().unwrap() >= 100, "{heap}");
    assert_eq!(heap["dropped_samples"], 0);
    assert!(heap["notes"].as_array().unwrap().is_empty(), "{heap}");
    assert!(
        sites(&report).iter().any(|s| has_frame(s, "make_block")),
        "{}",
        describe(&report)
    );
}

#[test]
fn every_sampled_free_is_seen_with_tens_of_thousands_of_samples_live() {
    let lab = Lab::new();
    let prog = gcc(&lab, "many_live.c", &[]);
    let (out, report) = run_heap(&lab, &["--heap-sample", "1"], &[prog.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "40 rounds of 30000 blocks\n");
    let heap = &report["heap"];
    // 1.2 million allocations, each sampled; a lost free would fill the live set.
    assert!(heap["samples"].as_u64().unwrap() >= 1_200_000, "{heap}");
    assert_eq!(heap["dropped_samples"], 0, "{heap}");
    let kept = sites(&report)
        .iter()
        .find(|s| s["function"] == "keep")
        .unwrap_or_else(|| panic!("no site `keep`:\n{}", describe(&report)));
    assert_ne!(kind(kept), "leak", "{}", describe(&report));
}

#[test]
fn a_static_program_is_named_as_one_heap_cannot_see_into() {
    let lab = Lab::new();
    let prog = gcc(&lab, "leaky_and_churning.c", &["-static"]);
    let (out, report) = run_heap(&lab, &[], &[prog.to_str().unwrap(), "1"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "kept 500 blocks\n");
    assert!(
        stderr(&out).contains("is statically linked"),
        "{}",
        stderr(&out)
    );
    let notes = report["heap"]["notes"].to_string();
    assert!(
        notes.contains("statically linked") && notes.contains("no process"),
        "{notes}"
    );
    assert!(sites(&report).is_empty());
}

#[test]
fn a_setuid_program_is_named_as_one_heap_cannot_see_into() {
    if !is_root() {
        eprintln!("skipped: making a program setuid to another user needs root");
        return;
    }
    let lab = Lab::new();
    let prog = gcc(&lab, "leaky_and_churning.c", &[]);
    // Owned by nobody and setuid: run by root, it changes identity, and the loader then
    // ignores LD_PRELOAD.
    std::os::unix::fs::chown(&prog, Some(65534), Some(65534)).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o4755);
    std::fs::set_permissions(&prog, mode).unwrap();
    let (out, report) = run_heap(&lab, &[], &[prog.to_str().unwrap(), "1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "kept 500 blocks\n");
    assert!(
        stderr(&out).contains("is setuid or setgid"),
        "{}",
        stderr(&out)
    );
    assert_eq!(report["heap"]["processes"], 0);
}

#[test]
fn s4_leaky_transactions_rank_first_and_s4_fixed_has_no_leaking_site() {
    let [leaky, fixed] = leaky_and_fixed("s4", &[]);
    let first = &sites(&leaky)[0];
    assert_judged_rising(first, &leaky);
    assert!(has_frame(first, "Tx::new"), "{}", describe(&leaky));
    for s in sites(&fixed) {
        assert_ne!(kind(s), "leak", "S4 fixed:\n{}", describe(&fixed));
    }
}

#[test]
fn s5_leaky_names_the_scrape_and_s5_fixed_has_no_leaking_site() {
    // S5 leaks threads and connections more than heap: sample finer.
    let [leaky, fixed] = leaky_and_fixed("s5", &["--heap-sample", "32KiB"]);
    let first = &sites(&leaky)[0];
    assert!(
        first["function"].as_str().unwrap().contains("scrape"),
        "{}",
        describe(&leaky)
    );
    assert!(first["verdict"]["growth_bytes_per_s"].as_f64().unwrap() > 0.0);
    for s in sites(&fixed) {
        assert_ne!(kind(s), "leak", "S5 fixed:\n{}", describe(&fixed));
    }
}

#[test]
fn a_sqlite_leak_through_rusqlite_is_traced_to_the_function_that_keeps_connections() {
    let lab = Lab::new();
    let bin = built("examples/sqlite_leak");
    let (out, report) = run_heap(&lab, &[], &[&bin, LONG]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("kept "), "{}", stdout(&out));
    let first = &sites(&report)[0];
    assert_judged_rising(first, &report);
    assert!(
        has_frame(first, "keep_connections"),
        "{}",
        describe(&report)
    );
    assert!(has_frame(first, "sqlite3"), "the stack runs through SQLite");
    for s in sites(&report)
        .iter()
        .filter(|s| has_frame(s, "query_and_close"))
    {
        assert_ne!(kind(s), "leak", "{}", describe(&report));
    }
}

#[test]
fn bad_heap_options_are_refused_naming_what_is_accepted() {
    let lab = Lab::new();
    let out = lab.run(&["run", "--heap", "--heap-export", "svg", "x", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("accepted: pprof"), "{}", stderr(&out));
    let out = lab.run(&["run", "--heap", "--heap-sample", "0", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--heap-sample"), "{}", stderr(&out));
    let out = lab.run(&["run", "--heap-sample", "1KiB", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "--heap-sample needs --heap");
}
