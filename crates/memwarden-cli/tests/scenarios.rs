//! The scenarios of DESIGN §9 (S1–S5, leaky and fixed) under the real `memwarden run`: each
//! must produce its memory shape, as measured on the tree's anonymous memory.
//!
//! Until the detector judges runs, the shape is checked from the stored samples: the floor
//! (lowest reading) and the top (highest) of a window just after warm-up against those of the
//! last window. A leak's late floor is well above its early one; a fixed variant's late window
//! is no higher than its early one, give or take noise. Thresholds are a fraction of what the
//! default rates produce, so a busy machine (which slows the scenarios down) does not fail them.
//!
//! The Rust scenarios are workspace members: `cargo test --workspace` builds their binaries
//! next to `memwarden` (their own smoke tests make cargo build them).

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python scenario: the interpreter and its script.
fn python_scenario(dir: &str, variant: &str) -> Vec<String> {
    let script = root()
        .join("scenarios")
        .join(dir)
        .join(format!("{variant}.py"));
    vec![python(), script.to_str().unwrap().to_string()]
}

/// A Rust scenario's binary, from the same target directory as `memwarden`.
fn rust_scenario(package: &str, bin: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_BIN_EXE_memwarden")).parent().unwrap();
    let path = dir.join(bin);
    assert!(
        path.is_file(),
        "scenario binary {} is missing: build it with `cargo build -p {package}` \
         (`cargo test --workspace` builds it)",
        path.display()
    );
    vec![path.to_str().unwrap().to_string()]
}

/// One reading of the tree.
#[derive(Debug, Clone, Copy)]
struct Point {
    t: f64,
    anon: u64,
    threads: u64,
    fds: u64,
}

/// A finished run: its JSON report and its samples while the tree was alive.
struct Run {
    report: serde_json::Value,
    points: Vec<Point>,
}

/// Runs `cmd` under `memwarden run --interval 200ms --json` and reads back its samples.
fn run(cmd: Vec<String>) -> Run {
    let lab = Lab::new();
    let mut args = vec!["run", "--interval", "200ms", "--"];
    args.extend(cmd.iter().map(String::as_str));
    let (out, report) = lab.run_json(&args);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{report}",
        stderr(&out)
    );
    let run_id = report["run_id"].as_i64().expect("the run was stored");
    let points = stored_points(&lab.db(), run_id);
    Run { report, points }
}

/// The run's samples from the store, without those taken after the command ended (the
/// tree's teardown, where helpers exit one by one).
// TODO(report): read them from `memwarden report RUN --format csv` once it exists.
fn stored_points(db: &Path, run_id: i64) -> Vec<Point> {
    let conn = rusqlite::Connection::open(db).expect("open the run database");
    let mut stmt = conn
        .prepare(
            "SELECT t, anon, threads, fds, processes FROM samples WHERE run_id = ?1 ORDER BY t",
        )
        .expect("samples table");
    let rows: Vec<(Point, u64)> = stmt
        .query_map([run_id], |r| {
            Ok((
                Point {
                    t: r.get(0)?,
                    anon: r.get::<_, i64>(1)? as u64,
                    threads: r.get::<_, i64>(2)? as u64,
                    fds: r.get::<_, i64>(3)? as u64,
                },
                r.get::<_, i64>(4)? as u64,
            ))
        })
        .expect("query samples")
        .map(Result::unwrap)
        .collect();
    let mut points: Vec<Point> = rows
        .into_iter()
        .filter(|(p, procs)| *procs > 0 && p.anon > 0)
        .map(|(p, _)| p)
        .collect();
    // The last two readings may catch the command exiting.
    points.truncate(points.len().saturating_sub(2));
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

    /// The window of `width` seconds after `warmup`, and the last one of the run.
    fn early_late(&self, warmup: f64, width: f64) -> (Window, Window) {
        let end = self.points.last().unwrap().t;
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
    let run = run(python_scenario("s1_spawner", "leaky"));
    assert_leaks(&run, 2.0, 2.5, 60.0);
    let alive = run.report["processes"]["max_alive"].as_u64().unwrap();
    assert!(alive >= 12, "helpers should pile up: {}", run.report);
}

#[test]
fn s1_spawner_fixed_stays_within_its_budget() {
    let run = run(python_scenario("s1_spawner", "fixed"));
    assert_flat(&run, 2.0, 2.5, 12.0);
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
    let run = run(python_scenario("s2_pipeline", "leaky"));
    assert_leaks(&run, 2.0, 2.0, 15.0);
}

#[test]
fn s2_pipeline_fixed_is_flat() {
    let run = run(python_scenario("s2_pipeline", "fixed"));
    assert_flat(&run, 2.0, 2.0, 6.0);
}

#[test]
fn s3_collector_leaky_saws_on_a_rising_floor() {
    let run = run(python_scenario("s3_collector", "leaky"));
    // Windows wider than a tooth (2 s), so each holds a trough.
    assert_leaks(&run, 2.5, 3.0, 8.0);
    // A sawtooth: the cleanup frees a lot within each window.
    let (early, late) = run.early_late(2.5, 3.0);
    assert!(
        early.top - early.floor >= 5.0 && late.top - late.floor >= 5.0,
        "expected teeth: early {early:?}, late {late:?}\n{}",
        run.describe()
    );
}

#[test]
fn s3_collector_fixed_saws_on_a_flat_floor() {
    let run = run(python_scenario("s3_collector", "fixed"));
    assert_flat(&run, 3.0, 3.0, 4.0);
    let (early, _) = run.early_late(3.0, 3.0);
    assert!(
        early.top - early.floor >= 5.0,
        "expected teeth: {early:?}\n{}",
        run.describe()
    );
}

#[test]
fn s4_global_maps_leaky_grows_as_a_line() {
    let run = run(rust_scenario("s4-global-maps", "s4-leaky"));
    assert_leaks(&run, 1.0, 2.0, 10.0);
}

#[test]
fn s4_global_maps_fixed_plateaus() {
    let run = run(rust_scenario("s4-global-maps", "s4-fixed"));
    // Warm-up: the caches fill for one TTL (2 s).
    assert_flat(&run, 3.0, 2.0, 3.0);
}

#[test]
fn s5_tasks_leaky_leaks_threads_and_descriptors() {
    let run = run(rust_scenario("s5-tasks", "s5-leaky"));
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
    assert_leaks(&run, 1.0, 2.0, 1.0);
}

#[test]
fn s5_tasks_fixed_keeps_threads_and_descriptors_flat() {
    let run = run(rust_scenario("s5-tasks", "s5-fixed"));
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
    assert_flat(&run, 1.0, 2.0, 1.0);
}
