//! What a live session keeps of the processes that left its tree, for the end-of-run report:
//! each one's place in its command's group (about 40 bytes, the command line held once per
//! group), and whole summaries only for the few with the highest peaks (the `top` rows).
//! A tree that starts five helpers a second for a day stays within a bound; the store keeps
//! every summary, for `report`.

use std::collections::HashMap;

use memwarden::sample::ProcessSummary;

use super::groups::Member;
use super::model::{by_peak, TOP_PROCESSES};

/// Most exited processes kept in groups: past it, the largest quarter by peak is kept.
pub const MAX_KEPT: usize = 16 * 1024;

/// The exited processes of a session.
#[derive(Default)]
pub struct Exited {
    groups: HashMap<String, Vec<Member>>,
    kept: usize,
    largest: Vec<ProcessSummary>,
}

impl Exited {
    /// Keeps what the report needs of `p`.
    pub fn add(&mut self, p: ProcessSummary) {
        let member = Member::from(&p);
        match self.groups.get_mut(&p.command) {
            Some(members) => members.push(member),
            None => {
                self.groups.insert(p.command.clone(), vec![member]);
            }
        }
        self.kept += 1;
        self.largest.push(p);
        if self.largest.len() > 2 * TOP_PROCESSES {
            self.largest.sort_by(by_peak);
            self.largest.truncate(TOP_PROCESSES);
        }
        if self.kept > MAX_KEPT {
            self.keep_largest(MAX_KEPT / 4);
        }
    }

    /// Every kept process as (command line, member).
    pub fn members(&self) -> impl Iterator<Item = (&str, Member)> {
        self.groups
            .iter()
            .flat_map(|(c, ms)| ms.iter().map(move |m| (c.as_str(), *m)))
    }

    /// Summaries of the exited processes with the highest peaks (at least the top rows').
    pub fn largest(&self) -> &[ProcessSummary] {
        &self.largest
    }

    /// Keeps the `n` members with the highest peaks.
    fn keep_largest(&mut self, n: usize) {
        let mut peaks: Vec<u64> = self.members().map(|(_, m)| m.peak_anon_bytes).collect();
        let nth = peaks.len().saturating_sub(n);
        let threshold = *peaks.select_nth_unstable(nth).1;
        // Ties at the threshold are kept while there is room: equal helpers are common.
        let mut room = n - peaks[nth..].iter().filter(|&&p| p > threshold).count();
        for members in self.groups.values_mut() {
            members.retain(|m| {
                m.peak_anon_bytes > threshold
                    || (m.peak_anon_bytes == threshold && room > 0 && {
                        room -= 1;
                        true
                    })
            });
        }
        self.groups.retain(|_, ms| !ms.is_empty());
        self.kept = self.groups.values().map(Vec::len).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(pid: u32, command: &str, peak: u64) -> ProcessSummary {
        ProcessSummary {
            pid,
            ppid: 1,
            start_ticks: u64::from(pid),
            command: command.into(),
            first_seen_s: f64::from(pid),
            last_seen_s: f64::from(pid) + 0.5,
            first_anon_bytes: peak,
            last_anon_bytes: peak,
            peak_anon_bytes: peak,
            peak_at_s: f64::from(pid),
            peak_rss_bytes: peak,
            peak_threads: 1,
            peak_fds: 3,
            exited: true,
        }
    }

    #[test]
    fn groups_and_top_rows_match_the_whole_summaries() {
        let all: Vec<ProcessSummary> = (1..=500)
            .map(|pid| {
                exited(
                    pid,
                    ["sh -c true", "python3 helper.py"][pid as usize % 2],
                    u64::from(pid % 37) << 20,
                )
            })
            .collect();
        let mut kept = Exited::default();
        for p in &all {
            kept.add(p.clone());
        }
        let refs: Vec<&ProcessSummary> = all.iter().collect();
        let whole = super::super::model::top_processes(500, refs.iter().copied());
        let folded = super::super::model::processes_report(500, [], &kept);
        assert_eq!(folded, whole);
    }

    #[test]
    fn past_the_bound_the_largest_are_kept_and_equal_ones_too_until_full() {
        let mut kept = Exited::default();
        for pid in 0..=MAX_KEPT as u32 {
            // All equal but one: ties must not keep everything.
            let peak = if pid == 7 { 1 << 30 } else { 1 << 20 };
            kept.add(exited(pid, "helper", peak));
        }
        assert_eq!(kept.members().count(), MAX_KEPT / 4);
        assert!(kept.members().any(|(_, m)| m.pid == 7));
        assert_eq!(kept.largest()[0].pid, 7);
    }
}
