//! Reports of recorded runs: HTML, CSV, text, `compare` and `ls` filters, on real runs and on
//! runs written into the store with fixed values (golden files, a week-long run).

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;

/// Does the same work and lets it go.
const STEADY: &str = r#"
import time
for i in range(50):
    b = bytearray(2 << 20)
    for j in range(0, len(b), 4096): b[j] = 1
    del b
    time.sleep(0.02)
time.sleep(0.2)
"#;

/// No part of the page is fetched from anywhere: the only URL is the SVG namespace.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<link",
        "<iframe",
        "<img",
        "@import",
        "url(",
        "src=",
        "href=",
        "<script src",
    ] {
        assert!(!lower.contains(bad), "the page has {bad}");
    }
    for scheme in ["http://", "https://", "//cdn", "ftp://"] {
        for (i, _) in lower.match_indices(scheme) {
            assert!(
                lower[..i].ends_with("xmlns=\"")
                    && lower[i..].starts_with("http://www.w3.org/2000/svg\""),
                "a URL that is not the SVG namespace at byte {i}: {}",
                &html[i.saturating_sub(40)..(i + 60).min(html.len())]
            );
        }
    }
}

#[test]
fn two_recorded_runs_make_a_self_contained_page_and_a_markdown_table() {
    let lab = Lab::new();
    lab.record("before", LEAK, "50ms");
    lab.record("after", STEADY, "50ms");

    let page = lab.html_report(Some("before"), "before.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        5,
        "memory (what leaks, what the limits watch), threads, fds, processes"
    );
    assert!(
        html.contains("Verdict: <strong>inconclusive</strong>")
            && html.contains("Too short to judge (it lasted"),
        "a short run is not judged yet"
    );
    assert!(html.contains("before.py"), "the command is shown");
    assert!(html.contains("<polyline"), "the series are drawn");
    assert_self_contained(&html);

    // To stdout as well.
    let out = lab.run(&["report", "after", "-f", "html"]);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("<!DOCTYPE html>"));
    assert_self_contained(&stdout(&out));

    let out = lab.run(&["compare", "before", "after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(
        md.contains("| | before | after | change |\n|---|---:|---:|---:|\n"),
        "{md}"
    );
    for row in [
        "| peak (anon) |",
        "| end (anon) |",
        "| floor growth | n/a | n/a |",
        "| verdict | inconclusive | inconclusive |",
        "| time to limit |",
        "| max processes |",
        "| max threads |",
        "| max fds |",
        "| duration |",
    ] {
        assert!(md.contains(row), "{row} in\n{md}");
    }
    let peak_line = md.lines().find(|l| l.starts_with("| peak")).unwrap();
    assert!(
        peak_line.contains("(-"),
        "the steady run peaks lower: {peak_line}"
    );

    // The leak got better, the other way round it got worse.
    let out = lab.run(&["compare", "before", "after", "--fail-if-worse", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = lab.run(&["compare", "after", "before", "--fail-if-worse", "10%"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("peak (anon) got worse"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("| peak (anon) |"),
        "the table is printed anyway"
    );
}

#[test]
fn csv_has_one_row_per_sample() {
    let lab = Lab::new();
    lab.record("leaky", LEAK, "50ms");
    let out = lab.run(&["report", "--format", "json"]);
    let report: serde_json::Value = stdout_json(&out);
    let out = lab.run(&["report", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = stdout(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "t_seconds,anon_bytes,rss_bytes,swap_bytes,pss_bytes,cgroup_bytes,threads,fds,\
         processes,mem_available_bytes,psi_some_avg10,psi_full_avg10"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, report["samples"].as_u64().unwrap());
    assert!(rows.iter().all(|r| r.len() == 12));
    let ts: Vec<f64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let peak: u64 = rows
        .iter()
        .map(|r| r[1].parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(peak, report["memory"]["peak_bytes"].as_u64().unwrap());
    assert!(peak >= 100 * MIB, "{peak}");
}

const T0: i64 = 1_714_557_600_000; // 2024-05-01T10:00:00Z

fn leaky_run() -> FakeRun {
    let mut r = FakeRun::new("service before", T0);
    r.duration_s = 10.0;
    r.options = json!({"interval": "1s", "metric": "anon", "limit_bytes": 400 * MIB,
                       "warn_bytes": 300 * MIB});
    r.verdict = Some(json!({
        "kind": "leak", "memory_kind": "leak", "growth_bytes_per_s": 10.0 * MIB as f64,
        "growth_ci_bytes_per_s": [9.5 * MIB as f64, 10.5 * MIB as f64],
        "detected_at_s": 6.0, "time_to_limit_s": 20.0,
        "reason": "the floor rose 10.0 MiB/s and kept rising"
    }));
    r.samples = (0..=10)
        .map(|i| FakeSample {
            t: i as f64,
            anon: 100 * MIB + i * 10 * MIB,
            rss: 120 * MIB + i * 10 * MIB,
            threads: 4 + i / 5,
            fds: 10 + i,
            processes: 2,
            mem_available: 8 << 30,
            ..Default::default()
        })
        .collect();
    r.processes = vec![(
        4242,
        "python3 service.py".into(),
        0.0,
        10.0,
        90 * MIB,
        190 * MIB,
        190 * MIB,
    )];
    r.events = vec![
        (
            0.0,
            "start".into(),
            "started `python3 service.py` as pid 4242".into(),
        ),
        (
            8.0,
            "warn".into(),
            "the tree's memory passed 300 MiB".into(),
        ),
    ];
    r
}

fn fixed_run() -> FakeRun {
    let mut r = FakeRun::new("service after", T0 + 3_600_000);
    r.duration_s = 12.5;
    r.verdict = Some(json!({
        "kind": "stable", "memory_kind": "stable", "growth_bytes_per_s": 2.0 * 1024.0,
        "growth_ci_bytes_per_s": [-1024.0, 5.0 * 1024.0],
        "detected_at_s": null, "time_to_limit_s": null,
        "reason": "the floor stayed within 1% for the whole run"
    }));
    r.samples = (0..=12)
        .map(|i| FakeSample {
            t: i as f64,
            anon: 100 * MIB + (i % 3) * 5 * MIB,
            rss: 120 * MIB + (i % 3) * 5 * MIB,
            threads: 4,
            fds: 12,
            processes: 2,
            mem_available: 8 << 30,
            ..Default::default()
        })
        .collect();
    r
}

#[test]
fn compare_prints_the_golden_markdown_table() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    leaky_run().insert(&mut db);
    fixed_run().insert(&mut db);

    let out = lab.run(&["compare", "service before", "service after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    golden("compare.md", &stdout(&out));

    let out = lab.run(&["compare", "1", "2", "--format", "text"]);
    assert!(out.status.success(), "{}", stderr(&out));
    golden("compare.txt", &stdout(&out));

    let out = lab.run(&["compare", "1", "2", "--format", "json"]);
    let doc: serde_json::Value = stdout_json(&out);
    assert_eq!(doc["before"]["label"], "service before");
    let row = |key: &str| {
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no {key} row in {doc}"))
            .clone()
    };
    assert_eq!(row("peak_bytes")["before"], 200 * MIB);
    assert_eq!(row("peak_bytes")["after"], 110 * MIB);
    assert_eq!(row("peak_bytes")["change"], -90 * MIB as i64);
    assert_eq!(row("peak_bytes")["change_pct"], -45.0);
    assert_eq!(row("verdict")["before"], "leak");
    assert_eq!(row("verdict")["after"], "stable");
    assert_eq!(row("time_to_limit_s")["after"], serde_json::Value::Null);
    assert_eq!(row("growth_bytes_per_s")["after"], 2048.0);
}

#[test]
fn fail_if_worse_gates_on_peak_growth_and_new_leaks() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    leaky_run().insert(&mut db); // 1
    fixed_run().insert(&mut db); // 2
    let mut faster = leaky_run(); // 3: the same peak, growth 12 MiB/s instead of 10
    faster.label = "faster".into();
    faster.verdict.as_mut().unwrap()["growth_bytes_per_s"] = json!(12.0 * MIB as f64);
    faster.insert(&mut db);

    let status = |args: &[&str]| {
        let out = lab.run(args);
        (out.status.code(), stderr(&out))
    };
    assert_eq!(
        status(&["compare", "1", "2", "--fail-if-worse", "0"]).0,
        Some(0)
    );
    assert_eq!(
        status(&["compare", "1", "1", "--fail-if-worse", "0"]).0,
        Some(0)
    );

    let (code, err) = status(&["compare", "2", "1", "--fail-if-worse", "500"]);
    assert_eq!(
        code,
        Some(1),
        "stable → leak fails whatever the percentage: {err}"
    );
    assert!(
        err.contains("the verdict went from stable to leak"),
        "{err}"
    );
    assert!(!err.contains("peak"), "the peak grew by 81.8% only: {err}");

    let (code, err) = status(&["compare", "1", "3", "--fail-if-worse", "10"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("floor growth got worse") && err.contains("+20.0%"),
        "{err}"
    );
    assert_eq!(
        status(&["compare", "1", "3", "--fail-if-worse", "25"]).0,
        Some(0)
    );

    let (code, err) = status(&["compare", "1", "3", "--fail-if-worse", "ten"]);
    assert_eq!(code, Some(2), "a usage error: {err}");
    assert!(
        err.contains("--fail-if-worse") && err.contains("10%"),
        "{err}"
    );
    let (code, err) = status(&["compare", "1", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no run with id or label 'nope'"), "{err}");
}

#[test]
fn csv_columns_match_the_golden_file() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    let mut r = FakeRun::new("csv", T0);
    r.duration_s = 2.0;
    let base = FakeSample {
        anon: 1000,
        rss: 3000,
        threads: 2,
        fds: 7,
        processes: 1,
        mem_available: 5 << 30,
        ..Default::default()
    };
    r.samples = vec![
        FakeSample { t: 0.0, ..base },
        FakeSample {
            t: 0.5,
            anon: 2048,
            swap: 512,
            pss: Some(2500),
            cgroup: Some(4096),
            psi_some: Some(0.25),
            psi_full: Some(0.0),
            ..base
        },
        FakeSample {
            t: 1.25,
            threads: 3,
            fds: 9,
            processes: 2,
            ..base
        },
        FakeSample {
            t: 2.0,
            anon: 0,
            rss: 0,
            threads: 0,
            fds: 0,
            processes: 0,
            ..base
        },
    ];
    r.insert(&mut db);
    let out = lab.run(&["report", "csv", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    golden("samples.csv", &stdout(&out));
}

#[test]
fn ls_filters_by_label_and_start() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    FakeRun::new("nightly-1", T0).insert(&mut db);
    FakeRun::new("Nightly-2", T0 + 2 * 86_400_000).insert(&mut db);
    FakeRun::new("adhoc 50%_done", now_ms - 600_000).insert(&mut db);

    let labels = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ls", "--format", "json"];
        all.extend(args);
        let out = lab.run(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        let rows: serde_json::Value = stdout_json(&out);
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(labels(&[]).len(), 3);
    assert_eq!(labels(&["--label", "nightly"]), ["nightly-1", "Nightly-2"]);
    assert_eq!(labels(&["--label", "NIGHTLY-2"]), ["Nightly-2"]);
    assert_eq!(
        labels(&["--label", "%_"]),
        ["adhoc 50%_done"],
        "no wildcards"
    );
    assert_eq!(
        labels(&["--since", "2024-05-02"]),
        ["Nightly-2", "adhoc 50%_done"]
    );
    assert_eq!(
        labels(&["--since", "2024-05-03 10:00"]),
        ["Nightly-2", "adhoc 50%_done"]
    );
    assert_eq!(
        labels(&["--since", "2024-05-03T10:00:01Z"]),
        ["adhoc 50%_done"]
    );
    assert_eq!(labels(&["--since", "1h"]), ["adhoc 50%_done"]);
    assert_eq!(labels(&["--since", "5m"]), Vec::<String>::new());
    assert_eq!(
        labels(&["--since", "1h", "--label", "nightly"]),
        Vec::<String>::new()
    );

    let out = lab.run(&["ls", "--label", "weekly"]);
    assert_eq!(stdout(&out), "no runs match\n");
    let out = lab.run(&["ls", "--since", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
}

#[test]
fn a_week_at_one_second_makes_a_small_page() {
    const WEEK: u64 = 7 * 24 * 3600;
    let lab = Lab::new();
    let mut db = lab.fake_store();
    let mut r = FakeRun::new("a week", T0);
    r.duration_s = WEEK as f64;
    r.options = json!({"interval": "1s", "metric": "anon", "limit_bytes": 2u64 << 30});
    // A garbage-collected saw over a floor rising 1 MiB an hour, with one spike.
    r.samples = (0..WEEK)
        .map(|t| {
            let saw = (t % 600) * 100 * 1024;
            let spike = if t == 300_000 { 700 * MIB } else { 0 };
            let anon = 200 * MIB + t * MIB / 3600 + saw + spike;
            FakeSample {
                t: t as f64,
                anon,
                rss: anon + 50 * MIB,
                threads: 8 + (t / 86_400),
                fds: 40 + (t % 7),
                processes: 3,
                mem_available: 4 << 30,
                ..Default::default()
            }
        })
        .collect();
    r.events = (0..50)
        .map(|i| {
            (
                i as f64 * 12_000.0,
                "signal".to_string(),
                format!("SIGUSR1 #{i}"),
            )
        })
        .collect();
    let started = Instant::now();
    r.insert(&mut db);
    eprintln!("inserted {WEEK} samples in {:.1?}", started.elapsed());
    drop(db);

    let started = Instant::now();
    let page = lab.html_report(None, "week.html");
    let took = started.elapsed();
    let html = std::fs::read_to_string(&page).unwrap();
    eprintln!(
        "a week-long run: {} bytes of HTML in {took:.1?}",
        html.len()
    );
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    assert_eq!(html.matches("<svg").count(), 5);
    assert!(html.contains("limit 2.0 GiB"));
    assert!(
        html.contains("900 MiB") || html.contains("1 GiB"),
        "the spike sets the scale"
    );
    assert_self_contained(&html);

    let out = lab.run(&["report"]);
    let text = stdout(&out);
    let spark = text
        .lines()
        .find(|l| l.contains('▁') || l.contains('█'))
        .unwrap_or_else(|| panic!("a sparkline in\n{text}"));
    assert!(spark.contains('█'), "the spike shows: {spark}");
}
