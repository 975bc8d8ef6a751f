//! The loop on a scripted source: every rule of the loop without a real process.

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_channel::{unbounded, Sender};
use memwarden::sample::{MachineSample, ProcessSummary, TreeTotals};
use nix::sys::signal::Signal;

use super::*;
use crate::record::RecordedOptions;
use crate::supervise::action::Action;
use crate::supervise::actor::{ActorSetup, Roots};
use crate::supervise::policy::{LimitMode, Rules};
use crate::supervise::signals::Children;
use crate::supervise::source::Delivery;
use crate::supervise::stop::StopOutcome;

const MIB: u64 = 1 << 20;

/// A tree whose memory follows a script, on a clock of one second per sample.
struct Scripted {
    memory: VecDeque<u64>,
    last: u64,
    t: f64,
    members: Vec<u32>,
    catches: bool,
    sent: Vec<(u32, Signal)>,
    stops: usize,
}

impl Scripted {
    fn new(memory: impl IntoIterator<Item = u64>) -> Self {
        Scripted {
            memory: memory.into_iter().collect(),
            last: 0,
            t: -1.0,
            members: vec![100, 101],
            catches: true,
            sent: Vec::new(),
            stops: 0,
        }
    }
}

impl Source for Scripted {
    fn now(&self) -> f64 {
        self.t.max(0.0)
    }
    fn sample(&mut self) -> Result<Sample, memwarden::sample::SampleError> {
        self.t += 1.0;
        if let Some(m) = self.memory.pop_front() {
            self.last = m;
        }
        let alive = !self.members.is_empty();
        let bytes = if alive { self.last } else { 0 };
        Ok(Sample {
            t: self.t,
            tree: TreeTotals {
                rss_bytes: bytes,
                anon_bytes: bytes,
                threads: self.members.len() as u64,
                fds: 3 * self.members.len() as u64,
                processes: self.members.len() as u32,
                ..TreeTotals::default()
            },
            cgroup_bytes: None,
            machine: MachineSample {
                mem_total_bytes: 16 << 30,
                mem_available_bytes: 12 << 30,
                ..MachineSample::default()
            },
        })
    }
    fn is_member(&self, pid: u32) -> bool {
        self.members.contains(&pid)
    }
    fn members(&self) -> Vec<u32> {
        self.members.clone()
    }
    fn summaries(&self) -> Box<dyn Iterator<Item = &ProcessSummary> + '_> {
        Box::new(std::iter::empty())
    }
    fn seen(&self) -> u64 {
        2
    }
    fn drain_exited(&mut self) -> Vec<ProcessSummary> {
        Vec::new()
    }
    fn top(&self, _: usize, out: &mut Vec<ProcessSample>) {
        out.clear();
    }
    fn set_interval(&mut self, _: Duration) {}
    fn exclude(&mut self, _: u32) {}
    fn new_oom_kills(&mut self) -> u64 {
        0
    }
    fn kernel_peak(&self) -> Option<(u64, u64)> {
        None
    }
    fn stop(&mut self, _: &StopPlan) -> StopOutcome {
        self.stops += 1;
        let termed = self.members.len();
        self.members.clear();
        StopOutcome {
            termed,
            ..StopOutcome::default()
        }
    }
    fn signal(&mut self, pid: u32, sig: Signal, ask: bool) -> Delivery {
        if ask && !self.catches {
            return Delivery::NotCaught;
        }
        self.sent.push((pid, sig));
        Delivery::Sent
    }
}

struct Harness {
    monitor: Monitor<Scripted>,
    wake: Sender<Wake>,
    rx: Receiver<Wake>,
}

fn harness(src: Scripted, rules: Rules, on_warn: Vec<Action>, on_leak: Vec<Action>) -> Harness {
    let (wake, rx) = unbounded();
    let actor = Actor::new(ActorSetup {
        on_warn,
        on_leak,
        children: Children::default(),
        wake: wake.clone(),
        hook_timeout: Duration::from_secs(1),
        roots: Roots::Watched(vec![100]),
        root_pids: vec![100],
        label: "scripted".into(),
        limit_bytes: rules.limit.map(|(b, _)| b),
        warn_bytes: rules.warn,
    });
    let monitor = Monitor::new(
        src,
        Parts {
            policy: Policy::new(rules),
            actor,
            sinks: Sinks::default(),
            metric: Metric::Anon,
            detector: memwarden::detect::DetectorConfig::default(),
            interval: Duration::from_millis(1),
            grace: Duration::ZERO,
            limit: rules.limit.map(|(b, _)| b),
            reclaim: None,
        },
    );
    Harness { monitor, wake, rx }
}

