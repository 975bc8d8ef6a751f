//! The scenarios (S1–S5, scenarios/README.md; leaky and fixed) under `memwarden run`, with
//! the detector's default knobs: every leaky variant must be judged `leak`, every fixed one
//! `stable` or `plateau`, and each must produce its memory shape, as measured on the tree's
//! anonymous memory (the lowest and highest readings of a window just after warm-up against
//! those of the last window; thresholds are a fraction of what the default rates produce, so
//! a busy machine does not fail them).
//!
//! Each variant runs for [`SECONDS`]: a verdict needs the warm-up (5 s, or a fifth of the run)
//! and a stretch of observation after it. The ten runs go at once — they mostly sleep — the
//! first time any test asks for one, and each test then checks its own.
//!
//! The Rust scenarios are workspace members: `cargo test --workspace` builds their binaries
//! next to `memwarden` (their own smoke tests make cargo build them). The fixed Python
//! variants use the `memwarden` Python package: they run with the interpreter named by
//! `MEMWARDEN_PYTHON`, else with the one `crates/memwarden-py/ci.sh --install` builds the
//! package into (once; a second call finds it built). The leaky ones need nothing but python3.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;

/// How long each variant runs.
const SECONDS: &str = "90";

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The command of a variant (`s3_collector-leaky`): Python scripts run by the real
/// interpreter, Rust binaries from the same target directory as `memwarden`.
fn command(name: &str) -> Result<Vec<String>, String> {
    let (scenario, variant) = name.rsplit_once('-').expect("scenario-variant");
    let cmd = if ["s1", "s2", "s3"].iter().any(|p| scenario.starts_with(p)) {
        let script = root()
            .join("scenarios")
            .join(scenario)
            .join(format!("{variant}.py"));
        let interpreter = if variant == "fixed" {
            package_python()?
        } else {
            python()
        };
        vec![interpreter, script.to_str().unwrap().to_string()]
    } else {
        let package = scenario.replacen('_', "-", 2);
        let bin = format!("{}-{variant}", &scenario[..2]);
        let dir = Path::new(env!("CARGO_BIN_EXE_memwarden")).parent().unwrap();
        let path = dir.join(&bin);
        if !path.is_file() {
            return Err(format!(
                "scenario binary {} is missing: build it with `cargo build -p {package}` \
                 (`cargo test --workspace` builds it)",
                path.display()
            ));
        }
        vec![path.to_str().unwrap().to_string()]
    };
    Ok(cmd)
}

/// A Python with the `memwarden` package installed from this repository.
fn package_python() -> Result<String, String> {
    static PATH: OnceLock<Result<String, String>> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("MEMWARDEN_PYTHON") {
            return Ok(p);
        }
        let script = root().join("crates/memwarden-py/ci.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("--install")
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "building the memwarden Python package failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        Ok(stdout.lines().last().unwrap_or_default().trim().to_string())
    })
    .clone()
}

const VARIANTS: [&str; 10] = [
    "s1_spawner-leaky",
    "s1_spawner-fixed",
    "s2_pipeline-leaky",
    "s2_pipeline-fixed",
    "s3_collector-leaky",
    "s3_collector-fixed",
    "s4_global_maps-leaky",
    "s4_global_maps-fixed",
    "s5_tasks-leaky",
    "s5_tasks-fixed",
];

/// One reading of the tree.
#[derive(Debug, Clone, Copy)]
struct Point {
    t: f64,
    anon: u64,
    threads: u64,
    fds: u64,
}

/// A finished run: its JSON report and its samples while the command ran.
struct Run {
    report: serde_json::Value,
    points: Vec<Point>,
}

/// The run of variant `name`, all ten run at once on first use.
fn run(name: &str) -> &'static Run {
    static RUNS: OnceLock<HashMap<&'static str, Result<Run, String>>> = OnceLock::new();
    let runs = RUNS.get_or_init(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = VARIANTS
                .iter()
                .map(|&name| (name, scope.spawn(move || record(name))))
                .collect();
            handles
                .into_iter()
                .map(|(name, h)| {
                    (
                        name,
                        h.join().unwrap_or_else(|_| Err(format!("{name} panicked"))),
                    )
                })
                .collect()
        })
    });
    match &runs[name] {
        Ok(run) => run,
        Err(e) => panic!("{e}"),
    }
}

