//! The one sampling loop of `run` and `watch`: sample the tree, fold the sample into the run's
//! figures and verdict, hand it to the sinks, let the policy decide, act, and wait for the
//! next tick or for something to happen (the command's exit, a signal, a hook's end, a
//! deadline). The setups differ (a spawned command in its own cgroup, or processes that already
//! ran); the loop is this one, over any [`Source`].

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use memwarden::sample::{ProcessSample, Sample};
use memwarden::units::{format_bytes, format_rate};

use super::actor::{Actor, Trigger};
use super::policy::{Decision, Policy, Reading, StopOrder, Trend};
use super::reclaim::Reclaim;
use super::signals::Wake;
use super::source::Source;
use super::stop::StopPlan;
use crate::judge::{describe, Judges};
use crate::record::{Event, EventKind, ExitInfo, Record, RunEnd, RunMeta, RunVerdict, StoppedBy};
use crate::report::exited::Exited;
use crate::report::model::{processes_report, Metric, RunReport, RunStats, TOP_PROCESSES};
use crate::report::text::{processes, shorten, signal_name};
use crate::sink::console::worth_a_line;
use crate::sink::Sinks;

/// How often the largest processes' readings are recorded (per-process rows), at most.
const PROCESS_ROWS_EVERY: f64 = 1.0;
/// How often the live processes' summaries are saved, so a killed memwarden leaves them behind.
const SUMMARIES_EVERY: f64 = 10.0;
/// How often the live verdict goes to the sinks with fresh figures, besides on every change.
const VERDICT_EVERY: f64 = 5.0;

/// What a signal to memwarden does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignal {
    /// It was forwarded to the command (`run`); a second one stops the tree.
    Forwarded,
    /// It stops the tree (`run --wait tree` after the command exited: nobody to forward to).
    StopTree,
    /// It ends the session, stopping nothing (`watch`).
    End,
}

/// When one pass of the loop ends.
#[derive(Debug, Clone, Copy)]
pub struct Until {
    /// This process's exit ends it (`run`: the command).
    pub root: Option<u32>,
    /// An empty tree ends it (`watch`; `run --wait tree`).
    pub empty: bool,
    /// This moment ends it (`watch --duration`).
    pub deadline: Option<Instant>,
    /// What a signal does.
    pub on_signal: OnSignal,
}

/// Why a pass of the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The root process exited, and how.
    RootExited(ExitInfo),
    /// The tree has no process left.
    TreeEmpty,
    /// The deadline passed.
    DeadlinePassed,
    /// A signal ended the session (`watch`).
    Signalled(i32),
    /// memwarden stopped the tree, and what is left it cannot stop (`watch`: nothing more
    /// can be done).
    Unstoppable,
}

/// How memwarden ended its part: what it stopped and whether anything escaped it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stops {
    /// Why memwarden stopped the tree, if it did (the first reason).
    pub by: Option<StoppedBy>,
    /// Processes memwarden tried to stop and could not.
    pub survivors: Vec<u32>,
    /// The signal that last interrupted memwarden, if one did.
    pub interrupted: Option<i32>,
}

/// Everything a session's loop needs besides its source.
pub struct Parts {
    /// The thresholds.
    pub policy: Policy,
    /// What carries out the actions.
    pub actor: Actor,
    /// Where the records go.
    pub sinks: Sinks,
    /// The memory figure the run is judged by.
    pub metric: Metric,
    /// The leak detector's configuration.
    pub detector: memwarden::detect::DetectorConfig,
    /// The base interval between samples.
    pub interval: Duration,
    /// `--grace`.
    pub grace: Duration,
    /// The tightest known cap on the tree's memory, for time-to-limit.
    pub limit: Option<u64>,
    /// What a dead memwarden left, being reclaimed beside the run (`run` only).
    pub reclaim: Option<Reclaim>,
}

