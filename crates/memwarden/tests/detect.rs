//! The leak detector on real programs' traces and the scenarios' recorded runs, on every
//! synthetic shape, through a call and its revision, on odd input, and over runs long enough
//! to show its memory stays bounded.

#[path = "../examples/evaluate/synth.rs"]
mod synth;

use std::path::{Path, PathBuf};

use memwarden::detect::{Detector, DetectorConfig, Quantity, Verdict, VerdictKind};
use memwarden::trace;
use synth::{Shape, Spec};

const MIB: f64 = 1024.0 * 1024.0;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A detector fed every point.
fn fed(points: &[(f64, f64)], config: DetectorConfig) -> Detector {
    let mut d = Detector::new(config);
    for &(t, v) in points {
        d.push(t, v);
    }
    d
}

/// The final verdict on `points` with the default knobs.
fn final_of(points: &[(f64, f64)]) -> Verdict {
    fed(points, DetectorConfig::default()).final_verdict(None)
}

/// Every `n`th point: a trace recorded at 200 ms thinned to the CLI's default 1 s.
fn thinned(points: &[(f64, f64)], n: usize) -> Vec<(f64, f64)> {
    points.iter().copied().step_by(n).collect()
}

/// `(file, label)` rows of a corpus directory's `labels.csv`, by its header's columns.
fn labels(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("labels.csv")).expect("labels.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let label = header.iter().position(|&c| c == "label").unwrap();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[label].to_string())
        })
        .collect()
}

#[test]
fn real_programs_are_judged_as_labelled() {
    let dir = repo("bench/corpus/real");
    let rows = labels(&dir);
    assert_eq!(rows.len(), 6, "{rows:?}");
    for (file, label) in rows {
        let series = trace::read(&dir.join(&file), None).expect("the real traces parse");
        assert_eq!(series.column, "anon_bytes");
        let v = final_of(&series.points);
        let expected = match label.as_str() {
            "leak" => VerdictKind::Leak,
            "plateau" => VerdictKind::Plateau,
            _ => VerdictKind::Stable,
        };
        assert_eq!(v.kind, expected, "{file}: {v:?}");
        if expected == VerdictKind::Leak {
            assert!(
                v.reason.contains("still rising at the end"),
                "{file}: {v:?}"
            );
            assert!(v.growth_ci_per_s.0 <= v.growth_per_s && v.growth_per_s <= v.growth_ci_per_s.1);
        }
    }
}

#[test]
fn sqlite_leaking_for_three_minutes_is_rising_live_and_a_leak_at_the_end() {
    let series = trace::read(&repo("bench/corpus/real/sqlite_memory_inserts.csv"), None).unwrap();
    let d = fed(&series.points, DetectorConfig::default());
    // Three minutes is shorter than a cache may take to fill: live, it is rising, not called.
    let live = d.verdict_with_limit(Some(1024.0 * MIB));
    assert_eq!(live.kind, VerdictKind::Inconclusive, "{live:?}");
    assert!(live.rising, "{live:?}");
    assert_eq!(live.detected_at_s, None);
    // ~1.1 MiB/s from ~200 MiB: the 1 GiB limit is some 12 minutes away.
    let ttl = live
        .time_to_limit_s
        .expect("a rising floor has a time to the limit");
    assert!((600.0..900.0).contains(&ttl), "{live:?}");
    assert!(
        live.reason.contains("reaches the 1.0 GiB limit in"),
        "{}",
        live.reason
    );
    // Once the run is over, a floor still rising at the end is a leak.
    let done = d.final_verdict(Some(1024.0 * MIB));
    assert_eq!(done.kind, VerdictKind::Leak, "{done:?}");
    assert!(
        done.growth_per_s > 0.9 * MIB && done.growth_per_s < 1.3 * MIB,
        "{done:?}"
    );
    assert!(done.reason.starts_with("floor rose"), "{}", done.reason);
    assert!(done.time_to_limit_s.is_some(), "{done:?}");
}