/// Runs a variant under `memwarden run --interval 200ms --json` and reads back its samples.
fn record(name: &str) -> Result<Run, String> {
    let mut cmd = command(name)?;
    cmd.extend(["--duration".to_string(), SECONDS.to_string()]);
    let lab = Lab::new();
    let mut args = vec!["run", "--interval", "200ms", "--label", name, "--"];
    args.extend(cmd.iter().map(String::as_str));
    let (out, report) = lab.run_json(&args);
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}\n{report}", stderr(&out)));
    }
    let csv = lab.run(&["report", name, "--format", "csv"]);
    if !csv.status.success() {
        return Err(stderr(&csv));
    }
    Ok(Run {
        points: points(&stdout(&csv), &report),
        report,
    })
}

/// The samples of the CSV report taken while the command ran (not its leftovers' teardown).
fn points(csv: &str, report: &serde_json::Value) -> Vec<Point> {
    let ended = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "exit")
        .and_then(|e| e["at_s"].as_f64())
        .unwrap_or(f64::INFINITY);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (t, anon, threads, fds, procs) = (
        col("t_seconds"),
        col("anon_bytes"),
        col("threads"),
        col("fds"),
        col("processes"),
    );
    let points: Vec<Point> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[procs] != "0")
        .map(|f| Point {
            t: f[t].parse().unwrap(),
            anon: f[anon].parse().unwrap(),
            threads: f[threads].parse().unwrap(),
            fds: f[fds].parse().unwrap(),
        })
        .filter(|p| p.t < ended && p.anon > 0)
        .collect();
    assert!(points.len() >= 20, "too few samples: {points:?}");
    points
}

/// Floor and top of the tree's anonymous memory in a window, MiB.
#[derive(Debug, Clone, Copy)]
struct Window {
    floor: f64,
    top: f64,
}

impl Run {
    fn window(&self, from: f64, to: f64) -> Window {
        let inside: Vec<f64> = self
            .points
            .iter()
            .filter(|p| p.t >= from && p.t <= to)
            .map(|p| p.anon as f64 / MIB as f64)
            .collect();
        assert!(
            inside.len() >= 3,
            "too few samples in {from}..{to} s: {:?}",
            self.points
        );
        Window {
            floor: inside.iter().copied().fold(f64::INFINITY, f64::min),
            top: inside.iter().copied().fold(0.0, f64::max),
        }
    }

    /// The window of `width` seconds after `warmup`, and the last one of the scenario's work
    /// (it works for its `--duration`, then winds down, slowly on a busy machine).
    fn early_late(&self, warmup: f64, width: f64) -> (Window, Window) {
        let work_ends = SECONDS.parse::<f64>().unwrap() - 0.5;
        let end = self.points.last().unwrap().t.min(work_ends);
        assert!(
            end - width > warmup + width,
            "run too short ({end} s) for windows of {width} s after {warmup} s"
        );
        (
            self.window(warmup, warmup + width),
            self.window(end - width, end),
        )
    }

    fn count(&self, what: &str, which: &str) -> u64 {
        self.report["resources"][what][which].as_u64().unwrap()
    }

    fn describe(&self) -> String {
        let shape: Vec<String> = self
            .points
            .iter()
            .step_by(5)
            .map(|p| {
                format!(
                    "{:.0}s:{:.1}MiB/{}t/{}fd",
                    p.t,
                    p.anon as f64 / MIB as f64,
                    p.threads,
                    p.fds
                )
            })
            .collect();
        format!("{}\nmemory {}", shape.join(" "), self.report["memory"])
    }
}

impl Run {
    fn verdict(&self) -> &str {
        self.report["verdict"]["kind"].as_str().unwrap_or("none")
    }

