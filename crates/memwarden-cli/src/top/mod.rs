//! `memwarden top`: every process, command or cgroup of the machine, each judged by the leak
//! detector of `run`, ranked by how surely and how soon it leaks — live in a full-screen view
//! on a terminal, or as one ranked report at the end.
//!
//! The loop: the library's host sampler reads every process and sums the groups
//! ([`memwarden::sample::host`]); the [`board`] judges each group and ranks them; each group's
//! sample, verdict and events go to its metrics series (`--metrics`) and its run in the store
//! (`--record`); a group gone for long enough is forgotten by all three. [`tui`] draws the
//! board; [`report`] renders it at the end.

mod board;
mod record;
mod report;
mod tui;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use memwarden::sample::host::{GroupBy, HostCadence, HostSampler};

use crate::cli::{GroupByArg, TopArgs, TopFormat, TopMetricArg};
use crate::exit;
use crate::options::UsageError;
use crate::record::{Record, RecordedOptions, RunEnd, RunKind, RunMeta};
use crate::report::model::Metric;
use crate::sink::metrics::server::Endpoint;
use crate::sink::metrics::{Exporter, TreeLabels, TreeMetrics};
use crate::sink::Sink;
use board::Board;
use record::GroupRecorder;

/// `memwarden top`.
pub fn run(args: &TopArgs, db: Option<&Path>) -> Result<u8> {
    let by = match args.by {
        GroupByArg::Process => GroupBy::Process,
        GroupByArg::Command => GroupBy::Command,
        GroupByArg::Cgroup => GroupBy::Cgroup,
    };
    let metric = match args.metric {
        TopMetricArg::Anon => Metric::Anon,
        TopMetricArg::Rss => Metric::Rss,
    };
    let interactive =
        args.format.is_none() && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    // The endpoint first: an address that cannot be used is refused before anything starts.
    let served = match args.metrics {
        Some(addr) => {
            let exporter = Exporter::default();
            let endpoint = Endpoint::start(addr, exporter.clone()).map_err(UsageError)?;
            if !interactive {
                eprintln!("memwarden: metrics at http://{}/metrics", endpoint.addr());
            }
            Some((exporter, endpoint))
        }
        None => None,
    };
    let recorder = if args.record {
        Some(GroupRecorder::start(crate::store::path_or_default(db)?))
    } else {
        None
    };
    // One held `statm` per process of the machine.
    crate::supervise::child::raise_nofile();
    let sampler = HostSampler::new(by, HostCadence::for_interval(args.interval))
        .context("cannot read the machine's processes")?;
    // Verdicts are worded as the session goes only for what reads them then.
    let live = interactive || served.is_some() || recorder.is_some();
    let mut session = Session::new(sampler, metric, args, recorder, live);
    if let Some((exporter, _)) = &served {
        session.exporter = Some(exporter.clone());
    }
    let mut tick_at = Instant::now();
    let deadline = args.duration.map(|d| tick_at + d);
    if interactive {
        tui::run(&mut session, deadline)?;
        session.finish();
        return Ok(exit::OK);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    loop {
        session.tick()?;
        for failure in session.take_failures() {
            eprintln!("memwarden: {failure}; sampling goes on");
        }
        tick_at += args.interval;
        if deadline.is_some_and(|d| tick_at > d) {
            break;
        }
        // Short naps, so INT or TERM ends the session within a tenth of a second.
        while Instant::now() < tick_at && !stop.load(Ordering::Relaxed) {
            let left = tick_at.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tick_at = tick_at.max(Instant::now());
    }
    session.board.conclude();
    let report = session.report();
    session.finish();
    // Streamed: hundreds of groups' verdicts need not be one string in memory as well.
    crate::write_with(None, |out| {
        match args.format.unwrap_or(TopFormat::Text) {
            TopFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)?;
            }
            TopFormat::Text => out.write_all(report::text(&report, args.rows).as_bytes())?,
        }
        Ok(())
    })?;
    Ok(exit::OK)
}

/// A session of `top`: the sampler, the judged groups, and where their records go.
pub struct Session {
    sampler: HostSampler,
    board: Board,
    exporter: Option<Exporter>,
    metrics: HashMap<u64, TreeMetrics>,
    recorder: Option<GroupRecorder>,
    base_meta: RunMeta,
    samples: u64,
    interval: Duration,
}

