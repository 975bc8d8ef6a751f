//! The in-process watchdog: a thread that samples memory at an interval and calls back on
//! threshold crossings and on a leak verdict.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::alarm::Alarm;
use super::source::{Source, Watched};
use super::{trim, Reference, SetupError};
use crate::detect::{Detector, DetectorConfig, VerdictKind};
use crate::units::Threshold;

/// One measurement taken by a [`Watchdog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reading {
    /// Time since the watchdog started.
    pub elapsed: Duration,
    /// The watched memory, bytes (see [`Watched`] for what each target measures).
    pub bytes: u64,
}

/// A leak reported by a [`LeakJudge`].
#[derive(Debug, Clone, PartialEq)]
pub struct LeakNotice {
    /// How fast the watched memory grows, bytes per second.
    pub growth_bytes_per_s: f64,
    /// Why this is judged a leak, in plain words.
    pub reason: String,
}

/// Judges from the stream of readings whether the watched memory leaks.
///
/// Fed every reading as `(seconds since start, bytes)`; returns `Some` once it judges a leak.
/// A closure `FnMut(f64, u64) -> Option<LeakNotice>` is a judge, and so is memwarden's
/// streaming [`Detector`].
pub trait LeakJudge: Send {
    /// Takes one reading; `Some` when the memory is judged to leak.
    fn judge(&mut self, t: f64, bytes: u64) -> Option<LeakNotice>;
}

/// The streaming detector as a judge: it reports the leak its live verdict calls, for as long
/// as the call stands (a floor that levels off gets the call revised, and the notices stop).
impl LeakJudge for Detector {
    fn judge(&mut self, t: f64, bytes: u64) -> Option<LeakNotice> {
        self.push(t, bytes as f64);
        // The kind first: building a verdict's reason on every reading is wasted until a leak.
        if self.kind() != VerdictKind::Leak {
            return None;
        }
        let v = self.verdict();
        Some(LeakNotice {
            growth_bytes_per_s: v.growth_per_s,
            reason: v.reason,
        })
    }
}

impl<F> LeakJudge for F
where
    F: FnMut(f64, u64) -> Option<LeakNotice> + Send,
{
    fn judge(&mut self, t: f64, bytes: u64) -> Option<LeakNotice> {
        self(t, bytes)
    }
}

type Callback = Box<dyn FnMut(&Reading) + Send>;
type LeakCallback = Box<dyn FnMut(&LeakNotice, &Reading) + Send>;

/// Configures and starts a [`Watchdog`]; made by [`Watchdog::builder`].
pub struct WatchdogBuilder {
    watched: Watched,
    interval: Duration,
    reference: Reference,
    warn: Option<Threshold>,
    critical: Option<Threshold>,
    rearm_below: f64,
    on_warn: Option<Callback>,
    on_critical: Option<Callback>,
    judge: Option<Box<dyn LeakJudge>>,
    on_leak: Option<LeakCallback>,
    trim: bool,
}

impl fmt::Debug for WatchdogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchdogBuilder")
            .field("watched", &self.watched)
            .field("interval", &self.interval)
            .field("reference", &self.reference)
            .field("warn", &self.warn)
            .field("critical", &self.critical)
            .field("rearm_below", &self.rearm_below)
            .field("trim", &self.trim)
            .finish_non_exhaustive()
    }
}

impl WatchdogBuilder {
    /// What to watch (default: this process's anonymous memory).
    pub fn watch(mut self, watched: Watched) -> Self {
        self.watched = watched;
        self
    }

    /// Time between readings (default 100 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// What percentage thresholds are a share of (default: cgroup limit if any, else RAM).
    pub fn reference(mut self, reference: Reference) -> Self {
        self.reference = reference;
        self
    }

    /// The warning threshold: [`on_warn`](Self::on_warn) runs once per crossing.
    pub fn warn(mut self, threshold: Threshold) -> Self {
        self.warn = Some(threshold);
        self
    }

    /// The critical threshold: [`on_critical`](Self::on_critical) runs once per crossing.
    pub fn critical(mut self, threshold: Threshold) -> Self {
        self.critical = Some(threshold);
        self
    }

    /// Hysteresis: after firing, a threshold re-arms only once a reading falls below this
    /// fraction of it (default 0.9; must be in (0, 1]).
    pub fn rearm_below(mut self, fraction: f64) -> Self {
        self.rearm_below = fraction;
        self
    }

    /// Runs on the watchdog thread when a reading crosses the warning threshold.
    pub fn on_warn(mut self, f: impl FnMut(&Reading) + Send + 'static) -> Self {
        self.on_warn = Some(Box::new(f));
        self
    }

