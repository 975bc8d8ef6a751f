//! Admission control by memory: work asks for a permit with an estimate of the memory it will
//! need, and waits while the budget is taken or the machine is short of memory.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Reference, SetupError};
use crate::sample::cgroup::Cgroup;
use crate::sample::machine::MachineReader;
use crate::units::{format_bytes, Threshold};

/// How stale the machine's available memory may be when the floor is checked. A read of
/// `/proc/meminfo` costs about 10 µs (measured here); re-reading at most this often keeps a
/// burst of acquires cheap while a shortage is still seen within a few milliseconds.
const FLOOR_REFRESH: Duration = Duration::from_millis(5);

/// Why a permit was not granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The request exceeds what the gate could ever admit at once: an error, not a hang.
    #[error(
        "asked for {} but this gate never admits more than {} at once",
        format_bytes(*requested),
        format_bytes(*admissible)
    )]
    TooLarge {
        /// The bytes asked for.
        requested: u64,
        /// The most the gate can admit: the budget, or less under a system floor.
        admissible: u64,
    },
    /// [`MemoryGate::emergency_stop`] was called: no permit will be granted again.
    #[error("the memory gate was stopped (emergency stop)")]
    Stopped,
    /// No room right now (only from [`MemoryGate::try_acquire`]).
    #[error("no room in the memory gate right now")]
    Busy,
    /// No room came before the timeout (only from [`MemoryGate::acquire_timeout`]).
    #[error("timed out waiting for room in the memory gate")]
    TimedOut,
}

/// Configures a [`MemoryGate`]; made by [`MemoryGate::builder`].
#[derive(Debug, Clone)]
pub struct GateBuilder {
    budget: Threshold,
    reference: Reference,
    floor: Option<Threshold>,
    proc_root: PathBuf,
    floor_refresh: Duration,
}

impl GateBuilder {
    /// What a percentage budget is a share of (default: this process's cgroup limit if any,
    /// else RAM).
    pub fn reference(mut self, reference: Reference) -> Self {
        self.reference = reference;
        self
    }

    /// Admits a request only while the machine's available memory (`MemAvailable`), less the
    /// request, stays at or above this floor (bytes, or a percentage of RAM).
    pub fn system_floor(mut self, floor: Threshold) -> Self {
        self.floor = Some(floor);
        self
    }

    /// Reads from another proc root than `/proc` (fixture files in tests).
    #[cfg(test)]
    fn proc_root(mut self, root: &Path) -> Self {
        self.proc_root = root.to_path_buf();
        self
    }

    /// Re-reads the machine's memory at most this often (tests pin a reading with a long one).
    #[cfg(test)]
    fn floor_refresh(mut self, every: Duration) -> Self {
        self.floor_refresh = every;
        self
    }

    /// Resolves the budget and the floor and makes the gate.
    pub fn build(self) -> Result<MemoryGate, SetupError> {
        let budget = match self.budget {
            Threshold::Bytes(b) => b,
            Threshold::Percent(_) => {
                let limit = Cgroup::own_limit();
                self.budget.resolve(self.reference.bytes(limit)?)
            }
        };
        let floor = match self.floor {
            None => None,
            Some(threshold) => Some(Floor::open(&self.proc_root, threshold, self.floor_refresh)?),
        };
        let admissible = floor
            .as_ref()
            .map_or(budget, |f| budget.min(f.total.saturating_sub(f.bytes)));
        Ok(MemoryGate::with(budget, admissible, floor))
    }
}

