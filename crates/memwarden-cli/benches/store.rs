//! Micro-benchmark of the store's hot path (BENCHMARKS.md §6): one batch written by the writer
//! thread — what it commits every 250 ms at the fastest interval (10 ms): 25 samples and one
//! set of the ten largest processes' rows, in one transaction.
//!
//! ```text
//! cargo bench -p memwarden-cli --bench store
//! ```

// The CLI is a binary crate: its store is included here by path, as it is compiled there.
#[allow(dead_code, unused_imports)]
#[path = "../src/record/mod.rs"]
mod record;
#[allow(dead_code, unused_imports)]
#[path = "../src/store/mod.rs"]
mod store;

use criterion::{criterion_group, criterion_main, Criterion};
use memwarden::sample::{MachineSample, ProcessSample, Sample, TreeTotals};
use record::Record;
use record::RunMeta;
use store::writer::write_batch;
use store::Store;

fn batch() -> Vec<Record> {
    let mut records: Vec<Record> = (0..25)
        .map(|i| {
            Record::Sample(Sample {
                t: f64::from(i) * 0.01,
                tree: TreeTotals {
                    rss_bytes: 300 << 20,
                    anon_bytes: 200 << 20,
                    swap_bytes: 0,
                    pss_bytes: Some(250 << 20),
                    threads: 40,
                    fds: 120,
                    processes: 10,
                },
                cgroup_bytes: Some(310 << 20),
                machine: MachineSample {
                    mem_total_bytes: 24 << 30,
                    mem_available_bytes: 20 << 30,
                    psi_some_avg10: Some(0.0),
                    psi_full_avg10: Some(0.0),
                },
            })
        })
        .collect();
    let top = (0..10)
        .map(|p| ProcessSample {
            pid: 1000 + p,
            rss_bytes: 30 << 20,
            anon_bytes: 20 << 20,
            swap_bytes: 0,
            pss_bytes: Some(25 << 20),
            threads: 4,
            fds: Some(12),
        })
        .collect();
    records.push(Record::Processes(0.0, top));
    records
}

fn write(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::create(&dir.path().join("bench.db")).expect("store");
    let run_id = store
        .begin_run(
            &RunMeta {
                kind: record::RunKind::Run,
                label: "bench".into(),
                command: vec!["bench".into()],
                host: "bench".into(),
                started_at: "1970-01-01T00:00:00Z".into(),
                started_unix_ms: 0,
                interval_s: 0.01,
                mode: "process-tree".into(),
                metric: "anon".into(),
                mem_total_bytes: 24 << 30,
                options: record::RecordedOptions::default(),
            },
            None,
        )
        .expect("run");
    let records = batch();
    c.bench_function(
        "store batch: 25 samples + 10 process rows, one transaction",
        |b| b.iter(|| write_batch(&mut store, run_id, &records).expect("write")),
    );
}

criterion_group!(benches, write);
criterion_main!(benches);
