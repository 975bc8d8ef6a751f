//! One recorded session of sampling, shared by `run` and `watch`: take a sample, fold it into
//! the report's figures, hand it to the store, keep the events.

use std::time::Duration;

use memwarden::sample::{ProcessSample, ProcessSummary, Sample, SampleError, Sampler};

use super::placement::Placement;
use super::stop::{self, StopOutcome, StopPlan};
use crate::judge::{describe, Judges, RunVerdict};
use crate::options::SessionOptions;
use crate::record::{kind, Event, RunEnd, RunMeta};
use crate::report::model::{top_processes, Metric, RunReport, RunStats, TOP_PROCESSES};
use crate::store::writer::{Record, Recorder};

/// How often the largest processes' readings are recorded (per-process rows), at most.
const PROCESS_ROWS_EVERY: f64 = 1.0;
/// How often the live processes' summaries are saved, so a killed memwarden leaves them behind.
const SUMMARIES_EVERY: f64 = 10.0;

/// A session of sampling with its record.
pub struct Session {
    sampler: Sampler,
    metric: Metric,
    stats: RunStats,
    judges: Judges,
    /// The tightest known cap on the tree's memory, for time-to-limit.
    limit: Option<u64>,
    command_ended: bool,
    recorder: Recorder,
    events: Vec<Event>,
    exited: Vec<ProcessSummary>,
    top_buf: Vec<ProcessSample>,
    last_rows_t: f64,
    last_summaries_t: f64,
    last_recorded_t: f64,
    quiet: bool,
}

impl Session {
    /// A session over `sampler`, measured and judged as `opts` says, recorded by `recorder`.
    pub fn new(
        sampler: Sampler,
        opts: &SessionOptions,
        recorder: Recorder,
        limit: Option<u64>,
    ) -> Self {
        let (metric, quiet) = (opts.metric, opts.quiet);
        Session {
            sampler,
            metric,
            stats: RunStats::new(metric),
            judges: Judges::new(metric, opts.detector.clone()),
            limit,
            command_ended: false,
            recorder,
            events: Vec::new(),
            exited: Vec::new(),
            top_buf: Vec::with_capacity(TOP_PROCESSES),
            last_rows_t: f64::NEG_INFINITY,
            last_summaries_t: 0.0,
            last_recorded_t: f64::NEG_INFINITY,
            quiet,
        }
    }

    /// Seconds since the session started.
    pub fn now(&self) -> f64 {
        self.sampler.start().elapsed().as_secs_f64()
    }

    /// The sampler (its tree, to stop it).
    pub fn sampler_mut(&mut self) -> &mut Sampler {
        &mut self.sampler
    }

    /// Stops the whole tree as `plan` says, re-reading it on the session's clock.
    pub fn stop_tree(&mut self, placement: Option<&Placement>, plan: &StopPlan) -> StopOutcome {
        let start = self.now();
        let clock = std::time::Instant::now();
        stop::stop_tree(self.sampler.tree_mut(), placement, plan, || {
            start + clock.elapsed().as_secs_f64()
        })
    }

    /// Takes a sample and records it.
    pub fn tick(&mut self) -> Result<Sample, SampleError> {
        let sample = self.sampler.sample()?;
        self.record(sample);
        Ok(sample)
    }

    /// Takes a sample, and records it when `every` has passed since the last recorded one or
    /// when it raises a peak. Near a polled limit samples come every few milliseconds; the
    /// record keeps the base rate (a week near a limit must not fill the disk), yet every
    /// peak is kept, so the report's peaks are the highest readings memwarden took.
    pub fn tick_every(&mut self, every: Duration) -> Result<Sample, SampleError> {
        let sample = self.sampler.sample()?;
        // Ticks are never early, but the clock is read a little after the wake-up: a margin
        // keeps a base-rate tick from being skipped for a few microseconds.
        let due = sample.t - self.last_recorded_t >= every.as_secs_f64() * 0.9;
        let peak = self.stats.peak_bytes() < self.stats_metric(&sample)
            || sample.tree.rss_bytes > self.stats.peak_rss()
            || sample.cgroup_bytes.unwrap_or(0) > self.stats.peak_cgroup().unwrap_or(0);
        if due || peak {
            self.record(sample);
        } else {
            self.collect_exited();
        }
        Ok(sample)
    }