    /// Runs on the watchdog thread when a reading crosses the critical threshold.
    pub fn on_critical(mut self, f: impl FnMut(&Reading) + Send + 'static) -> Self {
        self.on_critical = Some(Box::new(f));
        self
    }

    /// The judge fed every reading to tell a leak (see [`LeakJudge`]).
    pub fn leak_judge(mut self, judge: impl LeakJudge + 'static) -> Self {
        self.judge = Some(Box::new(judge));
        self
    }

    /// Runs on the watchdog thread the first time the judge reports a leak. Without a
    /// [`leak_judge`](Self::leak_judge), the streaming detector with its default
    /// configuration judges.
    pub fn on_leak(mut self, f: impl FnMut(&LeakNotice, &Reading) + Send + 'static) -> Self {
        self.on_leak = Some(Box::new(f));
        self
    }

    /// Calls [`trim`] after any callback ran, so the memory a cleanup freed is returned to the
    /// OS and the next reading shows it (default off).
    pub fn trim_after_callbacks(mut self, on: bool) -> Self {
        self.trim = on;
        self
    }

    /// Resolves the thresholds, opens what is watched and starts the thread.
    pub fn spawn(self) -> Result<Watchdog, SetupError> {
        if self.interval.is_zero() {
            return Err(SetupError::Invalid(
                "the watchdog interval must be above zero",
            ));
        }
        if !(self.rearm_below > 0.0 && self.rearm_below <= 1.0) {
            return Err(SetupError::Invalid(
                "the re-arm fraction must be above 0 and at most 1",
            ));
        }
        let mut source = Source::open(self.watched, self.interval)?;
        let uses_percent = [self.warn, self.critical]
            .iter()
            .any(|t| matches!(t, Some(Threshold::Percent(_))));
        let reference = if uses_percent {
            self.reference.bytes(source.cgroup_limit())?
        } else {
            0
        };
        let alarm =
            |t: Option<Threshold>| t.map(|t| Alarm::new(t.resolve(reference), self.rearm_below));
        let mut worker = Worker {
            source,
            interval: self.interval,
            warn: alarm(self.warn),
            critical: alarm(self.critical),
            on_warn: self.on_warn,
            on_critical: self.on_critical,
            // Asking to hear of a leak without naming a judge means the standard detector.
            judge: self.judge.or_else(|| {
                self.on_leak.is_some().then(|| {
                    Box::new(Detector::new(DetectorConfig::default())) as Box<dyn LeakJudge>
                })
            }),
            on_leak: self.on_leak,
            trim: self.trim,
            shared: Arc::new(Shared::default()),
        };
        let thresholds = (
            worker.warn.map(|a| a.threshold()),
            worker.critical.map(|a| a.threshold()),
        );
        let shared = Arc::clone(&worker.shared);
        let thread = thread::Builder::new()
            .name("memwarden-watch".into())
            .spawn(move || worker.run())
            .map_err(SetupError::Spawn)?;
        Ok(Watchdog {
            shared,
            thread: Some(thread),
            thresholds,
        })
    }
}

/// A background thread that watches memory and calls back on threshold crossings and leaks.
///
/// Each threshold fires once per crossing: after firing it re-arms only when a reading falls
/// below [`rearm_below`](WatchdogBuilder::rearm_below) × threshold (90 % by default), so
/// memory hovering at the threshold does not run a cleanup on every sample. Callbacks run on
/// the watchdog thread, in order warn, critical, leak; a panicking callback is contained (the
/// panic is printed and watching goes on). Dropping the watchdog stops and joins the thread.
///
/// ```
/// use memwarden::guard::Watchdog;
/// use memwarden::units::Threshold;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let warned = Arc::new(AtomicUsize::new(0));
/// let w = Arc::clone(&warned);
/// let watchdog = Watchdog::builder()
///     .interval(Duration::from_millis(10))
///     .warn(Threshold::Bytes(1)) // anything is above one byte: fires on the first reading
///     .on_warn(move |_| { w.fetch_add(1, Ordering::SeqCst); })
///     .spawn()?;
/// while watchdog.latest().is_none() {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// drop(watchdog); // stops and joins the thread
/// assert_eq!(warned.load(Ordering::SeqCst), 1);
/// # Ok::<(), memwarden::guard::SetupError>(())
/// ```
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    thresholds: (Option<u64>, Option<u64>),
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("latest", &self.latest())
            .field("warn_bytes", &self.thresholds.0)
            .field("critical_bytes", &self.thresholds.1)
            .finish_non_exhaustive()
    }
}