    /// Judged `leak`, with what leaks in `resource`.
    fn assert_judged_leaking(&self, resource: &str) {
        let v = &self.report["verdict"];
        assert_eq!(self.verdict(), "leak", "{v}\n{}", self.describe());
        assert!(v["resource"].as_str().unwrap().contains(resource), "{v}");
    }

    /// Judged `stable` or `plateau`.
    fn assert_judged_not_leaking(&self) {
        assert!(
            matches!(self.verdict(), "stable" | "plateau"),
            "{}\n{}",
            self.report["verdict"],
            self.describe()
        );
    }
}

/// A leak: the late floor is at least `min_growth_mib` above the early one, and the top of
/// the run is in its last window.
fn assert_leaks(run: &Run, warmup: f64, width: f64, min_growth_mib: f64) {
    let (early, late) = run.early_late(warmup, width);
    assert!(
        late.floor - early.floor >= min_growth_mib,
        "expected the floor to rise by {min_growth_mib} MiB: early {early:?}, late {late:?}\n{}",
        run.describe()
    );
    assert!(
        late.top >= early.top + min_growth_mib,
        "expected the top to rise too: early {early:?}, late {late:?}\n{}",
        run.describe()
    );
}

/// No leak: after warm-up, the last window's floor and top are within `slack_mib` of the
/// early window's.
fn assert_flat(run: &Run, warmup: f64, width: f64, slack_mib: f64) {
    let (early, late) = run.early_late(warmup, width);
    assert!(
        late.floor <= early.floor + slack_mib && late.top <= early.top + slack_mib,
        "expected no growth beyond {slack_mib} MiB after warm-up: early {early:?}, \
         late {late:?}\n{}",
        run.describe()
    );
}

#[test]
fn s1_spawner_leaky_accumulates_helpers() {
    let run = run("s1_spawner-leaky");
    run.assert_judged_leaking("memory");
    assert_leaks(run, 10.0, 2.5, 60.0);
    let alive = run.report["processes"]["max_alive"].as_u64().unwrap();
    assert!(alive >= 12, "helpers should pile up: {}", run.report);
}

#[test]
fn s1_spawner_fixed_stays_within_its_budget() {
    let run = run("s1_spawner-fixed");
    run.assert_judged_not_leaking();
    // Wide windows: the floor dips each time a chunk drains (about every 10 s).
    assert_flat(run, 10.0, 20.0, 12.0);
    let r = &run.report;
    // Helpers come and go: many seen, never more alive than the workers (5 by default) + 1.
    assert!(r["processes"]["seen"].as_u64().unwrap() >= 8, "{r}");
    assert!(r["processes"]["max_alive"].as_u64().unwrap() <= 9, "{r}");
    assert!(
        r["memory"]["peak_bytes"].as_u64().unwrap() <= 128 * MIB,
        "over the 128 MiB budget: {r}"
    );
}

#[test]
fn s2_pipeline_leaky_grows_in_the_producer() {
    let run = run("s2_pipeline-leaky");
    run.assert_judged_leaking("memory");
    assert_leaks(run, 10.0, 2.0, 15.0);
}

#[test]
fn s2_pipeline_fixed_is_flat() {
    let run = run("s2_pipeline-fixed");
    run.assert_judged_not_leaking();
    assert_flat(run, 10.0, 2.0, 6.0);
}

#[test]
fn s3_collector_leaky_saws_on_a_rising_floor() {
    let run = run("s3_collector-leaky");
    run.assert_judged_leaking("memory");
    // Windows wider than a tooth (2 s), so each holds a trough.
    assert_leaks(run, 10.0, 3.0, 8.0);
    // A sawtooth: the cleanup frees a lot within each window.
    let (early, late) = run.early_late(10.0, 3.0);
    assert!(
        early.top - early.floor >= 5.0 && late.top - late.floor >= 5.0,
        "expected teeth: early {early:?}, late {late:?}\n{}",
        run.describe()
    );
}