/// Admission control by memory: at most `budget` bytes of estimated work in flight at once.
///
/// Work asks for a [`Permit`] with an estimate of the memory it will need; the permit gives
/// its bytes back when dropped. Requests are served first come, first served, so a large one
/// is not starved by a stream of small ones (a small one waits behind it even when it would
/// fit). The gate counts estimates, not pages: whether freed memory really leaves the process
/// is the allocator's business (see [`trim`](super::trim)). With a
/// [`system_floor`](GateBuilder::system_floor) the gate also waits while the machine's
/// available memory is low, re-reading it at most every 5 ms. After
/// [`emergency_stop`](Self::emergency_stop), every waiting and every later request fails
/// with [`GateError::Stopped`]. Cloning gives another handle to the same gate.
///
/// ```
/// use memwarden::guard::MemoryGate;
/// use std::thread;
///
/// let gate = MemoryGate::new(256 << 20); // at most 256 MiB of work at once
/// let per_task = 64 << 20;
/// let workers = gate.suggested_workers(per_task); // 4, or fewer CPUs
/// thread::scope(|s| {
///     for _ in 0..workers {
///         s.spawn(|| {
///             let _permit = gate.acquire(per_task).unwrap();
///             let buffer = vec![1u8; per_task as usize]; // the work
///             assert!(gate.in_use() <= gate.budget());
///             drop(buffer);
///         });
///     }
/// });
/// assert_eq!(gate.in_use(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryGate {
    inner: Arc<Inner>,
}

/// A grant of memory from a [`MemoryGate`]; gives it back when dropped.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct Permit {
    inner: Arc<Inner>,
    bytes: u64,
}

struct Inner {
    budget: u64,
    admissible: u64,
    state: Mutex<State>,
    changed: Condvar,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::Notify,
}

struct State {
    in_use: u64,
    stopped: bool,
    /// Tickets of waiting requests; the smallest is served first.
    queue: BTreeSet<u64>,
    next_ticket: u64,
    floor: Option<Floor>,
}

/// The machine's available memory, cached for [`FLOOR_REFRESH`].
struct Floor {
    reader: MachineReader,
    bytes: u64,
    total: u64,
    available: u64,
    read_at: Instant,
    refresh: Duration,
    /// Bytes granted since the last read: admitted work that has not allocated yet is not in
    /// `MemAvailable`, so a burst of grants on one reading must not all pass.
    granted: u64,
}

impl Floor {
    fn open(proc_root: &Path, threshold: Threshold, refresh: Duration) -> Result<Self, SetupError> {
        let io = |source| SetupError::Io {
            what: "/proc/meminfo",
            source,
        };
        let mut reader = MachineReader::open_at(proc_root).map_err(io)?;
        let m = reader.read().map_err(io)?;
        Ok(Floor {
            reader,
            bytes: threshold.resolve(m.mem_total_bytes),
            total: m.mem_total_bytes,
            available: m.mem_available_bytes,
            read_at: Instant::now(),
            refresh,
            granted: 0,
        })
    }

    fn refresh(&mut self, force: bool) {
        if force || self.read_at.elapsed() >= self.refresh {
            // An unreadable meminfo leaves the last value: the budget still holds the line.
            if let Ok(m) = self.reader.read() {
                self.available = m.mem_available_bytes;
                self.granted = 0;
                self.read_at = Instant::now();
            }
        }
    }

    /// Whether `bytes` more leave the machine at or above the floor.
    fn has_room(&mut self, bytes: u64) -> bool {
        self.refresh(false);
        self.available.saturating_sub(self.granted) >= self.bytes.saturating_add(bytes)
    }
}

/// The outcome of one admission attempt made under the lock.
enum Step {
    Admitted,
    /// Queued; `floor` when only the machine's available memory stands in the way (nobody
    /// will signal its return, so the waiter must look again).
    Queued {
        floor: bool,
    },
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock still guards sound numbers.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells every waiter, blocking and async, to look again.
    fn wake(&self) {
        self.changed.notify_all();
        #[cfg(feature = "tokio")]
        self.notify.notify_waiters();
    }