impl Watchdog {
    /// Starts configuring a watchdog.
    pub fn builder() -> WatchdogBuilder {
        WatchdogBuilder {
            watched: Watched::OwnProcess,
            interval: Duration::from_millis(100),
            reference: Reference::Auto,
            warn: None,
            critical: None,
            rearm_below: 0.9,
            on_warn: None,
            on_critical: None,
            judge: None,
            on_leak: None,
            trim: false,
        }
    }

    /// The most recent reading, once one was taken.
    pub fn latest(&self) -> Option<Reading> {
        self.shared.lock().latest
    }

    /// The highest reading so far (as sampled: a spike between readings is not seen).
    pub fn peak(&self) -> Option<Reading> {
        self.shared.lock().peak
    }

    /// The latest leak notice, once the judge has reported a leak.
    pub fn leak(&self) -> Option<LeakNotice> {
        self.shared.lock().leak.clone()
    }

    /// The warning threshold in bytes, as resolved when the watchdog started.
    pub fn warn_bytes(&self) -> Option<u64> {
        self.thresholds.0
    }

    /// The critical threshold in bytes, as resolved when the watchdog started.
    pub fn critical_bytes(&self) -> Option<u64> {
        self.thresholds.1
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A callback that drops the watchdog would otherwise join its own thread; the
            // thread sees `stop` and ends by itself after the callback returns.
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// What the watchdog thread and its handle share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    stop: bool,
    latest: Option<Reading>,
    peak: Option<Reading>,
    leak: Option<LeakNotice>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain values, consistent after any panic: poisoning carries no meaning.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watchdog thread's own state.
struct Worker {
    source: Source,
    interval: Duration,
    warn: Option<Alarm>,
    critical: Option<Alarm>,
    on_warn: Option<Callback>,
    on_critical: Option<Callback>,
    judge: Option<Box<dyn LeakJudge>>,
    on_leak: Option<LeakCallback>,
    trim: bool,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(&mut self) {
        let start = Instant::now();
        let mut next = start;
        loop {
            let elapsed = start.elapsed();
            if let Some(bytes) = self.source.read(elapsed.as_secs_f64()) {
                self.take(Reading { elapsed, bytes });
            }
            // Fixed rate; after a slow callback, start afresh rather than catch up in a burst.
            let now = Instant::now();
            let wait = match next.checked_add(self.interval) {
                Some(n) if n >= now => {
                    next = n;
                    n - now
                }
                _ => {
                    next = now.checked_add(self.interval).unwrap_or(now);
                    self.interval
                }
            };
            let state = self.shared.lock();
            let (state, _) = self
                .shared
                .wake
                .wait_timeout_while(state, wait, |s| !s.stop)
                .unwrap_or_else(PoisonError::into_inner);
            if state.stop {
                return;
            }
        }
    }

    /// Records a reading and runs the callbacks it triggers.
    fn take(&mut self, reading: Reading) {
        {
            let mut state = self.shared.lock();
            state.latest = Some(reading);
            if state.peak.is_none_or(|p| reading.bytes > p.bytes) {
                state.peak = Some(reading);
            }
        }
        let mut ran = false;
        if self.warn.as_mut().is_some_and(|a| a.update(reading.bytes)) {
            ran |= call(&mut self.on_warn, &reading);
        }
        if self
            .critical
            .as_mut()
            .is_some_and(|a| a.update(reading.bytes))
        {
            ran |= call(&mut self.on_critical, &reading);
        }
        if let Some(judge) = self.judge.as_mut() {
            if let Some(notice) = judge.judge(reading.elapsed.as_secs_f64(), reading.bytes) {
                let first = self.shared.lock().leak.replace(notice.clone()).is_none();
                if first {
                    if let Some(f) = self.on_leak.as_mut() {
                        let _ = panic::catch_unwind(AssertUnwindSafe(|| f(&notice, &reading)));
                        ran = true;
                    }
                }
            }
        }
        if ran && self.trim {
            trim();
        }
    }
}

/// Runs a threshold callback, containing a panic (the hook has printed it); true when there
/// was one to run.
fn call(f: &mut Option<Callback>, reading: &Reading) -> bool {
    let Some(f) = f else { return false };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| f(reading)));
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_detector_is_a_judge_that_keeps_a_leak_called_while_it_rises() {
        let mut judge: Box<dyn LeakJudge> = Box::new(Detector::new(DetectorConfig::default()));
        // 1 MiB/s on 64 MiB, one reading a second: a steady rise is called once it has lasted
        // the detector's `min_span_s` past warm-up, and kept while it goes on.
        let mut first = None;
        for i in 0..600u64 {
            let notice = judge.judge(i as f64, (64 << 20) + (i << 20));
            if notice.is_some() && first.is_none() {
                first = Some(i);
            }
            if first.is_some() {
                let n = notice.expect("a leak call stays");
                assert!(
                    (n.growth_bytes_per_s - (1 << 20) as f64).abs() < 1e4,
                    "{n:?}"
                );
            }
        }
        assert!(first.is_some(), "a steady leak was not called");
    }

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_long_interval_still_stops_at_once() {
        let w = Watchdog::builder().interval(Duration::MAX).spawn().unwrap();
        wait_until("the first reading", || w.latest().is_some());
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            drop(w);
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("drop did not wake the sleeping watchdog");
    }