#[test]
fn redis_filling_for_four_minutes_is_never_called_and_ends_a_plateau() {
    // A steady fill from 0 to 305 MiB over four minutes, then evictions keep it flat.
    let series = trace::read(
        &repo("bench/corpus/real/redis_maxmemory300_slow_fill.csv"),
        None,
    )
    .unwrap();
    let mut d = Detector::new(DetectorConfig::default());
    let mut was_rising = false;
    for &(t, v) in &series.points {
        d.push(t, v);
        assert_ne!(d.kind(), VerdictKind::Leak, "at {t}: {:?}", d.verdict());
        was_rising |= d.rising();
    }
    assert!(was_rising, "the fill was reported rising while it rose");
    let live = d.verdict();
    assert_eq!(live.kind, VerdictKind::Plateau, "{live:?}");
    assert_eq!(live.detected_at_s, None);
    let done = d.final_verdict(None);
    assert_eq!(done.kind, VerdictKind::Plateau, "{done:?}");
    assert!(done.reason.contains("levelled off"), "{}", done.reason);
    // Cut while it still fills, nothing in the trace tells the rise will stop.
    let first_two_minutes: Vec<_> = series
        .points
        .iter()
        .copied()
        .take_while(|p| p.0 <= 120.0)
        .collect();
    assert_eq!(final_of(&first_two_minutes).kind, VerdictKind::Leak);
}

#[test]
fn scenarios_are_judged_as_labelled_at_200ms_and_at_1s() {
    let dir = repo("scenarios/traces");
    let rows = labels(&dir);
    // At their defaults and for 60 s at 200 ms, and at their defaults at 1 s (`-1s`).
    assert_eq!(rows.len(), 30, "{rows:?}");
    for (file, label) in rows {
        let series = trace::read(&dir.join(&file), Some("anon_bytes")).unwrap();
        let mut runs = vec![(1, series.points.clone())];
        if !file.ends_with("-1s.csv") {
            runs.push((5, thinned(&series.points, 5)));
        }
        for (every, points) in runs {
            let v = final_of(&points);
            if label == "leak" {
                assert_eq!(v.kind, VerdictKind::Leak, "{file} every {every}: {v:?}");
            } else {
                assert_ne!(v.kind, VerdictKind::Leak, "{file} every {every}: {v:?}");
            }
        }
    }
}

#[test]
fn the_task_leak_is_called_on_its_threads_and_descriptors() {
    // S5 leaks a thread and three descriptors per tick, at its default 12 s.
    let path = repo("scenarios/traces/s5_tasks-leaky.csv");
    for (column, noun) in [("threads", "threads"), ("fds", "fds")] {
        let series = trace::read(&path, Some(column)).unwrap();
        let v = fed(&series.points, DetectorConfig::for_count(noun)).final_verdict(None);
        assert_eq!(v.kind, VerdictKind::Leak, "{column}: {v:?}");
        assert!(v.reason.contains(noun), "{}", v.reason);
    }
    let fixed = trace::read(
        &repo("scenarios/traces/s5_tasks-fixed.csv"),
        Some("threads"),
    )
    .unwrap();
    let v = fed(&fixed.points, DetectorConfig::for_count("threads")).final_verdict(None);
    assert_ne!(v.kind, VerdictKind::Leak, "{v:?}");
}

#[test]
fn a_fill_longer_than_the_span_is_called_then_revised_to_a_plateau() {
    // 100 MiB, then a cache of new keys adds 0.5 MiB/s for eight minutes from t = 60 s, then
    // stays full for twelve: longer than `min_span_s`, so the live verdict calls it, and
    // takes the call back once the floor has levelled off.
    let mut rng = synth::Rng::new(4);
    let mut d = Detector::new(DetectorConfig::default());
    let mut called = None;
    for i in 0..=1200 {
        let t = i as f64;
        let fill = 0.5 * MIB * (t - 60.0).clamp(0.0, 480.0);
        d.push(t, 100.0 * MIB + fill + 64.0 * 1024.0 * rng.normal());
        let v = d.verdict();
        if called.is_none() && v.kind == VerdictKind::Leak {
            called = v.detected_at_s;
            // Called once the rise has lasted `min_span_s` past warm-up, while it rises.
            assert!((420.0..=540.0).contains(&t), "called at {t}: {v:?}");
        }
        if called.is_some() {
            assert_eq!(v.detected_at_s, called, "the first call's time is kept");
        }
    }
    let v = d.verdict();
    assert_eq!(v.kind, VerdictKind::Plateau, "{v:?}");
    assert!(called.is_some(), "{v:?}");
    let revised = v.revised_at_s.expect("the call was revised");
    assert!(revised > 540.0 && revised < 1200.0, "{v:?}");
    assert!(!v.rising);
    assert!(
        v.reason.starts_with("levelled off at") && v.reason.contains("not a leak"),
        "{}",
        v.reason
    );
    // The final verdict agrees, and says the call was taken back.
    let done = d.final_verdict(None);
    assert_eq!(done.kind, VerdictKind::Plateau, "{done:?}");
    assert_eq!(done.detected_at_s, called);
    assert_eq!(done.revised_at_s, Some(revised));
    assert!(done.reason.contains("revised at"), "{}", done.reason);
}

