//! Reclaiming what a dead memwarden left behind. A run whose memwarden was killed (SIGKILL,
//! the OOM killer, a crash) may leave its cgroup with the tree's survivors in it — daemons the
//! death signal did not reach. The next `run` finds such runs once its store is open, reports
//! their processes, stops them as it stops leftovers (TERM, the grace, KILL), and removes the
//! cgroup. It works on a thread of its own: the run it belongs to samples meanwhile.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use memwarden::sample::cgroup::{Cgroup, CgroupVersion};
use memwarden::sample::procfs::ProcFs;
use memwarden::sample::tree::{Cadence, Membership, ProcessTree};

use super::protect::Protected;
use super::stop::{stop_tree, StopPlan};
use crate::record::EventKind;
use crate::report::text::{processes, shorten};
use crate::store::writer::AbandonedRuns;
use crate::store::AbandonedRun;

/// How long the store may take to open before the dead runs are not looked for this time.
const STORE_PATIENCE: Duration = Duration::from_secs(30);

/// The reclaiming thread: what it did arrives as `(kind, detail)` notes for the run's events.
pub struct Reclaim {
    notes: Receiver<(EventKind, String)>,
    thread: Option<JoinHandle<()>>,
}

impl Reclaim {
    /// Starts reclaiming the cgroups of the runs `abandoned` names, stopping their processes
    /// with `grace`.
    pub fn start(abandoned: AbandonedRuns, grace: Duration) -> Reclaim {
        let (tx, notes) = unbounded();
        let thread = std::thread::Builder::new()
            .name("memwarden-reclaim".into())
            .spawn(move || {
                let deadline = Instant::now() + STORE_PATIENCE;
                let runs = loop {
                    if let Some(runs) = abandoned.take() {
                        break runs;
                    }
                    if Instant::now() > deadline {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                for run in runs {
                    reclaim(&run, grace, &tx);
                }
            })
            .ok();
        Reclaim { notes, thread }
    }

    /// What was done since the last call.
    pub fn notes(&self) -> Vec<(EventKind, String)> {
        self.notes.try_iter().collect()
    }

    /// Waits for the thread to finish its work (a stop takes at most the grace and a few
    /// seconds); what it did meanwhile.
    pub fn finish(&mut self) -> Vec<(EventKind, String)> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.notes()
    }
}

fn reclaim(run: &AbandonedRun, grace: Duration, tx: &Sender<(EventKind, String)>) {
    let Some(dir) = run.cgroup.as_deref().filter(|d| d.is_dir()) else {
        return;
    };
    let name = format!(
        "run {} ({}), whose memwarden died,",
        run.id,
        shorten(&run.label, 40)
    );
    let version = if dir.join("cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    };
    let left = match Cgroup::open(dir, version) {
        Ok(group) => stop_members(group, grace, &name, tx),
        Err(_) => 0,
    };
    match std::fs::remove_dir(dir) {
        Ok(()) => {
            let _ = tx.send((
                EventKind::Stop,
                format!("removed the cgroup {name} left: {}", tail(dir)),
            ));
        }
        Err(e) if left == 0 => {
            let _ = tx.send((
                EventKind::Stop,
                format!(
                    "could not remove the cgroup {name} left ({}): {e}",
                    tail(dir)
                ),
            ));
        }
        Err(_) => {}
    }
}

/// Stops what is in `group`; the processes that could not be stopped.
fn stop_members(
    group: Cgroup,
    grace: Duration,
    name: &str,
    tx: &Sender<(EventKind, String)>,
) -> usize {
    let mut tree = ProcessTree::new(
        ProcFs::default(),
        Membership::Cgroup(group),
        Cadence::for_interval(Duration::from_millis(100)),
    );
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64();
    if tree.refresh(now()).is_err() || tree.is_empty() {
        return 0;
    }
    let mut names: Vec<String> = tree
        .summaries()
        .map(|p| format!("{} ({})", p.pid, shorten(&p.command, 40)))
        .collect();
    names.sort();
    let _ = tx.send((
        EventKind::Leftovers,
        format!(
            "{name} left {} in its cgroup: {}; stopping them",
            processes(names.len() as u64),
            shorten(&names.join(", "), 300)
        ),
    ));
    let outcome = stop_tree(
        &mut tree,
        None,
        &StopPlan::grace(grace),
        &Protected::discover(),
        now,
    );
    let _ = tx.send((
        EventKind::Stop,
        format!("stopped what {name} left: {}", outcome.describe()),
    ));
    outcome.survivors.len()
}

/// The last two parts of a cgroup's path: enough to recognize it in a one-line event.
fn tail(dir: &Path) -> String {
    let parts: Vec<_> = dir.iter().map(|p| p.to_string_lossy()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}