    #[test]
    fn bad_settings_are_refused() {
        let e = Watchdog::builder().interval(Duration::ZERO).spawn();
        assert!(matches!(e, Err(SetupError::Invalid(_))));
        let e = Watchdog::builder().rearm_below(1.5).spawn();
        assert!(matches!(e, Err(SetupError::Invalid(_))));
        let e = Watchdog::builder().rearm_below(f64::NAN).spawn();
        assert!(matches!(e, Err(SetupError::Invalid(_))));
    }

    #[test]
    fn percentages_resolve_against_the_reference() {
        let w = Watchdog::builder()
            .reference(Reference::Ram)
            .warn(Threshold::Percent(50.0))
            .critical(Threshold::Bytes(123))
            .spawn()
            .unwrap();
        let ram = super::super::machine_total().unwrap();
        assert_eq!(w.warn_bytes(), Some(Threshold::Percent(50.0).resolve(ram)));
        assert_eq!(w.critical_bytes(), Some(123));
    }

    #[test]
    fn the_judge_sees_every_reading_and_on_leak_runs_once() {
        let seen = Arc::new(AtomicUsize::new(0));
        let leaks = Arc::new(AtomicUsize::new(0));
        let (s, l) = (Arc::clone(&seen), Arc::clone(&leaks));
        let w = Watchdog::builder()
            .interval(Duration::from_millis(1))
            .leak_judge(move |t: f64, bytes: u64| {
                assert!(t >= 0.0 && bytes > 0);
                let n = s.fetch_add(1, Ordering::SeqCst) + 1;
                (n >= 3).then(|| LeakNotice {
                    growth_bytes_per_s: n as f64,
                    reason: "test".into(),
                })
            })
            .on_leak(move |notice, _| {
                assert_eq!(notice.growth_bytes_per_s, 3.0);
                l.fetch_add(1, Ordering::SeqCst);
            })
            .spawn()
            .unwrap();
        wait_until("ten judged readings", || seen.load(Ordering::SeqCst) >= 10);
        assert_eq!(leaks.load(Ordering::SeqCst), 1);
        assert!(w.leak().unwrap().growth_bytes_per_s >= 10.0);
    }

    #[test]
    fn a_panicking_callback_does_not_stop_watching() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let w = Watchdog::builder()
            .interval(Duration::from_millis(1))
            .warn(Threshold::Bytes(1))
            .on_warn(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
                panic!("a callback bug");
            })
            .spawn()
            .unwrap();
        wait_until("the callback", || calls.load(Ordering::SeqCst) == 1);
        let then = w.latest().unwrap().elapsed;
        wait_until("later readings", || w.latest().unwrap().elapsed > then);
        // The peak never falls, so one read after a reading is at least that reading.
        let latest = w.latest().unwrap();
        assert!(w.peak().unwrap().bytes >= latest.bytes);
    }

    #[test]
    fn dropping_from_a_callback_does_not_deadlock() {
        let slot: Arc<Mutex<Option<Watchdog>>> = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicUsize::new(0));
        let (s, d) = (Arc::clone(&slot), Arc::clone(&done));
        let w = Watchdog::builder()
            .interval(Duration::from_millis(1))
            .warn(Threshold::Bytes(1))
            .on_warn(move |_| {
                // Wait until the handle is in the slot, then drop it on this very thread.
                let w = loop {
                    if let Some(w) = s.lock().unwrap().take() {
                        break w;
                    }
                    thread::yield_now();
                };
                drop(w);
                d.fetch_add(1, Ordering::SeqCst);
            })
            .spawn()
            .unwrap();
        *slot.lock().unwrap() = Some(w);
        wait_until("the callback to drop the watchdog", || {
            done.load(Ordering::SeqCst) == 1
        });
    }
}