/// Until the tree is empty, or a minute has passed (a loop that never ends fails the test
/// rather than hanging it).
fn until_empty() -> Until {
    Until {
        root: None,
        empty: true,
        deadline: Some(Instant::now() + Duration::from_secs(60)),
        on_signal: OnSignal::End,
    }
}

fn kinds(events: &[Event], kind: EventKind) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.detail.clone())
        .collect()
}

fn meta() -> RunMeta {
    RunMeta {
        kind: crate::record::RunKind::Watch,
        label: "scripted".into(),
        command: Vec::new(),
        host: String::new(),
        started_at: String::new(),
        started_unix_ms: 0,
        interval_s: 1.0,
        mode: "process-tree".into(),
        metric: "anon".into(),
        mem_total_bytes: 16 << 30,
        options: RecordedOptions::default(),
    }
}

fn finish(h: Harness) -> RunReport {
    let stops = h.monitor.stops().clone();
    h.monitor.finish(&h.rx, &meta(), |m| RunEnd {
        ended_unix_ms: 0,
        duration_s: m.now(),
        exit: None,
        stopped_by: stops.by,
        status: 0,
        peak_bytes: m.peak_bytes(),
        verdict: None,
        samples: 0,
    })
}

#[test]
fn a_polled_limit_stops_the_tree_once_and_the_pass_ends_when_it_is_empty() {
    let rules = Rules {
        limit: Some((100 * MIB, LimitMode::Polled)),
        ..Rules::default()
    };
    let mut h = harness(
        Scripted::new([10 * MIB, 50 * MIB, 120 * MIB, 130 * MIB]),
        rules,
        vec![],
        vec![],
    );
    let ending = h.monitor.run(&h.rx, until_empty()).unwrap();
    assert_eq!(ending, Ending::TreeEmpty);
    assert_eq!(h.monitor.stops().by, Some(StoppedBy::Limit));
    assert!(h.monitor.stops().survivors.is_empty());
    let report = finish(h);
    assert_eq!(kinds(&report.events, EventKind::Limit).len(), 1);
    let stops = kinds(&report.events, EventKind::Stop);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert!(stops[0].contains("2 sent TERM"), "{stops:?}");
    assert_eq!(report.memory.peak_bytes, 120 * MIB);
}

#[test]
fn a_warning_asks_only_a_process_that_handles_the_signal() {
    let rules = Rules {
        warn: Some(40 * MIB),
        ..Rules::default()
    };
    let mut src = Scripted::new([10 * MIB, 50 * MIB]);
    src.catches = false;
    let mut h = harness(src, rules, vec![Action::Signal(Signal::SIGUSR1)], vec![]);
    let deadline = Some(Instant::now() + Duration::from_millis(50));
    let ending = h
        .monitor
        .run(
            &h.rx,
            Until {
                deadline,
                ..until_empty()
            },
        )
        .unwrap();
    assert_eq!(ending, Ending::DeadlinePassed);
    assert!(h.monitor.src.sent.is_empty(), "USR1 would have killed it");
    let report = finish(h);
    let actions = kinds(&report.events, EventKind::Action);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        actions[0].contains("did not send USR1 to pid 100") && actions[0].contains("no handler"),
        "{actions:?}"
    );
}

#[test]
fn a_handled_signal_is_sent_to_the_root() {
    let rules = Rules {
        warn: Some(40 * MIB),
        ..Rules::default()
    };
    let mut h = harness(
        Scripted::new([10 * MIB, 50 * MIB]),
        rules,
        vec![Action::Signal(Signal::SIGUSR1)],
        vec![],
    );
    let deadline = Some(Instant::now() + Duration::from_millis(50));
    h.monitor
        .run(
            &h.rx,
            Until {
                deadline,
                ..until_empty()
            },
        )
        .unwrap();
    assert_eq!(h.monitor.src.sent, vec![(100, Signal::SIGUSR1)]);
}