#[test]
fn a_steady_leak_is_called_live_and_the_call_stands() {
    // 100 KiB/s on 100 MiB for half an hour.
    let mut d = Detector::new(DetectorConfig::default());
    let mut called = None;
    for i in 0..1800 {
        let t = i as f64;
        d.push(t, 100.0 * MIB + t * 100.0 * 1024.0);
        let v = d.verdict();
        if called.is_none() && v.kind == VerdictKind::Leak {
            called = v.detected_at_s;
        }
        if called.is_some() {
            assert_eq!(v.kind, VerdictKind::Leak, "at {t}: {v:?}");
            assert!(v.rising && v.revised_at_s.is_none());
        }
    }
    let config = DetectorConfig::default();
    let earliest = config.min_span_s / (1.0 - config.warmup_fraction);
    let at = called.expect("called");
    assert!(at >= earliest && at < earliest + 60.0, "called at {at}");
    let (live, done) = (d.verdict(), d.final_verdict(None));
    assert_eq!(done.kind, VerdictKind::Leak);
    assert_eq!(done.detected_at_s, live.detected_at_s);
    assert!(live.reason.contains("is still rising"), "{}", live.reason);
    assert!(
        done.reason.contains("was still rising at the end"),
        "{}",
        done.reason
    );
}

#[test]
fn growth_that_speeds_up_is_a_leak() {
    // Like a Node service leaking under V8's sawtooth (teeth of 100 MiB every 20 s): its
    // floor rises 2.7 MiB/min at first and twice that by the end of five minutes.
    let mut rng = synth::Rng::new(8);
    let points: Vec<_> = (0..=1500)
        .map(|i| {
            let t = i as f64 * 0.2;
            let floor = 67.0 * MIB + MIB * (2.7 * t / 60.0 + 0.27 * (t / 60.0).powi(2));
            let tooth = 100.0 * MIB * (t / 20.0).fract();
            (t, floor + tooth + 256.0 * 1024.0 * rng.normal())
        })
        .collect();
    let v = final_of(&points);
    assert_eq!(v.kind, VerdictKind::Leak, "{v:?}");
    assert!(v.reason.contains("still rising at the end"), "{}", v.reason);
}

#[test]
fn a_step_with_flat_floor_before_and_after_is_not_a_leak() {
    let mut rng = synth::Rng::new(11);
    for (step_at, seconds) in [(30.0, 120.0), (200.0, 600.0), (40.0, 60.0)] {
        let points: Vec<_> = (0..=(seconds as usize))
            .map(|i| {
                let t = i as f64;
                let step = if t >= step_at { 80.0 * MIB } else { 0.0 };
                (t, 150.0 * MIB + step + 32.0 * 1024.0 * rng.normal())
            })
            .collect();
        let v = final_of(&points);
        assert_ne!(
            v.kind,
            VerdictKind::Leak,
            "step at {step_at} of {seconds}: {v:?}"
        );
    }
}

/// Every shape at a leak rate and noise where its answer is clear, sampled every second.
fn shape(shape: Shape, seed: u64, duration: f64) -> Vec<(f64, f64)> {
    synth::generate(&Spec {
        shape,
        interval: 1.0,
        duration,
        base: 200.0 * MIB,
        rate: 200.0 * 1024.0,
        noise: 256.0 * 1024.0,
        wander: 0.0,
        startup: true,
        seed,
    })
    .points
}