#[test]
fn s3_collector_fixed_saws_on_a_flat_floor() {
    let run = run("s3_collector-fixed");
    run.assert_judged_not_leaking();
    assert_flat(run, 10.0, 3.0, 4.0);
    let (early, _) = run.early_late(10.0, 3.0);
    assert!(
        early.top - early.floor >= 5.0,
        "expected teeth: {early:?}\n{}",
        run.describe()
    );
}

#[test]
fn s4_global_maps_leaky_grows_as_a_line() {
    let run = run("s4_global_maps-leaky");
    run.assert_judged_leaking("memory");
    assert_leaks(run, 10.0, 2.0, 10.0);
}

#[test]
fn s4_global_maps_fixed_plateaus() {
    let run = run("s4_global_maps-fixed");
    run.assert_judged_not_leaking();
    // Warm-up: the caches fill for a few seconds (a TTL of 2 s, and the maps' growth).
    assert_flat(run, 10.0, 5.0, 3.0);
}

#[test]
fn s5_tasks_leaky_leaks_threads_and_descriptors() {
    let run = run("s5_tasks-leaky");
    run.assert_judged_leaking("threads");
    assert!(run.report["verdict"]["resource"]
        .as_str()
        .unwrap()
        .contains("fds"));
    for what in ["threads", "fds"] {
        let (start, end) = (run.count(what, "start"), run.count(what, "end"));
        assert!(
            end >= start + 30,
            "{what}: {start} -> {end}\n{}",
            run.describe()
        );
    }
    let (first, last) = (run.points[5], *run.points.last().unwrap());
    assert!(
        last.threads >= first.threads + 20 && last.fds >= first.fds + 20,
        "{}",
        run.describe()
    );
    // Memory climbs too, slowly: stacks and the maps the blocked tasks hold.
    assert_leaks(run, 10.0, 2.0, 1.0);
}

#[test]
fn s5_tasks_fixed_keeps_threads_and_descriptors_flat() {
    let run = run("s5_tasks-fixed");
    run.assert_judged_not_leaking();
    let r = &run.report;
    // main, endpoint acceptor, 4 endpoint connections, a task or two in flight.
    assert!(run.count("threads", "peak") <= 12, "{}", run.describe());
    assert!(
        run.count("fds", "peak") <= run.count("fds", "start") + 15,
        "{r}\n{}",
        run.describe()
    );
    let (first, last) = (run.points[5], *run.points.last().unwrap());
    assert!(
        last.threads <= first.threads + 2 && last.fds <= first.fds + 2,
        "{}",
        run.describe()
    );
    assert_flat(run, 10.0, 2.0, 1.0);
}

/// The CI gate on every variant at its defaults (12-15 s, sampled at the default 1 s), as a
/// user's CI would run it: leaky ones fail `--fail-on-leak` (exit 122, said on stderr even
/// with `-q`), fixed ones pass.
#[test]
fn at_their_defaults_leaky_variants_fail_the_gate_and_fixed_ones_pass() {
    let gate = |name: &'static str| -> Result<(i32, String), String> {
        let lab = Lab::new();
        let mut args = vec![
            "run".to_string(),
            "-q".into(),
            "--fail-on-leak".into(),
            "--".into(),
        ];
        args.extend(command(name)?);
        let out = lab
            .memwarden()
            .args(&args)
            .output()
            .map_err(|e| e.to_string())?;
        Ok((out.status.code().unwrap_or(-1), stderr(&out)))
    };
    for pair in VARIANTS.chunks(2) {
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|&n| (n, scope.spawn(move || gate(n))))
                .collect();
            handles
                .into_iter()
                .map(|(n, h)| (n, h.join().expect("no panic")))
                .collect()
        });
        for (name, result) in results {
            let (code, err) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            if name.ends_with("leaky") {
                assert_eq!(code, 122, "{name}: {err}");
                let lines: Vec<&str> = err.lines().filter(|l| l.contains("gate failed")).collect();
                assert_eq!(lines.len(), 1, "{name}: one line, even with -q: {err}");
                assert!(lines[0].contains("--fail-on-leak"), "{name}: {err}");
            } else {
                assert_eq!(code, 0, "{name}: {err}");
            }
        }
    }
}