#[test]
fn a_leak_called_with_on_leak_stop_stops_the_tree_for_the_leak() {
    // 1 MiB/s on 10 MiB, one sample a second: called once it has risen for `min_span_s`.
    let rules = Rules {
        on_leak: true,
        ..Rules::default()
    };
    let span = memwarden::detect::DetectorConfig::default().min_span_s;
    let line = (0..(2.0 * span) as u64).map(|i| (10 + i) * MIB);
    let mut h = harness(Scripted::new(line), rules, vec![], vec![Action::Stop]);
    let ending = h.monitor.run(&h.rx, until_empty()).unwrap();
    assert_eq!(ending, Ending::TreeEmpty);
    assert_eq!(h.monitor.stops().by, Some(StoppedBy::Leak));
    let called_at = h.monitor.now();
    assert!(called_at < 1.5 * span, "called at {called_at}");
    let report = finish(h);
    let leak = kinds(&report.events, EventKind::Leak);
    assert!(leak.len() >= 2, "the trigger and the stop: {leak:?}");
    assert!(leak[0].contains("a leak was called"), "{leak:?}");
}

#[test]
fn act_before_acts_on_a_rise_long_before_a_leak_could_be_called() {
    // 2 MiB/s towards a 400 MiB limit: the rise is seen within a minute and projected.
    let rules = Rules {
        limit: Some((400 * MIB, LimitMode::Polled)),
        act_before_s: Some(300.0),
        ..Rules::default()
    };
    let line = (0..400).map(|i| (10 + 2 * i) * MIB);
    let mut h = harness(Scripted::new(line), rules, vec![], vec![Action::Stop]);
    let ending = h.monitor.run(&h.rx, until_empty()).unwrap();
    assert_eq!(ending, Ending::TreeEmpty);
    assert_eq!(h.monitor.stops().by, Some(StoppedBy::Leak), "not the limit");
    let at = h.monitor.now();
    assert!(
        at < 100.0,
        "acted at {at}, with the limit {}s away",
        (390.0 - 2.0 * at) / 2.0
    );
    let report = finish(h);
    let leak = kinds(&report.events, EventKind::Leak);
    assert!(leak[0].contains("within --act-before 5m"), "{leak:?}");
    let rising = kinds(&report.events, EventKind::Verdict);
    assert!(
        rising.iter().any(|r| r.starts_with("memory: rising")),
        "{rising:?}"
    );
}

#[test]
fn a_second_interrupt_stops_the_tree_and_a_root_exit_ends_the_pass() {
    let mut h = harness(Scripted::new([10 * MIB]), Rules::default(), vec![], vec![]);
    h.wake.send(Wake::Signal(libc::SIGINT)).unwrap();
    let until = Until {
        root: Some(100),
        empty: false,
        deadline: Some(Instant::now() + Duration::from_millis(30)),
        on_signal: OnSignal::Forwarded,
    };
    assert_eq!(h.monitor.run(&h.rx, until).unwrap(), Ending::DeadlinePassed);
    assert_eq!(
        h.monitor.stops().by,
        None,
        "the first one is only forwarded"
    );
    h.wake.send(Wake::Signal(libc::SIGINT)).unwrap();
    let exit = ExitInfo {
        code: None,
        signal: Some(libc::SIGTERM),
    };
    h.wake.send(Wake::Exited(100, exit)).unwrap();
    let until = Until {
        deadline: None,
        ..until
    };
    assert_eq!(
        h.monitor.run(&h.rx, until).unwrap(),
        Ending::RootExited(exit)
    );
    assert_eq!(h.monitor.stops().by, Some(StoppedBy::Interrupt));
    assert_eq!(h.monitor.src.stops, 1);
}

#[test]
fn a_watched_root_that_exits_is_said_and_its_survivors_followed() {
    let mut h = harness(Scripted::new([10 * MIB]), Rules::default(), vec![], vec![]);
    h.monitor.watch_roots(&[100]);
    h.monitor.src.members = vec![101];
    let until = Until {
        deadline: Some(Instant::now() + Duration::from_millis(20)),
        ..until_empty()
    };
    assert_eq!(h.monitor.run(&h.rx, until).unwrap(), Ending::DeadlinePassed);
    let report = finish(h);
    let exits = kinds(&report.events, EventKind::Exit);
    assert_eq!(exits.len(), 1, "said once: {exits:?}");
    assert!(
        exits[0].contains("watched pid 100 exited; following the 1 process"),
        "{exits:?}"
    );
}
