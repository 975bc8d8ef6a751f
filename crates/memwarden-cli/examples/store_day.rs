//! A long recorded run, simulated through the real store: the writer thread, its batches and
//! its folding, fed what `memwarden run` sends for a tree of ten processes sampled every
//! `--interval` for `--hours` (a sample each tick, the ten largest processes' rows once a
//! second, the live processes' summaries every ten seconds, as `supervise/monitor.rs` does).
//! Prints the database's size and rows as JSON. Used by `bench/run.sh`.
//!
//! ```text
//! cargo run --release -p memwarden-cli --example store_day -- DB [--hours 24] [--interval 1]
//! ```

// The CLI is a binary crate: its store is included here by path, as it is compiled there.
#[allow(dead_code, unused_imports)]
#[path = "../src/record/mod.rs"]
mod record;
#[allow(dead_code, unused_imports)]
#[path = "../src/store/mod.rs"]
mod store;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use memwarden::sample::{MachineSample, ProcessSample, ProcessSummary, Sample, TreeTotals};
use record::Record;
use record::{Event, RunEnd, RunMeta};
use store::writer::Recorder;

/// Processes in the simulated tree; also how many rows a second `run` records (its top ten).
const PROCESSES: u32 = 10;
/// Records sent before the feeder pauses for the writer's batch window, so the bounded channel
/// never overflows (the real sampler sends a few records per tick, never this many).
const CHUNK: usize = 2_000;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut db = None;
    let (mut hours, mut interval) = (24.0_f64, 1.0_f64);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<f64> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--hours" => hours = value("--hours")?,
            "--interval" => interval = value("--interval")?,
            _ if db.is_none() && !a.starts_with('-') => db = Some(PathBuf::from(a)),
            _ => bail!("usage: store_day DB [--hours H] [--interval SECONDS]"),
        }
    }
    let db = db.context("usage: store_day DB [--hours H] [--interval SECONDS]")?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let meta = RunMeta {
        kind: record::RunKind::Run,
        label: "store_day".into(),
        command: vec!["simulated".into()],
        host: "bench".into(),
        started_at: "1970-01-01T00:00:00Z".into(),
        started_unix_ms: 0,
        interval_s: interval,
        mode: "process-tree".into(),
        metric: "anon".into(),
        mem_total_bytes: 24 << 30,
        options: record::RecordedOptions::default(),
    };
    let mut recorder = Recorder::start(db.clone(), meta, None);

    let ticks = (hours * 3600.0 / interval).round() as u64;
    let mut sent = 0usize;
    let mut send = |r: Record| {
        recorder.send(r);
        sent += 1;
        if sent.is_multiple_of(CHUNK) {
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    send(Record::Event(Event::new(
        0.0,
        record::EventKind::Start,
        "simulated",
    )));
    let (mut last_rows, mut last_summaries) = (f64::NEG_INFINITY, 0.0);
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    for i in 0..ticks {
        let t = i as f64 * interval;
        let procs: Vec<ProcessSample> = (0..PROCESSES)
            .map(|p| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // A garbage-collected program's saw (a tooth a minute) plus noise.
                let anon = (50 << 20) + ((t % 60.0) * 100_000.0) as u64 + (rng >> 44);
                ProcessSample {
                    pid: 1000 + p,
                    rss_bytes: anon + (20 << 20),
                    anon_bytes: anon,
                    swap_bytes: 0,
                    pss_bytes: Some(anon + (5 << 20)),
                    threads: 4,
                    fds: Some(12),
                }
            })
            .collect();
        let sum = |f: fn(&ProcessSample) -> u64| procs.iter().map(f).sum::<u64>();
        send(Record::Sample(Sample {
            t,
            tree: TreeTotals {
                rss_bytes: sum(|p| p.rss_bytes),
                anon_bytes: sum(|p| p.anon_bytes),
                swap_bytes: 0,
                pss_bytes: Some(sum(|p| p.pss_bytes.unwrap_or(0))),
                threads: u64::from(PROCESSES) * 4,
                fds: u64::from(PROCESSES) * 12,
                processes: PROCESSES,
            },
            cgroup_bytes: None,
            machine: MachineSample {
                mem_total_bytes: 24 << 30,
                mem_available_bytes: (20 << 30) - (rng >> 40),
                psi_some_avg10: Some(0.0),
                psi_full_avg10: Some(0.0),
            },
        }));
        if t - last_rows >= 1.0 {
            last_rows = t;
            send(Record::Processes(t, procs.clone()));
        }
        if t - last_summaries >= 10.0 {
            last_summaries = t;
            for p in &procs {
                send(Record::Process(summary(p, t)));
            }
        }
    }
    let end_t = ticks as f64 * interval;
    recorder.end(RunEnd {
        ended_unix_ms: (end_t * 1000.0) as i64,
        duration_s: end_t,
        exit: None,
        stopped_by: None,
        status: 0,
        peak_bytes: 0,
        verdict: None,
        samples: ticks,
    });
    if let Some(loss) = recorder.wait() {
        bail!("{loss}");
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_before;

    // The writer has closed the database (SQLite checkpoints the WAL into it on close).
    let file_bytes = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", db.display())).map_or(0, |m| m.len())
    };
    let (db_bytes, wal_bytes) = (file_bytes(""), file_bytes("-wal"));
    let conn = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let count = |table: &str| -> Result<i64> {
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    let pragma =
        |name: &str| -> Result<i64> { Ok(conn.pragma_query_value(None, name, |r| r.get(0))?) };
    let report = serde_json::json!({
        "hours": hours,
        "interval_s": interval,
        "samples_sent": ticks,
        "records_sent": sent,
        "rows": {
            "samples": count("samples")?,
            "process_samples": count("process_samples")?,
            "processes": count("processes")?,
            "events": count("events")?,
        },
        "db_bytes": db_bytes,
        "wal_bytes": wal_bytes,
        "page_size": pragma("page_size")?,
        "page_count": pragma("page_count")?,
        "freelist_count": pragma("freelist_count")?,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn summary(p: &ProcessSample, t: f64) -> ProcessSummary {
    ProcessSummary {
        pid: p.pid,
        ppid: 1,
        start_ticks: 100,
        command: format!("worker --id {}", p.pid),
        first_seen_s: 0.0,
        last_seen_s: t,
        first_anon_bytes: 50 << 20,
        last_anon_bytes: p.anon_bytes,
        peak_anon_bytes: p.anon_bytes,
        peak_at_s: t,
        peak_rss_bytes: p.rss_bytes,
        peak_threads: 4,
        peak_fds: 12,
        exited: false,
    }
}

/// This process's CPU time (user + system), seconds: the writer thread's work, mostly.
fn cpu_seconds() -> f64 {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    s(r.user_time()) + s(r.system_time())
}