    /// Admits `bytes` if this request is first in line and fits; otherwise queues it (when
    /// `may_queue`) or refuses. `ticket` is the request's place in line, kept across calls.
    fn step(
        &self,
        st: &mut State,
        bytes: u64,
        ticket: &mut Option<u64>,
        may_queue: bool,
    ) -> Result<Step, GateError> {
        if st.stopped {
            if let Some(t) = ticket.take() {
                st.queue.remove(&t);
            }
            return Err(GateError::Stopped);
        }
        let first = match *ticket {
            Some(t) => st.queue.first() == Some(&t),
            None => st.queue.is_empty(),
        };
        let mut floor_blocked = false;
        // in_use <= budget and bytes <= admissible <= budget, so the sum cannot overflow.
        if first && st.in_use + bytes <= self.budget {
            if st.floor.as_mut().is_none_or(|f| f.has_room(bytes)) {
                st.in_use += bytes;
                if let Some(f) = st.floor.as_mut() {
                    f.granted += bytes;
                }
                if let Some(t) = ticket.take() {
                    st.queue.remove(&t);
                    if !st.queue.is_empty() {
                        self.wake(); // the next in line may fit too
                    }
                }
                return Ok(Step::Admitted);
            }
            floor_blocked = true;
        }
        if !may_queue {
            return Err(GateError::Busy);
        }
        if ticket.is_none() {
            let t = st.next_ticket;
            st.next_ticket += 1;
            st.queue.insert(t);
            *ticket = Some(t);
        }
        Ok(Step::Queued {
            floor: floor_blocked,
        })
    }

    /// Takes a request out of line (timed out or cancelled).
    fn leave(&self, st: &mut State, ticket: u64) {
        let was_first = st.queue.first() == Some(&ticket);
        st.queue.remove(&ticket);
        if was_first && !st.queue.is_empty() {
            self.wake();
        }
    }
}

impl MemoryGate {
    /// A gate admitting at most `budget_bytes` at once, with no system floor.
    pub fn new(budget_bytes: u64) -> Self {
        MemoryGate::with(budget_bytes, budget_bytes, None)
    }

    /// Starts configuring a gate whose budget is bytes or a percentage of a [`Reference`].
    pub fn builder(budget: Threshold) -> GateBuilder {
        GateBuilder {
            budget,
            reference: Reference::Auto,
            floor: None,
            proc_root: PathBuf::from("/proc"),
            floor_refresh: FLOOR_REFRESH,
        }
    }