    fn stats_metric(&self, sample: &Sample) -> u64 {
        if sample.tree.processes == 0 {
            0
        } else {
            self.metric.of(sample)
        }
    }

    fn record(&mut self, sample: Sample) {
        self.last_recorded_t = sample.t;
        self.stats.push(&sample);
        self.recorder.send(Record::Sample(sample));
        // The verdict is about the command's life, not its leftovers being stopped.
        let changes = if self.command_ended {
            Vec::new()
        } else {
            self.judges.push(&sample)
        };
        for change in changes {
            self.push_event(Event::new(sample.t, kind::VERDICT, describe(&change)));
        }
        self.collect_exited();
        if sample.t - self.last_rows_t >= PROCESS_ROWS_EVERY && sample.tree.processes > 0 {
            self.last_rows_t = sample.t;
            self.sampler.tree().top(TOP_PROCESSES, &mut self.top_buf);
            self.recorder
                .send(Record::Processes(sample.t, self.top_buf.clone()));
        }
        if sample.t - self.last_summaries_t >= SUMMARIES_EVERY {
            self.last_summaries_t = sample.t;
            self.save_live_summaries();
        }
        if let Some(failure) = self.recorder.take_failure() {
            self.warn(&format!(
                "cannot record this run: {failure}; monitoring goes on"
            ));
            self.events
                .push(Event::new(sample.t, kind::STORE_ERROR, failure));
        }
    }

    /// The command has exited: later samples (its leftovers) no longer count toward the
    /// verdict or the end figures, only toward peaks.
    pub fn command_ended(&mut self) {
        self.command_ended = true;
        self.stats.command_ended();
    }

    /// Records an event now.
    pub fn event(&mut self, kind: &str, detail: impl Into<String>) {
        self.push_event(Event::new(self.now(), kind, detail));
    }

    fn push_event(&mut self, event: Event) {
        self.recorder.send(Record::Event(event.clone()));
        self.events.push(event);
    }

    /// Prints a warning on stderr (unless quiet).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("memwarden: {message}");
        }
    }

    /// The run's verdict now.
    pub fn verdict(&self) -> RunVerdict {
        self.judges.verdict(self.limit)
    }

    /// The run's id in the store, when it is recorded.
    pub fn run_id(&self) -> Option<i64> {
        self.recorder.run_id()
    }

    /// Peak of the run's metric so far.
    pub fn peak_bytes(&self) -> u64 {
        self.stats.peak_bytes()
    }

    fn collect_exited(&mut self) {
        for p in self.sampler.tree_mut().drain_exited() {
            self.recorder.send(Record::Process(p.clone()));
            self.exited.push(p);
        }
        // Only the largest exited processes can make the report's table: keep memory bounded
        // however many short-lived processes the tree runs.
        if self.exited.len() > 8 * TOP_PROCESSES {
            self.exited
                .sort_by_key(|p| std::cmp::Reverse(p.peak_anon_bytes));
            self.exited.truncate(TOP_PROCESSES);
        }
    }

    fn save_live_summaries(&self) {
        for p in self.sampler.tree().summaries() {
            self.recorder.send(Record::Process(p.clone()));
        }
    }

    /// Ends the session: saves what is left, waits for the store, and builds the report.
    pub fn finish(mut self, meta: &RunMeta, mut end: RunEnd) -> RunReport {
        end.samples = self.stats.samples();
        if end.verdict.is_none() {
            end.verdict = Some(self.verdict().to_json());
        }
        self.collect_exited();
        self.save_live_summaries();
        let run_id = self.recorder.run_id();
        let tree = self.sampler.tree();
        let processes = top_processes(tree.seen(), self.exited.iter().chain(tree.summaries()));
        if let Some(loss) = self.recorder.finish(end.clone()) {
            let detail = format!("{} records were not stored: {}", loss.records, loss.reason);
            if !self.quiet {
                eprintln!("memwarden: {detail}");
            }
            self.events
                .push(Event::new(end.duration_s, kind::STORE_ERROR, detail));
        }
        self.stats
            .report(run_id, meta, Some(&end), processes, self.events)
    }
}

/// The first sample is taken right away, then one every `interval`; a sampler that falls
/// behind skips ticks rather than bunching them.
pub fn next_tick(previous: std::time::Instant, interval: Duration) -> std::time::Instant {
    let next = previous + interval;
    let now = std::time::Instant::now();
    if next < now {
        now
    } else {
        next
    }
}