/// A session of sampling: the loop and everything it keeps.
pub struct Monitor<S: Source> {
    src: S,
    policy: Policy,
    actor: Actor,
    sinks: Sinks,
    judges: Judges,
    stats: RunStats,
    metric: Metric,
    events: Vec<Event>,
    exited: Exited,
    top_buf: Vec<ProcessSample>,
    base: Duration,
    interval: Duration,
    grace: Duration,
    limit: Option<u64>,
    reclaim: Option<Reclaim>,
    timeout_at: Option<Instant>,
    command_ended: bool,
    rising: bool,
    stops: Stops,
    watched: Vec<u32>,
    last_rows_t: f64,
    last_summaries_t: f64,
    last_recorded_t: f64,
    last_verdict_t: f64,
}

impl<S: Source> Monitor<S> {
    /// A session over `src`.
    pub fn new(src: S, parts: Parts) -> Self {
        let timeout_at =
            parts.policy.rules().timeout_s.map(|t| {
                Instant::now() + Duration::from_secs_f64(t).saturating_sub(dur(src.now()))
            });
        Monitor {
            judges: Judges::new(parts.metric, parts.detector),
            stats: RunStats::new(parts.metric),
            metric: parts.metric,
            policy: parts.policy,
            actor: parts.actor,
            sinks: parts.sinks,
            events: Vec::new(),
            exited: Exited::default(),
            top_buf: Vec::with_capacity(TOP_PROCESSES),
            base: parts.interval,
            interval: parts.interval,
            grace: parts.grace,
            limit: parts.limit,
            reclaim: parts.reclaim,
            timeout_at,
            command_ended: false,
            rising: false,
            stops: Stops::default(),
            watched: Vec::new(),
            last_rows_t: f64::NEG_INFINITY,
            last_summaries_t: 0.0,
            last_recorded_t: f64::NEG_INFINITY,
            last_verdict_t: 0.0,
            src,
        }
    }

    /// Seconds since the session started.
    pub fn now(&self) -> f64 {
        self.src.now()
    }

    /// What memwarden stopped, and what escaped it.
    pub fn stops(&self) -> &Stops {
        &self.stops
    }

    /// The run's id in the store, when it is recorded.
    pub fn run_id(&self) -> Option<i64> {
        self.sinks.run_id()
    }

    /// Peak of the run's metric so far.
    pub fn peak_bytes(&self) -> u64 {
        self.stats.peak_bytes()
    }

    /// The processes `watch` was asked to watch: their exits are said as they happen.
    pub fn watch_roots(&mut self, pids: &[u32]) {
        self.watched = pids.to_vec();
    }

    /// Records an event now.
    pub fn event(&mut self, kind: EventKind, detail: impl Into<String>) {
        let event = Event::new(self.now(), kind, detail);
        self.sinks.accept(&Record::Event(event.clone()));
        self.events.push(event);
    }

    /// Records an event now and says it to the user, live.
    pub fn say(&mut self, kind: EventKind, detail: impl Into<String>) {
        let detail = detail.into();
        self.sinks.accept(&Record::Line(detail.clone()));
        self.event(kind, detail);
    }