impl Session {
    fn new(
        sampler: HostSampler,
        metric: Metric,
        args: &TopArgs,
        recorder: Option<GroupRecorder>,
        live: bool,
    ) -> Self {
        let now = SystemTime::now();
        let knobs = crate::options::detector_knobs(&args.detect);
        let base_meta = RunMeta {
            kind: RunKind::Top,
            label: String::new(),
            command: Vec::new(),
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            started_at: humantime::format_rfc3339_seconds(now).to_string(),
            started_unix_ms: unix_ms(now),
            interval_s: args.interval.as_secs_f64(),
            mode: format!("top --by {}", sampler.by().as_str()),
            metric: metric.name().to_string(),
            mem_total_bytes: 0,
            options: RecordedOptions {
                given: std::env::args().skip(1).collect(),
                detector: knobs,
                ..RecordedOptions::default()
            },
        };
        Session {
            board: Board::new(metric, knobs.config(), live),
            sampler,
            exporter: None,
            metrics: HashMap::new(),
            recorder,
            base_meta,
            samples: 0,
            interval: args.interval,
        }
    }

    /// Samples the machine once, judges every group, and hands each group's records on.
    pub fn tick(&mut self) -> Result<()> {
        let machine = self
            .sampler
            .sample()
            .context("cannot read the machine's processes")?;
        self.samples += 1;
        let by = self.sampler.by().as_str();
        for g in self.sampler.groups() {
            let up = self.board.update(g);
            let row = up.row;
            if up.new {
                if let Some(exporter) = &self.exporter {
                    let tree = exporter.tree(TreeLabels {
                        label: row.name.clone(),
                        tree: by.to_string(),
                    });
                    tree.thresholds(row.limit_bytes, None);
                    self.metrics.insert(row.id, tree);
                }
                if let Some(r) = &self.recorder {
                    let mut meta = self.base_meta.clone();
                    meta.label.clone_from(&row.name);
                    meta.command = vec![row.name.clone()];
                    meta.mem_total_bytes = machine.mem_total_bytes;
                    // Every group's run starts with the session: its samples' times are the
                    // session's, so groups of one session line up.
                    r.begin(row.id, meta);
                }
            }
            if self.exporter.is_none() && self.recorder.is_none() {
                continue;
            }
            let mut records = vec![Record::Sample(row.last)];
            records.extend(up.events.into_iter().map(Record::Event));
            if let Some(v) = up.verdict {
                records.push(Record::Verdict(v));
            }
            let tree = self.metrics.get_mut(&row.id);
            if let Some(tree) = tree {
                for r in &records {
                    tree.accept(r);
                }
            }
            if let Some(rec) = &self.recorder {
                for r in records {
                    rec.send(row.id, r);
                }
            }
        }
        for id in self.sampler.take_forgotten() {
            let row = self.board.forget(id);
            if let Some(tree) = self.metrics.remove(&id) {
                tree.forget();
            }
            if let (Some(rec), Some(row)) = (&self.recorder, row) {
                rec.send(id, Record::End(run_end(&row)));
            }
        }
        Ok(())
    }

    /// Failures to say now (the store).
    fn take_failures(&mut self) -> Vec<String> {
        self.recorder
            .as_ref()
            .and_then(GroupRecorder::take_failure)
            .into_iter()
            .collect()
    }

    /// The ranked report now.
    fn report(&self) -> report::TopReport {
        let start = self.sampler.start();
        report::build(
            &self.board,
            &self.sampler,
            report::Session {
                host: self.base_meta.host.clone(),
                started_at: self.base_meta.started_at.clone(),
                duration_s: start.elapsed().as_secs_f64(),
                samples: self.samples,
                interval_s: self.interval.as_secs_f64(),
            },
        )
    }

    /// Ends every group's run in the store (with its live processes), and waits for it.
    fn finish(self) {
        let Some(rec) = self.recorder else { return };
        for row in self.board.rows() {
            for (p, _) in self.sampler.members(row.id) {
                rec.send(row.id, Record::Process(p.clone()));
            }
            rec.send(row.id, Record::End(run_end(row)));
        }
        if let Some(loss) = rec.finish() {
            eprintln!("memwarden: {loss}");
        }
    }
}

/// The end of a group's run in the store.
fn run_end(row: &board::Row) -> RunEnd {
    RunEnd {
        ended_unix_ms: unix_ms(SystemTime::now()),
        duration_s: row.last.t,
        exit: None,
        stopped_by: None,
        status: exit::OK,
        peak_bytes: row.peak_bytes,
        verdict: Some(row.final_verdict()),
        samples: row.samples,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
