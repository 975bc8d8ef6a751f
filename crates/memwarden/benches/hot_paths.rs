//! Micro-benchmarks of the per-sample hot paths (BENCHMARKS.md §6): parsing `statm` and
//! `stat`, one re-read of a held `statm`, the naive open/read/close it replaces, and one
//! detector update.
//!
//! ```text
//! cargo bench -p memwarden --bench hot_paths
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use memwarden::detect::{Detector, DetectorConfig};
use memwarden::sample::procfs::{self, ProcFs};

const STATM: &[u8] = b"3193 2213 1541 221 0 494 0\n";
const STAT: &[u8] = b"48263 (python3 worker) S 48250 48250 48250 34816 48250 4194560 5133 0 0 0 \
    31 7 0 0 20 0 3 0 8726514 27078656 3214 18446744073709551615 94490823122944 94490825856205 \
    140736948461984 0 0 0 0 16781312 134234626 1 0 0 17 1 0 0 0 0 0 94490826580336 \
    94490826813544 94490851401728 140736948468736 140736948468777 140736948468777 \
    140736948473826 0\n";
const STATUS: &[u8] = b"Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t48263\n\
    Ngid:\t0\nPid:\t48263\nPPid:\t48250\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
    FDSize:\t64\nGroups:\t0\nNStgid:\t48263\nNSpid:\t48263\nNSpgid:\t48250\nNSsid:\t48250\n\
    Kthread:\t0\nVmPeak:\t   26444 kB\nVmSize:\t   26444 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\n\
    VmHWM:\t   12856 kB\nVmRSS:\t   12856 kB\nRssAnon:\t    2692 kB\nRssFile:\t   10164 kB\n\
    RssShmem:\t       0 kB\nVmData:\t    3464 kB\nVmStk:\t     132 kB\nVmExe:\t    2804 kB\n\
    VmLib:\t    3512 kB\nVmPTE:\t      84 kB\nVmSwap:\t       0 kB\nHugetlbPages:\t       0 kB\n\
    CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t3\nSigQ:\t0/95964\n";

fn parsers(c: &mut Criterion) {
    c.bench_function("parse_statm", |b| {
        b.iter(|| procfs::parse_statm(black_box(STATM)))
    });
    c.bench_function("parse_stat", |b| {
        b.iter(|| procfs::parse_stat(black_box(STAT)))
    });
    c.bench_function("parse_status", |b| {
        b.iter(|| procfs::parse_status(black_box(STATUS)))
    });
}

fn reads(c: &mut Criterion) {
    let fs = ProcFs::default();
    let me = std::process::id();
    let held = fs.open_statm(me).expect("own statm");
    let mut small = [0u8; 256];
    c.bench_function("statm held: pread + parse (own process)", |b| {
        b.iter(|| {
            let n = procfs::read_held(&held, &mut small).expect("pread");
            procfs::parse_statm(&small[..n])
        })
    });
    let mut buf = Vec::with_capacity(4096);
    c.bench_function(
        "stat + statm naive: open/read/close + parse (own process)",
        |b| {
            b.iter(|| {
                let stat = fs.stat(me, &mut buf).expect("stat");
                fs.read(me, "statm", &mut buf).expect("statm");
                (stat.start_ticks, procfs::parse_statm(&buf))
            })
        },
    );
}

fn detector(c: &mut Criterion) {
    // A detector an hour into a run (its floor buckets full, each 32 s wide), fed 10 ms
    // samples: a bucket closes and the detector looks again every 3,200 pushes, so the mean
    // includes that share.
    let mut d = Detector::new(DetectorConfig::default());
    let mut t = 0.0;
    let value = |t: f64| 200e6 + (t % 30.0) * 1e6 + t * 100.0;
    while t < 3600.0 {
        d.push(t, value(t));
        t += 0.01;
    }
    c.bench_function("detector push (10 ms samples, steady state)", |b| {
        b.iter(|| {
            t += 0.01;
            d.push(black_box(t), black_box(value(t)));
        })
    });
    // The whole recorded floor judged once the run is over (128 buckets).
    c.bench_function("detector final_verdict (an hour's floor)", |b| {
        b.iter(|| black_box(&d).final_verdict(black_box(Some(8e9))))
    });
    // The dearest push: samples a second apart, 120 s into a run, so every push closes a
    // one-second bucket and the detector looks at 120 floor points again.
    let mut fresh = Detector::new(DetectorConfig::default());
    for i in 0..120 {
        fresh.push(i as f64, value(i as f64));
    }
    c.bench_function(
        "detector push closing a bucket (a look at 120 points)",
        |b| {
            b.iter_batched(
                || fresh.clone(),
                |mut d| {
                    d.push(black_box(120.0), black_box(value(120.0)));
                    d
                },
                BatchSize::SmallInput,
            )
        },
    );
}

criterion_group!(benches, parsers, reads, detector);
criterion_main!(benches);