#[test]
fn each_shape_gets_its_verdict_live_and_final() {
    for seed in 1..=5 {
        for s in [
            Shape::Line,
            Shape::LateLine,
            Shape::Staircase,
            Shape::SawRising,
        ] {
            let d = fed(&shape(s, seed, 1200.0), DetectorConfig::default());
            assert_eq!(
                d.kind(),
                VerdictKind::Leak,
                "{s:?} seed {seed}: {:?}",
                d.verdict()
            );
            let done = d.final_verdict(None);
            assert_eq!(done.kind, VerdictKind::Leak, "{s:?} seed {seed}: {done:?}");
            // Two minutes of a line are enough for the final verdict.
            let short = shape(s, seed, 120.0);
            if s == Shape::Line {
                let v = final_of(&short);
                assert_eq!(v.kind, VerdictKind::Leak, "{s:?} seed {seed}, 2 min: {v:?}");
            }
        }
        for s in [
            Shape::SawFlat,
            Shape::Noise,
            Shape::Plateau,
            Shape::Fill,
            Shape::Step,
        ] {
            let d = fed(&shape(s, seed, 1200.0), DetectorConfig::default());
            let (live, done) = (d.verdict(), d.final_verdict(None));
            for v in [&live, &done] {
                assert!(
                    matches!(v.kind, VerdictKind::Plateau | VerdictKind::Stable),
                    "{s:?} seed {seed}: {v:?}"
                );
                assert_eq!(v.detected_at_s, None, "{s:?} seed {seed}: {v:?}");
            }
            assert_eq!(
                live.kind, done.kind,
                "{s:?} seed {seed}: live and final agree"
            );
        }
    }
}

#[test]
fn a_fast_leak_in_a_ci_run_is_a_leak_at_its_end() {
    // S3's shape: 2 s GC teeth of 13 MiB on a floor rising 2.5 MiB/s from 22 MiB, for a
    // minute at 200 ms as CI samples it, and at the CLI's default 1 s.
    for interval in [0.2, 1.0] {
        let points: Vec<_> = (0..=(60.0 / interval) as usize)
            .map(|i| {
                let t = i as f64 * interval;
                (
                    t,
                    22.0 * MIB + 2.5 * MIB * t + 13.0 * MIB * (t / 2.0).fract(),
                )
            })
            .collect();
        let d = fed(&points, DetectorConfig::default());
        assert!(d.rising(), "{:?}", d.verdict());
        let v = d.final_verdict(None);
        assert_eq!(v.kind, VerdictKind::Leak, "every {interval}s: {v:?}");
        assert!((v.growth_per_s - 2.5 * MIB).abs() < 0.3 * MIB, "{v:?}");
    }
}

#[test]
fn a_short_run_that_does_not_grow_is_stable() {
    // CI runs the fixed scenarios for a minute: flat with deep dips (workers restarting).
    let points: Vec<_> = (0..300)
        .map(|i| {
            let dip = if i % 100 < 3 { 60.0 * MIB } else { 0.0 };
            (i as f64 * 0.2, 83.0 * MIB - dip)
        })
        .collect();
    let d = fed(&points, DetectorConfig::default());
    assert_eq!(d.kind(), VerdictKind::Stable, "{:?}", d.verdict());
    assert_eq!(d.final_verdict(None).kind, VerdictKind::Stable);
}

#[test]
fn warm_up_is_not_a_leak() {
    // Up to 300 MiB in the first 20 s, then flat with noise, for ten minutes.
    let mut rng = synth::Rng::new(9);
    let points: Vec<_> = (0..600)
        .map(|i| {
            let t = i as f64;
            let v = 300.0 * MIB * (1.0 - (-t / 5.0).exp()) + 2e5 * rng.normal() + 10.0 * MIB;
            (t, v)
        })
        .collect();
    let d = fed(&points, DetectorConfig::default());
    assert_ne!(d.verdict().kind, VerdictKind::Leak);
    assert_ne!(d.final_verdict(None).kind, VerdictKind::Leak);
}

#[test]
fn time_to_limit_projects_the_trend() {
    let d = fed(
        &(0..300)
            .map(|i| (i as f64, 100.0 * MIB + i as f64 * MIB))
            .collect::<Vec<_>>(),
        DetectorConfig::default(),
    );
    // Live: rising, not yet called; last value 399 MiB, 1 MiB/s: 601 s to go.
    let v = d.verdict_with_limit(Some(1000.0 * MIB));
    assert!(v.rising && v.kind == VerdictKind::Inconclusive, "{v:?}");
    let ttl = v.time_to_limit_s.unwrap();
    assert!((ttl - 601.0).abs() < 5.0, "{ttl}");
    assert_eq!(d.verdict_with_limit(Some(10.0)).time_to_limit_s, Some(0.0));
    assert_eq!(d.verdict_with_limit(None).time_to_limit_s, None);
    assert_eq!(d.verdict().time_to_limit_s, None);
    // Final: a leak, projected the same way.
    let done = d.final_verdict(Some(1000.0 * MIB));
    assert_eq!(done.kind, VerdictKind::Leak);
    assert!(
        (done.time_to_limit_s.unwrap() - 601.0).abs() < 5.0,
        "{done:?}"
    );
    // A flat floor has no time to a limit.
    let flat = fed(
        &(0..300)
            .map(|i| (i as f64, 100.0 * MIB))
            .collect::<Vec<_>>(),
        DetectorConfig::default(),
    );
    let v = flat.verdict_with_limit(Some(1000.0 * MIB));
    assert!(!v.rising && v.time_to_limit_s.is_none(), "{v:?}");
}