    fn with(budget: u64, admissible: u64, floor: Option<Floor>) -> Self {
        MemoryGate {
            inner: Arc::new(Inner {
                budget,
                admissible,
                state: Mutex::new(State {
                    in_use: 0,
                    stopped: false,
                    queue: BTreeSet::new(),
                    next_ticket: 0,
                    floor,
                }),
                changed: Condvar::new(),
                #[cfg(feature = "tokio")]
                notify: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Waits until `bytes` fit, then grants them.
    pub fn acquire(&self, bytes: u64) -> Result<Permit, GateError> {
        self.acquire_until(bytes, None)
    }

    /// Like [`acquire`](Self::acquire), giving up with [`GateError::TimedOut`] after `timeout`.
    pub fn acquire_timeout(&self, bytes: u64, timeout: Duration) -> Result<Permit, GateError> {
        // A timeout too large to add is no timeout.
        self.acquire_until(bytes, Instant::now().checked_add(timeout))
    }

    /// Grants `bytes` if they fit now and nobody is waiting, else [`GateError::Busy`].
    pub fn try_acquire(&self, bytes: u64) -> Result<Permit, GateError> {
        self.check_size(bytes)?;
        let mut st = self.inner.lock();
        self.inner.step(&mut st, bytes, &mut None, false)?;
        Ok(self.permit(bytes))
    }

    /// Like [`acquire`](Self::acquire) for async code on a tokio runtime.
    ///
    /// Cancel-safe: dropping the future gives up the request's place in line. While only the
    /// system floor blocks it, it polls with a tokio timer, so the runtime needs its time
    /// driver (`enable_time`, on with `#[tokio::main]`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let gate = memwarden::guard::MemoryGate::new(1 << 30);
    /// let permit = gate.acquire_async(256 << 20).await?;
    /// assert_eq!(gate.in_use(), permit.bytes());
    /// # Ok::<(), memwarden::guard::GateError>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn acquire_async(&self, bytes: u64) -> Result<Permit, GateError> {
        /// Leaves the line if the future is dropped while queued.
        struct InLine<'a> {
            inner: &'a Inner,
            ticket: Option<u64>,
        }
        impl Drop for InLine<'_> {
            fn drop(&mut self) {
                if let Some(t) = self.ticket.take() {
                    let mut st = self.inner.lock();
                    self.inner.leave(&mut st, t);
                }
            }
        }

        self.check_size(bytes)?;
        let mut line = InLine {
            inner: &self.inner,
            ticket: None,
        };
        loop {
            // Registered before looking, so a release between the look and the await wakes us.
            let mut notified = std::pin::pin!(self.inner.notify.notified());
            notified.as_mut().enable();
            let floor = {
                let mut st = self.inner.lock();
                match self.inner.step(&mut st, bytes, &mut line.ticket, true)? {
                    Step::Admitted => return Ok(self.permit(bytes)),
                    Step::Queued { floor } => floor,
                }
            };
            if floor {
                let _ = tokio::time::timeout(FLOOR_REFRESH, notified).await;
            } else {
                notified.await;
            }
        }
    }

    fn acquire_until(&self, bytes: u64, deadline: Option<Instant>) -> Result<Permit, GateError> {
        self.check_size(bytes)?;
        let mut st = self.inner.lock();
        let mut ticket = None;
        loop {
            let floor = match self.inner.step(&mut st, bytes, &mut ticket, true)? {
                Step::Admitted => return Ok(self.permit(bytes)),
                Step::Queued { floor } => floor,
            };
            let mut wait = floor.then_some(FLOOR_REFRESH);
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    if let Some(t) = ticket.take() {
                        self.inner.leave(&mut st, t);
                    }
                    return Err(GateError::TimedOut);
                }
                wait = Some(wait.map_or(deadline - now, |w| w.min(deadline - now)));
            }
            st = match wait {
                Some(w) => {
                    self.inner
                        .changed
                        .wait_timeout(st, w)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .inner
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    fn check_size(&self, bytes: u64) -> Result<(), GateError> {
        if bytes > self.inner.admissible {
            return Err(GateError::TooLarge {
                requested: bytes,
                admissible: self.inner.admissible,
            });
        }
        Ok(())
    }

    fn permit(&self, bytes: u64) -> Permit {
        Permit {
            inner: Arc::clone(&self.inner),
            bytes,
        }
    }

    /// Refuses every waiting and every later request with [`GateError::Stopped`], for good.
    /// Permits already granted stay valid and are given back as usual.
    pub fn emergency_stop(&self) {
        self.inner.lock().stopped = true;
        self.inner.wake();
    }

    /// Whether [`emergency_stop`](Self::emergency_stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.lock().stopped
    }

    /// The budget, bytes.
    pub fn budget(&self) -> u64 {
        self.inner.budget
    }

    /// Bytes granted and not yet given back.
    pub fn in_use(&self) -> u64 {
        self.inner.lock().in_use
    }

    /// Requests waiting in line now.
    pub fn waiting(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// How many workers of `per_task_bytes` each fit: the budget (or, under a system floor,
    /// the machine's available memory above it, if less) over the estimate, clamped to
    /// `1..=available CPUs`. What S1 computed by hand.
    pub fn suggested_workers(&self, per_task_bytes: u64) -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let mut room = self.inner.budget;
        if let Some(f) = self.inner.lock().floor.as_mut() {
            f.refresh(true);
            room = room.min(f.available.saturating_sub(f.bytes));
        }
        match room.checked_div(per_task_bytes) {
            Some(n) => n.clamp(1, cpus) as usize,
            None => cpus as usize, // a zero estimate: memory does not limit
        }
    }
}

impl fmt::Debug for MemoryGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("MemoryGate")
            .field("budget", &self.inner.budget)
            .field("in_use", &st.in_use)
            .field("waiting", &st.queue.len())
            .field("stopped", &st.stopped)
            .field("floor", &st.floor.as_ref().map(|f| f.bytes))
            .finish()
    }
}

impl Permit {
    /// The bytes this permit holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        st.in_use -= self.bytes;
        // Every blocked request holds a ticket: with none in line there is nobody to wake.
        let waiting = !st.queue.is_empty();
        drop(st);
        if waiting {
            self.inner.wake();
        }
    }
}

#[cfg(test)]
mod tests;
