//! The processes of a run grouped by command line, as process-exporter's name groups do: "69
//! × `python3 -c …`, 14.7 MiB each, 1.0 GiB together, +2.0 a second" says which process a
//! tree is made of better than ten rows of the same helper.

use memwarden::sample::ProcessSummary;
use serde::{Deserialize, Serialize};

/// Processes that ran the same command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessGroup {
    /// The command line they share.
    pub command: String,
    /// How many processes ran it.
    pub count: u64,
    /// The first few of their PIDs, in the order they were seen.
    pub pids: Vec<u32>,
    /// The median of their peak anonymous memory, bytes.
    pub peak_bytes_each: u64,
    /// The highest of their peaks, bytes.
    pub peak_bytes_max: u64,
    /// Their peaks added up, bytes (what they would hold if all peaked at once).
    pub peak_bytes_together: u64,
    /// The most of them alive at the same time.
    pub most_alive: u64,
    /// How many were still alive at the end.
    pub alive_at_end: u64,
    /// How fast new ones started, per second, when at least three did over some time.
    pub started_per_s: Option<f64>,
    /// For a group of one: its memory's average growth, bytes per second.
    pub growth_bytes_per_s: Option<f64>,
    /// Seconds since start when the first was first seen and the last last seen.
    pub seen_s: [f64; 2],
}

impl ProcessGroup {
    /// Whether they pile up: most of them were alive at once, and at least three.
    pub fn piles_up(&self) -> bool {
        self.most_alive >= 3 && self.most_alive * 2 >= self.count
    }
}

/// PIDs kept per group.
const PIDS_KEPT: usize = 5;

/// What a group needs of one of its processes (its command line is the group's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    pub pid: u32,
    pub first_seen_s: f64,
    pub last_seen_s: f64,
    pub peak_anon_bytes: u64,
    pub exited: bool,
    /// Its memory's average growth, bytes per second (shown for a group of one).
    pub growth_bytes_per_s: f64,
}

impl From<&ProcessSummary> for Member {
    fn from(p: &ProcessSummary) -> Self {
        Member {
            pid: p.pid,
            first_seen_s: p.first_seen_s,
            last_seen_s: p.last_seen_s,
            peak_anon_bytes: p.peak_anon_bytes,
            exited: p.exited,
            growth_bytes_per_s: p.growth_bytes_per_s(),
        }
    }
}

/// Processes given as (command line, member), grouped by exact command line, the largest
/// (peaks together) first.
pub fn group_members<'a>(all: impl IntoIterator<Item = (&'a str, Member)>) -> Vec<ProcessGroup> {
    let mut sorted: Vec<(&str, Member)> = all.into_iter().collect();
    sorted.sort_by(|(ca, a), (cb, b)| {
        ca.cmp(cb)
            .then(a.first_seen_s.total_cmp(&b.first_seen_s))
            .then(a.pid.cmp(&b.pid))
    });
    let mut groups: Vec<ProcessGroup> = sorted
        .chunk_by(|a, b| a.0 == b.0)
        .map(|chunk| {
            let members: Vec<Member> = chunk.iter().map(|(_, m)| *m).collect();
            group(chunk[0].0, &members)
        })
        .collect();
    groups.sort_by(|a, b| {
        b.peak_bytes_together
            .cmp(&a.peak_bytes_together)
            .then(a.seen_s[0].total_cmp(&b.seen_s[0]))
    });
    groups
}

/// One group, from its members in the order they were first seen.
fn group(command: &str, members: &[Member]) -> ProcessGroup {
    let mut peaks: Vec<u64> = members.iter().map(|p| p.peak_anon_bytes).collect();
    peaks.sort_unstable();
    let first = members
        .iter()
        .map(|p| p.first_seen_s)
        .fold(f64::MAX, f64::min);
    let last = members.iter().map(|p| p.last_seen_s).fold(0.0, f64::max);
    let starts_over = members.last().map_or(0.0, |p| p.first_seen_s) - first;
    let count = members.len() as u64;
    ProcessGroup {
        command: command.to_string(),
        count,
        pids: members.iter().take(PIDS_KEPT).map(|p| p.pid).collect(),
        peak_bytes_each: peaks[(peaks.len() - 1) / 2],
        peak_bytes_max: peaks[peaks.len() - 1],
        peak_bytes_together: peaks.iter().sum(),
        most_alive: most_alive(members),
        alive_at_end: members.iter().filter(|p| !p.exited).count() as u64,
        started_per_s: (count >= 3 && starts_over > 0.0).then(|| (count - 1) as f64 / starts_over),
        growth_bytes_per_s: (count == 1).then(|| members[0].growth_bytes_per_s),
        seen_s: [first, last],
    }
}

/// The most members alive at the same time, from when each was first and last seen.
fn most_alive(members: &[Member]) -> u64 {
    // Starts sort before ends at the same time: a process seen once still counts.
    let mut edges: Vec<(f64, i64)> = members
        .iter()
        .flat_map(|p| [(p.first_seen_s, 1), (p.last_seen_s, -1)])
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut alive = 0i64;
    let mut most = 0i64;
    for (_, step) in edges {
        alive += step;
        most = most.max(alive);
    }
    most as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, command: &str, seen: [f64; 2], peak: u64) -> ProcessSummary {
        ProcessSummary {
            pid,
            ppid: 1,
            start_ticks: u64::from(pid),
            command: command.into(),
            first_seen_s: seen[0],
            last_seen_s: seen[1],
            first_anon_bytes: peak,
            last_anon_bytes: peak,
            peak_anon_bytes: peak,
            peak_at_s: seen[0],
            peak_rss_bytes: peak,
            peak_threads: 1,
            peak_fds: 3,
            exited: true,
        }
    }

    #[test]
    fn helpers_that_pile_up_make_one_group() {
        let mib = 1 << 20;
        let mut all: Vec<ProcessSummary> = (0..69)
            .map(|i| {
                process(
                    100 + i,
                    "python3 -c \nhelper",
                    [3.0 + i as f64 * 0.5, 40.0],
                    15 * mib,
                )
            })
            .collect();
        all.push(process(99, "python3 leaky.py", [0.0, 40.0], 12 * mib));
        all.push(process(1, "sh -c true", [1.0, 1.0], mib));
        all.push(process(2, "sh -c true", [2.0, 2.1], 2 * mib));
        let groups = group_members(all.iter().map(|p| (p.command.as_str(), Member::from(p))));
        assert_eq!(groups.len(), 3);
        let helpers = &groups[0];
        assert_eq!(helpers.count, 69);
        assert_eq!(helpers.peak_bytes_each, 15 * mib);
        assert_eq!(helpers.peak_bytes_together, 69 * 15 * mib);
        assert_eq!(helpers.pids, [100, 101, 102, 103, 104]);
        assert_eq!(helpers.most_alive, 69);
        assert!(helpers.piles_up());
        assert_eq!(helpers.started_per_s, Some(2.0));
        assert_eq!(helpers.growth_bytes_per_s, None);
        assert_eq!(helpers.seen_s, [3.0, 40.0]);
        let runner = &groups[1];
        assert_eq!((runner.count, runner.pids.as_slice()), (1, &[99][..]));
        assert_eq!(runner.growth_bytes_per_s, Some(0.0));
        // Two short-lived shells, one after the other: never two at once.
        let shells = &groups[2];
        assert_eq!((shells.count, shells.most_alive), (2, 1));
        assert!(!shells.piles_up());
        assert_eq!(shells.peak_bytes_each, mib, "the lower median");
        assert_eq!(shells.peak_bytes_max, 2 * mib);
    }
}