#[test]
fn counts_are_judged_and_printed_as_counts() {
    // A thread every 5 s over ten minutes (a task per tick that never exits).
    let points: Vec<_> = (0..600).map(|i| (i as f64, 8.0 + (i / 5) as f64)).collect();
    let d = fed(&points, DetectorConfig::for_count("threads"));
    let v = d.verdict();
    assert_eq!(v.kind, VerdictKind::Leak, "{v:?}");
    assert!(v.reason.contains("threads"), "{}", v.reason);
    assert!((v.growth_per_s - 0.2).abs() < 0.01, "{v:?}");

    // A pool that grows and shrinks between 8 and 12 threads.
    let mut rng = synth::Rng::new(3);
    let points: Vec<_> = (0..600)
        .map(|i| (i as f64, 8.0 + (rng.next_u64() % 5) as f64))
        .collect();
    let d = fed(&points, DetectorConfig::for_count("threads"));
    assert_eq!(d.verdict().kind, VerdictKind::Stable, "{:?}", d.verdict());
    assert_eq!(d.final_verdict(None).kind, VerdictKind::Stable);
    assert_eq!(d.config().quantity, Quantity::Count("threads"));
}

#[test]
fn odd_input_never_panics_nor_yields_nan() {
    let check = |d: &Detector| {
        for v in [d.verdict_with_limit(Some(1e9)), d.final_verdict(Some(1e9))] {
            assert!(v.growth_per_s.is_finite(), "{v:?}");
            assert!(v.growth_ci_per_s.0.is_finite() && v.growth_ci_per_s.1.is_finite());
            assert!(!v.reason.is_empty());
        }
        d.verdict()
    };
    // Empty.
    let d = Detector::new(DetectorConfig::default());
    assert_eq!(check(&d).kind, VerdictKind::Inconclusive);
    assert_eq!(d.final_verdict(None).kind, VerdictKind::Inconclusive);
    assert_eq!(d.samples(), 0);

    // One point.
    let mut d = Detector::new(DetectorConfig::default());
    d.push(3.0, 5.0);
    assert_eq!(check(&d).kind, VerdictKind::Inconclusive);
    assert!(d
        .final_verdict(None)
        .reason
        .starts_with("too short to judge"));

    // Duplicate timestamps are kept (the bucket keeps the smaller value).
    let mut d = Detector::new(DetectorConfig::default());
    for i in 0..3000 {
        d.push((i / 10) as f64, 1e6 + (i % 7) as f64);
    }
    assert_eq!(d.rejected(), 0);
    assert_eq!(check(&d).kind, VerdictKind::Stable);

    // Time going backwards and non-finite values are dropped and counted.
    let mut d = Detector::new(DetectorConfig::default());
    d.push(10.0, 1.0);
    d.push(9.0, 2.0);
    d.push(11.0, f64::NAN);
    d.push(f64::NAN, 3.0);
    d.push(12.0, f64::INFINITY);
    d.push(f64::INFINITY, 3.0);
    d.push(13.0, f64::NEG_INFINITY);
    assert_eq!((d.samples(), d.rejected()), (1, 6));
    check(&d);

    // Constant, zero, negative and huge values.
    for value in [0.0, -5.0, 1e300, f64::MAX / 4.0] {
        let d = fed(
            &(0..500).map(|i| (i as f64, value)).collect::<Vec<_>>(),
            DetectorConfig::default(),
        );
        assert_eq!(check(&d).kind, VerdictKind::Stable, "{value}");
        assert_eq!(d.final_verdict(None).kind, VerdictKind::Stable, "{value}");
    }

    // Odd configurations.
    let config = DetectorConfig {
        bucket_s: 0.0,
        max_buckets: 0,
        min_points: 0,
        ..DetectorConfig::default()
    };
    let d = fed(
        &(0..1000).map(|i| (i as f64, i as f64)).collect::<Vec<_>>(),
        config,
    );
    check(&d);
}