    /// Samples until `until` says the pass is over.
    pub fn run(&mut self, wake: &Receiver<Wake>, until: Until) -> Result<Ending> {
        let mut tick_at = Instant::now();
        loop {
            let sample = self.tick()?;
            self.note_root_exits();
            if until.empty && sample.tree.processes == 0 {
                return Ok(Ending::TreeEmpty);
            }
            self.guard(&sample);
            if until.root.is_none() && !self.stops.survivors.is_empty() {
                return Ok(Ending::Unstoppable);
            }
            tick_at = next_tick(tick_at, self.interval);
            if until.deadline.is_some_and(|d| tick_at > d) {
                return Ok(Ending::DeadlinePassed);
            }
            loop {
                let wait_until = self.deadline().map_or(tick_at, |d| d.min(tick_at));
                match wake.recv_deadline(wait_until) {
                    Ok(Wake::Exited(pid, info)) if Some(pid) == until.root => {
                        return Ok(Ending::RootExited(info))
                    }
                    Ok(Wake::Exited(pid, info)) => {
                        if let Some(detail) = self.actor.child_exited(pid, info) {
                            self.event(EventKind::Hook, detail);
                        }
                    }
                    Ok(Wake::Signal(sig)) => {
                        if let Some(ending) = self.signalled(sig, until.on_signal) {
                            return Ok(ending);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        self.on_time();
                        if Instant::now() >= tick_at {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => bail!("the signal thread stopped"),
                }
            }
        }
    }

    /// Takes a sample, and records it when the base interval has passed since the last
    /// recorded one or when it raises a peak. Near a polled limit samples come every few
    /// milliseconds; the record keeps the base rate (a week near a limit must not fill the
    /// disk), yet every peak is kept, so the report's peaks are the highest readings taken.
    pub fn tick(&mut self) -> Result<Sample> {
        let sample = self.src.sample()?;
        // Ticks are never early, but the clock is read a little after the wake-up: a margin
        // keeps a base-rate tick from being skipped for a few microseconds.
        let due = sample.t - self.last_recorded_t >= self.base.as_secs_f64() * 0.9;
        let value = if sample.tree.processes == 0 {
            0
        } else {
            self.metric.of(&sample)
        };
        let peak = self.stats.peak_bytes() < value
            || sample.tree.rss_bytes > self.stats.peak_rss()
            || sample.cgroup_bytes.unwrap_or(0) > self.stats.peak_cgroup().unwrap_or(0);
        if due || peak {
            self.record(sample);
        } else {
            self.collect_exited();
        }
        Ok(sample)
    }

    fn record(&mut self, sample: Sample) {
        let reclaimed = self.reclaim.as_ref().map(Reclaim::notes);
        for (kind, detail) in reclaimed.into_iter().flatten() {
            self.say(kind, detail);
        }
        self.last_recorded_t = sample.t;
        self.stats.push(&sample);
        self.sinks.accept(&Record::Sample(sample));
        // The verdict is about the command's life, not its leftovers being stopped.
        let changes = if self.command_ended {
            Vec::new()
        } else {
            self.judges.push(&sample)
        };
        let changed = !changes.is_empty();
        for change in changes {
            let detail = describe(&change);
            if worth_a_line(change.before, change.verdict.kind) {
                self.sinks.accept(&Record::Line(detail.clone()));
            }
            let event = Event::new(sample.t, EventKind::Verdict, detail);
            self.sinks.accept(&Record::Event(event.clone()));
            self.events.push(event);
        }
        let rising = !self.command_ended && self.judges.memory_rising();
        if rising && !self.rising {
            let v = self.verdict();
            self.say(EventKind::Verdict, rising_words(&v));
        }
        self.rising = rising;
        if changed || sample.t - self.last_verdict_t >= VERDICT_EVERY {
            self.last_verdict_t = sample.t;
            let verdict = self.verdict();
            self.sinks.accept(&Record::Verdict(verdict));
        }
        self.collect_exited();
        if sample.t - self.last_rows_t >= PROCESS_ROWS_EVERY && sample.tree.processes > 0 {
            self.last_rows_t = sample.t;
            self.src.top(TOP_PROCESSES, &mut self.top_buf);
            self.sinks
                .accept(&Record::Processes(sample.t, self.top_buf.clone()));
        }
        if sample.t - self.last_summaries_t >= SUMMARIES_EVERY {
            self.last_summaries_t = sample.t;
            self.save_live_summaries();
        }
        for failure in self.sinks.take_failures() {
            // A run that is not recorded is always said, quiet or not.
            eprintln!("memwarden: {failure}; monitoring goes on");
            let event = Event::new(sample.t, EventKind::StoreError, failure);
            self.events.push(event);
        }
    }

    /// Says when a watched process exits while its descendants live on.
    fn note_root_exits(&mut self) {
        if self.watched.is_empty() {
            return;
        }
        let (alive, gone): (Vec<u32>, Vec<u32>) = self
            .watched
            .iter()
            .partition(|&&pid| self.src.is_member(pid));
        if gone.is_empty() {
            return;
        }
        self.watched = alive;
        let left = self.src.members().len();
        for pid in gone {
            let next = if left == 0 {
                "nothing of its tree is left".to_string()
            } else {
                format!(
                    "following the {} still in its tree until they exit",
                    processes(left as u64)
                )
            };
            self.say(EventKind::Exit, format!("watched pid {pid} exited; {next}"));
        }
    }

    /// The policy's decisions on one sample, carried out.
    fn guard(&mut self, sample: &Sample) {
        let reading = Reading {
            t: sample.t,
            tree_rss: sample.tree.rss_bytes,
            tree_charged: sample.cgroup_bytes.unwrap_or(sample.tree.rss_bytes),
            mem_total: sample.machine.mem_total_bytes,
            mem_available: sample.machine.mem_available_bytes,
            psi_full_avg10: sample.machine.psi_full_avg10,
            new_oom_kills: self.src.new_oom_kills(),
        };
        let measure = if sample.cgroup_bytes.is_some() {
            "cgroup charge"
        } else {
            "resident, summed"
        };
        for decision in self.policy.observe(&reading) {
            self.decide(decision, reading.tree_charged, measure);
        }
        let rules = self.policy.rules();
        if (rules.on_leak || rules.act_before_s.is_some()) && !self.command_ended {
            let v = self.verdict();
            let trend = Trend {
                leak: v.leaks(),
                time_to_limit_s: v.time_to_limit_s,
                limit_bytes: v.limit_bytes,
            };
            if let Some(decision) = self.policy.observe_trend(&trend) {
                self.decide(decision, reading.tree_charged, measure);
            }
        }
        // Sampling faster near a limit must not read the dearer files faster too.
        let interval = self.policy.interval(self.base);
        if interval != self.interval {
            self.interval = interval;
            self.src.set_interval(interval);
        }
    }

    fn decide(&mut self, decision: Decision, bytes: u64, measure: &str) {
        match decision {
            Decision::OomKill { count } => self.say(
                EventKind::OomKill,
                format!(
                    "the kernel's OOM killer killed {} in the run's cgroup",
                    processes(count)
                ),
            ),
            Decision::Warn { bytes, threshold } => {
                let detail = format!(
                    "the tree's memory reached {} ({measure}; --warn {})",
                    format_bytes(bytes),
                    format_bytes(threshold)
                );
                self.sinks
                    .accept(&Record::Line(format!("warning: {detail}")));
                self.event(EventKind::Warn, detail.clone());
                self.act(Trigger::Warn, bytes, &detail);
            }
            Decision::Rearm { bytes } => self.event(
                EventKind::Rearm,
                format!(
                    "the tree's memory fell to {}, below {:.0} % of --warn: armed again",
                    format_bytes(bytes),
                    super::policy::REARM_FRACTION * 100.0
                ),
            ),
            Decision::Leak { trigger, detail } => {
                let reason = self.verdict().reason;
                let detail = format!("{detail} ({})", shorten(&reason, 200));
                self.say(EventKind::Leak, detail.clone());
                if self.act(Trigger::Leak(trigger), bytes, &detail) {
                    if let Some(order) = self.policy.leak_stop(&detail) {
                        self.stop(&order);
                    }
                }
            }
            Decision::Stop(order) => self.stop(&order),
        }
    }

    /// Runs a trigger's actions; whether they ask for a stop.
    fn act(&mut self, trigger: Trigger, bytes: u64, detail: &str) -> bool {
        let run_id = self.run_id();
        let acted = self
            .actor
            .act(&mut self.src, trigger, bytes, detail, run_id);
        for done in acted.done {
            self.say(EventKind::Action, done);
        }
        acted.stop
    }

    /// Acts on time passing: hooks past their timeout, the timeout.
    fn on_time(&mut self) {
        for detail in self.actor.expire(Instant::now()) {
            self.event(EventKind::Hook, detail);
        }
        if let Some(order) = self.policy.timed_out(self.now()) {
            self.stop(&order);
        }
    }

    /// The next moment something must happen without a sample: the timeout, a hook's timeout.
    fn deadline(&self) -> Option<Instant> {
        let timeout = self.timeout_at.filter(|_| self.stops.by.is_none());
        [timeout, self.actor.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn signalled(&mut self, sig: i32, on_signal: OnSignal) -> Option<Ending> {
        let name = signal_name(sig);
        let again = self.stops.interrupted.is_some();
        self.stops.interrupted = Some(sig);
        match on_signal {
            OnSignal::End => {
                self.event(EventKind::Signal, format!("{name} ended the watch"));
                return Some(Ending::Signalled(sig));
            }
            OnSignal::Forwarded if !again => {
                self.say(
                    EventKind::Signal,
                    format!(
                        "forwarded {name} to the command (send it again to stop the whole tree)"
                    ),
                );
            }
            OnSignal::Forwarded | OnSignal::StopTree => {
                if let Some(order) = self.policy.interrupt_stop(&name) {
                    self.stop(&order);
                }
            }
        }
        None
    }

    /// Carries out a stop order: TERM to every process, the grace, KILL; records it all.
    pub fn stop(&mut self, order: &StopOrder) {
        self.say(order.kind.clone(), order.detail.clone());
        self.stops.by.get_or_insert(order.reason);
        let plan = StopPlan {
            grace: self.grace,
            kill_above: order.kill_above,
        };
        self.stop_with(&plan, &format!("stopped the tree ({})", order.reason));
    }

    /// Stops the whole tree as `plan` says; `what` opens the event that says how it went.
    fn stop_with(&mut self, plan: &StopPlan, what: &str) {
        let names = self.names();
        let outcome = self.src.stop(plan);
        self.event(EventKind::Stop, format!("{what}: {}", outcome.describe()));
        if !outcome.survivors.is_empty() {
            let named: Vec<String> = outcome
                .survivors
                .iter()
                .map(|pid| match names.iter().find(|(p, _)| p == pid) {
                    Some((_, command)) => format!("{pid} ({})", shorten(command, 40)),
                    None => pid.to_string(),
                })
                .collect();
            self.say(
                EventKind::Stop,
                format!(
                    "could not stop {}: {}",
                    processes(named.len() as u64),
                    named.join(", ")
                ),
            );
            self.stops.survivors.extend(&outcome.survivors);
        }
    }

    fn names(&self) -> Vec<(u32, String)> {
        self.src
            .summaries()
            .map(|p| (p.pid, p.command.clone()))
            .collect()
    }

    /// The command has exited: says how, and from now on samples (its leftovers) no longer
    /// count toward the verdict or the end figures, only toward peaks. The kernel may have
    /// killed it at the limit: that is a stop for the limit.
    pub fn command_exited(&mut self, info: ExitInfo) {
        let how = match (info.code, info.signal) {
            (_, Some(sig)) => format!("the command was killed by {}", signal_name(sig)),
            (Some(code), None) => format!("the command exited with status {code}"),
            (None, None) => "the command ended".into(),
        };
        self.event(EventKind::Exit, how);
        self.command_ended = true;
        self.stats.command_ended();
        let new_oom_kills = self.src.new_oom_kills();
        if new_oom_kills > 0 {
            // Only the OOM count is new: the rest of the reading must not trigger anything.
            let reading = Reading {
                t: self.now(),
                new_oom_kills,
                ..Reading::default()
            };
            for decision in self.policy.observe(&reading) {
                match decision {
                    // The tree is stopped below as leftovers, once.
                    Decision::Stop(order) => {
                        self.say(order.kind.clone(), order.detail.clone());
                        self.stops.by.get_or_insert(order.reason);
                    }
                    other => self.decide(other, 0, "cgroup charge"),
                }
            }
        }
    }

    /// Processes that outlived the command: listed in an event, then stopped unless `keep`.
    pub fn leftovers(&mut self, keep: bool) -> Result<()> {
        self.tick()?;
        let mut names: Vec<String> = self
            .names()
            .into_iter()
            .map(|(pid, command)| format!("{pid} ({})", shorten(&command, 40)))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        names.sort();
        let count = names.len() as u64;
        let what = if keep {
            "left running (--keep-leftovers)"
        } else {
            "stopping them"
        };
        self.say(
            EventKind::Leftovers,
            format!(
                "{} outlived the command: {}; {what}",
                processes(count),
                shorten(&names.join(", "), 400)
            ),
        );
        if !keep {
            self.stop_with(&StopPlan::grace(self.grace), "stopped the leftovers");
        }
        Ok(())
    }

    /// The run's live verdict now.
    pub fn verdict(&self) -> RunVerdict {
        self.judges.verdict(self.limit)
    }

    /// The run's final verdict, from the whole recorded floor; recorded as an event.
    pub fn final_verdict(&mut self) -> RunVerdict {
        let v = self.judges.final_verdict(self.limit);
        self.event(
            EventKind::Verdict,
            format!("final verdict: {} — {}", v.kind, v.reason),
        );
        v
    }

    /// Ends the session: waits for hooks, records what the kernel saw of the limit, takes a
    /// last sample, and hands the end to the sinks; returns the report.
    pub fn finish(
        mut self,
        wake: &Receiver<Wake>,
        meta: &RunMeta,
        end: impl FnOnce(&Self) -> RunEnd,
    ) -> RunReport {
        for detail in self.actor.finish(wake) {
            self.event(EventKind::Hook, detail);
        }
        let reclaimed = self.reclaim.as_mut().map(Reclaim::finish);
        for (kind, detail) in reclaimed.into_iter().flatten() {
            self.say(kind, detail);
        }
        if let Some((peak, limit)) = self.src.kernel_peak() {
            self.event(
                EventKind::Guard,
                format!(
                    "the kernel's peak charge for the run's cgroup: {} ({peak} bytes; limit \
                     {limit} bytes)",
                    format_bytes(peak)
                ),
            );
        }
        // A last reading: the tree as memwarden leaves it.
        if let Ok(sample) = self.src.sample() {
            self.record(sample);
        }
        let mut end = end(&self);
        end.samples = self.stats.samples();
        if end.verdict.is_none() {
            end.verdict = Some(self.final_verdict());
        }
        self.collect_exited();
        let processes = processes_report(self.src.seen(), self.src.summaries(), &self.exited);
        self.save_live_summaries();
        self.sinks.accept(&Record::End(end.clone()));
        for loss in self.sinks.finish() {
            eprintln!("memwarden: {loss}");
            self.events
                .push(Event::new(end.duration_s, EventKind::StoreError, loss));
        }
        let run_id = self.sinks.run_id();
        self.stats
            .report(run_id, meta, Some(&end), processes, self.events)
    }

    fn collect_exited(&mut self) {
        for p in self.src.drain_exited() {
            self.sinks.accept(&Record::Process(p.clone()));
            // The report groups processes by command (69 helpers are one row).
            self.exited.add(p);
        }
    }

    fn save_live_summaries(&mut self) {
        for p in self.src.summaries() {
            self.sinks.accept(&Record::Process(p.clone()));
        }
    }
}

/// The memory floor started rising: "memory: rising 29.5 MiB/s (27.1 MiB/s to 31.0 MiB/s);
/// at this rate it reaches the 1.0 GiB limit in 23.0s".
fn rising_words(v: &RunVerdict) -> String {
    let [lo, hi] = v.growth_ci_bytes_per_s;
    let mut s = format!(
        "memory: rising {} ({} to {})",
        format_rate(v.growth_bytes_per_s),
        format_rate(lo),
        format_rate(hi)
    );
    if let (Some(t), Some(limit)) = (v.time_to_limit_s, v.limit_bytes) {
        s.push_str(&format!(
            "; at this rate it reaches the {} limit in {}",
            format_bytes(limit),
            memwarden::units::format_seconds(t)
        ));
    }
    s
}

fn dur(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The first sample is taken right away, then one every `interval`; a sampler that falls
/// behind skips ticks rather than bunching them.
fn next_tick(previous: Instant, interval: Duration) -> Instant {
    let next = previous + interval;
    let now = Instant::now();
    if next < now {
        now
    } else {
        next
    }
}

#[cfg(test)]
mod tests;