#[test]
fn memory_stays_bounded_over_a_week_at_10ms() {
    // 60 480 000 samples would take a minute in a debug build; 6 million at 10 ms (~17 h)
    // already merges the buckets thirteen times, and a week at 1 s covers the long span.
    let config = DetectorConfig::default();
    let max = config.max_buckets;
    let mut d = Detector::new(config.clone());
    let mut most = 0;
    for i in 0..6_000_000u64 {
        let t = i as f64 * 0.01;
        d.push(t, 2e8 + ((i % 3000) as f64) * 1e4);
        if i % 1000 == 0 {
            most = most.max(d.buckets());
        }
    }
    assert!(most <= max && d.buckets() <= max, "{most}");
    assert!(d.buckets() >= max / 2);
    assert_eq!(d.verdict().kind, VerdictKind::Stable, "{:?}", d.verdict());
    assert_eq!(d.final_verdict(None).kind, VerdictKind::Stable);

    let mut d = Detector::new(config);
    for i in 0..604_800u64 {
        d.push(i as f64, 2e8 + (i % 10) as f64 * 1e6);
        assert!(d.buckets() <= max);
    }
    assert_eq!(d.floor().count(), d.buckets());
    assert_eq!(d.verdict().kind, VerdictKind::Stable, "{:?}", d.verdict());
    assert_eq!(d.final_verdict(None).kind, VerdictKind::Stable);
}

#[test]
fn psrecord_and_mprof_recordings_parse() {
    let plain = trace::read(&fixture("psrecord_leaky.log"), None).unwrap();
    assert_eq!(plain.format, trace::Format::PsrecordPlain);
    assert!(plain.points.len() > 30);
    // A Python process holding 40 MiB more by the end.
    let (first, last) = (plain.points[0].1, plain.points.last().unwrap().1);
    assert!(last - first > 30.0 * MIB, "{first} {last}");

    let csv = trace::read(&fixture("psrecord_leaky.csv"), None).unwrap();
    assert_eq!(csv.format, trace::Format::PsrecordCsv);
    assert_eq!(csv.column, "mem_real");
    assert!(csv.points.len() > 30);

    let mprof = trace::read(&fixture("mprof_leaky.dat"), None).unwrap();
    assert_eq!(mprof.format, trace::Format::Mprof);
    assert_eq!(mprof.points[0].0, 0.0);
    assert!(mprof.points.windows(2).all(|w| w[0].0 <= w[1].0));

    // With --multiprocess, the children's CHLD lines are added to the tree's total.
    let multi = trace::read(&fixture("mprof_multiprocess.dat"), None).unwrap();
    let text = std::fs::read_to_string(fixture("mprof_multiprocess.dat")).unwrap();
    let first_mem: f64 = text
        .lines()
        .filter(|l| l.starts_with("MEM"))
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        multi.points[1].1 > first_mem * MIB + 30.0 * MIB,
        "{:?}",
        multi.points[1]
    );
}

#[test]
fn recorded_leaks_are_called_by_the_final_verdict() {
    // Written by psrecord and mprof themselves, from a Python program that keeps 256 KiB
    // every 0.25 s for 100 s under a small sawtooth.
    for name in ["psrecord_slow_leak.log", "mprof_slow_leak.dat"] {
        let series = trace::read(&fixture(name), None).unwrap();
        let v = final_of(&series.points);
        assert_eq!(v.kind, VerdictKind::Leak, "{name}: {v:?}");
    }
}

#[test]
fn a_leak_that_starts_late_in_a_long_run_is_called_within_minutes() {
    // Two hours flat at 200 MiB (floor buckets are a minute wide by then), then 2 MiB/min:
    // the live verdict calls it once it has lasted `min_span_s` and a few buckets.
    let mut rng = synth::Rng::new(5);
    let mut d = Detector::new(DetectorConfig::default());
    for i in 0..14_400 {
        let t = i as f64;
        let leak = 2.0 * MIB / 60.0 * (t - 7200.0).max(0.0);
        d.push(t, 200.0 * MIB + leak + 64.0 * 1024.0 * rng.normal());
        if t < 7200.0 {
            assert_eq!(d.verdict().detected_at_s, None, "at {t}: {:?}", d.verdict());
        }
    }
    let v = d.verdict();
    let at = v.detected_at_s.expect("called");
    assert!(at - 7200.0 < 20.0 * 60.0, "{v:?}");
    assert_eq!(d.final_verdict(None).kind, VerdictKind::Leak);
}
