//! The policy: thresholds in, decisions out. It takes one [`Reading`] per sample and says what
//! should happen (warn, re-arm, stop the tree, and why); it never touches a process, so every
//! rule is tested here on plain numbers. The guard carries the decisions out.
//!
//! Triggers: the kernel's OOM kills under a kernel limit, a polled limit, the system floor
//! (available memory or PSI pressure), the timeout and the warning threshold, read from each
//! sample; and from the live verdict ([`Trend`]), a leak called (`--on-leak`) and the projected
//! time to the limit falling below `--act-before`.

use std::time::Duration;

use memwarden::units::{format_bytes, format_seconds};

use crate::exit;
use crate::record::{EventKind, StoppedBy};
use crate::report::text::processes;

/// memwarden's exit status after it stopped the tree for `reason`.
pub fn status_after(reason: StoppedBy) -> u8 {
    match reason {
        StoppedBy::Limit | StoppedBy::SystemFloor | StoppedBy::Leak => exit::STOPPED_FOR_MEMORY,
        StoppedBy::Timeout => exit::TIMEOUT,
        // As a shell reports a job it interrupted.
        StoppedBy::Interrupt => exit::for_signal(libc::SIGINT),
    }
}

/// How `--limit` is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMode {
    /// The kernel holds the run's cgroup under the limit; memwarden acts on its OOM kills.
    Kernel,
    /// memwarden compares the tree's resident memory with the limit at every sample.
    Polled,
}

/// The thresholds of a session, resolved to bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rules {
    /// `--limit` and how it is enforced.
    pub limit: Option<(u64, LimitMode)>,
    /// `--warn`.
    pub warn: Option<u64>,
    /// `--system-floor`: the least available memory, bytes.
    pub floor: Option<u64>,
    /// `--pressure`: the highest PSI memory `full avg10`, percent.
    pub pressure: Option<f64>,
    /// `--timeout`, seconds from the start.
    pub timeout_s: Option<f64>,
    /// Whether a leak called is a trigger (`--on-leak`).
    pub on_leak: bool,
    /// `--act-before`, seconds: act when the projected time to the limit falls below it.
    pub act_before_s: Option<f64>,
}

/// What the policy sees at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// Seconds since the session started.
    pub t: f64,
    /// Resident memory summed over the tree: what a polled limit compares.
    pub tree_rss: u64,
    /// What the kernel charges the tree's cgroup, else `tree_rss`: what a warning compares.
    pub tree_charged: u64,
    /// The machine's `MemTotal`.
    pub mem_total: u64,
    /// The machine's `MemAvailable`.
    pub mem_available: u64,
    /// PSI memory `full avg10`, where the kernel has PSI.
    pub psi_full_avg10: Option<f64>,
    /// OOM kills in the run's cgroup since the previous reading.
    pub new_oom_kills: u64,
}

/// What the policy sees of the live verdict on the tree's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Trend {
    /// Whether a leak is called now (of any resource).
    pub leak: bool,
    /// Seconds until the floor, at its rate, reaches the nearest limit (when it rises).
    pub time_to_limit_s: Option<f64>,
    /// That limit, bytes.
    pub limit_bytes: Option<u64>,
}

/// Which leak trigger fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakTrigger {
    /// A leak was called (`--on-leak`).
    Called,
    /// The projected time to the limit fell below `--act-before`.
    RunningOut,
}

/// An order to stop the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct StopOrder {
    /// Why, for `stopped_by` and the exit status.
    pub reason: StoppedBy,
    /// The kind of the event that records the trigger.
    pub kind: EventKind,
    /// The trigger in words.
    pub detail: String,
    /// End the grace at once (KILL) if the tree's resident memory passes this meanwhile:
    /// a program that ignores TERM must not go on growing through the grace period.
    pub kill_above: Option<u64>,
}

/// What the policy decided from one reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The tree reached the warning threshold: run the `--on-warn` actions.
    Warn {
        /// The tree's charge now.
        bytes: u64,
        /// The threshold.
        threshold: u64,
    },
    /// The tree fell back below the re-arm level: the next crossing warns again.
    Rearm {
        /// The tree's charge now.
        bytes: u64,
    },
    /// The kernel killed processes of the tree (recorded whether or not a stop follows).
    OomKill {
        /// How many since the last reading.
        count: u64,
    },
    /// A leak trigger fired: run the `--on-leak` actions.
    Leak {
        /// Which.
        trigger: LeakTrigger,
        /// Why, in words.
        detail: String,
    },
    /// Stop the tree.
    Stop(StopOrder),
}

/// A warning fires once per crossing, then waits for the tree to fall below this share of the
/// threshold before it can fire again: a tree hovering at the threshold (a sawtooth, a GC'd
/// runtime) must not run its actions in a loop.
pub const REARM_FRACTION: f64 = 0.9;

/// The shortest time between samples while a polled limit or floor is near. Sampling a small
/// tree takes well under a millisecond, so 2 ms near the limit costs a few percent of a core
/// for as long as the tree hovers there; what it buys is a sample every 8 MiB of growth at
/// 4 GiB/s (bench/results/overshoot.md).
pub const MIN_POLL: Duration = Duration::from_millis(2);

/// The allocation speed assumed until a faster one is measured. One thread touching fresh
/// pages runs at 1–4 GiB/s on current machines, and a program with several threads faster;
/// like earlyoom, the poll interval is sized so that such a program cannot cross the
/// remaining headroom unseen. At 1 GiB/s a hog allocating 32 MiB chunks at several GiB/s got
/// 25–31 % past a 400 MiB limit between two samples.
const ASSUMED_FILL_RATE: f64 = (4u64 << 30) as f64;

/// The sampling interval near a limit: half the time the fastest known allocator would take
/// to use up the headroom, so each sample on the way halves what is left to cross. Far from
/// the limit that is the base interval; at the limit, [`MIN_POLL`].
pub fn poll_interval(headroom: u64, rate: f64, base: Duration) -> Duration {
    let rate = rate.max(ASSUMED_FILL_RATE);
    let secs = headroom as f64 / rate / 2.0;
    Duration::from_secs_f64(secs.min(base.as_secs_f64())).clamp(MIN_POLL, base.max(MIN_POLL))
}

/// Growth rate of a reading, kept as the larger of the last measurement and half the previous
/// estimate: one slow interval must not make the next one long.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    last: Option<(f64, u64)>,
    bytes_per_s: f64,
}

impl Rate {
    fn update(&mut self, t: f64, value: u64) {
        if let Some((t0, v0)) = self.last {
            let dt = t - t0;
            if dt > 0.0 {
                let measured = (value as f64 - v0 as f64) / dt;
                self.bytes_per_s = measured.max(self.bytes_per_s / 2.0).max(0.0);
            }
        }
        self.last = Some((t, value));
    }
}

/// The policy of one session.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Rules,
    warn_armed: bool,
    leak_fired: bool,
    act_armed: bool,
    stopped: bool,
    last: Reading,
    tree_rate: Rate,
    /// How fast available memory falls (as a positive rate of growth of "used").
    machine_rate: Rate,
}

impl Policy {
    /// A policy for these rules.
    pub fn new(rules: Rules) -> Self {
        Policy {
            rules,
            warn_armed: true,
            leak_fired: false,
            act_armed: true,
            stopped: false,
            last: Reading::default(),
            tree_rate: Rate::default(),
            machine_rate: Rate::default(),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Takes one reading and decides. After a stop, only OOM kills are still reported.
    pub fn observe(&mut self, r: &Reading) -> Vec<Decision> {
        self.last = *r;
        self.tree_rate.update(r.t, r.tree_rss);
        self.machine_rate
            .update(r.t, r.mem_total.saturating_sub(r.mem_available));
        let mut out = Vec::new();
        if r.new_oom_kills > 0 {
            out.push(Decision::OomKill {
                count: r.new_oom_kills,
            });
        }
        if let Some(threshold) = self.rules.warn {
            if self.warn_armed && r.tree_charged >= threshold {
                self.warn_armed = false;
                out.push(Decision::Warn {
                    bytes: r.tree_charged,
                    threshold,
                });
            } else if !self.warn_armed
                && (r.tree_charged as f64) < threshold as f64 * REARM_FRACTION
            {
                self.warn_armed = true;
                out.push(Decision::Rearm {
                    bytes: r.tree_charged,
                });
            }
        }
        if !self.stopped {
            if let Some(order) = self.stop_order(r) {
                self.stopped = true;
                out.push(Decision::Stop(order));
            }
        }
        out
    }

    fn stop_order(&self, r: &Reading) -> Option<StopOrder> {
        let per_cent_of_ram = r.mem_total / 100;
        match self.rules.limit {
            Some((limit, LimitMode::Kernel)) if r.new_oom_kills > 0 => {
                return Some(StopOrder {
                    reason: StoppedBy::Limit,
                    kind: EventKind::Limit,
                    detail: format!(
                        "the kernel killed {} at the limit of {}: stopping the rest of the tree",
                        processes(r.new_oom_kills),
                        format_bytes(limit)
                    ),
                    kill_above: None,
                });
            }
            Some((limit, LimitMode::Polled)) if r.tree_rss >= limit => {
                return Some(StopOrder {
                    reason: StoppedBy::Limit,
                    kind: EventKind::Limit,
                    detail: format!(
                        "the tree's resident memory reached {} (limit {}, polled): stopping the tree",
                        format_bytes(r.tree_rss),
                        format_bytes(limit)
                    ),
                    kill_above: Some(r.tree_rss.max(limit) + limit / 100),
                });
            }
            _ => {}
        }
        if let Some(floor) = self.rules.floor {
            if r.mem_available < floor {
                return Some(StopOrder {
                    reason: StoppedBy::SystemFloor,
                    kind: EventKind::SystemFloor,
                    detail: format!(
                        "the machine's available memory fell to {} (floor {}, of {} RAM): stopping the tree",
                        format_bytes(r.mem_available),
                        format_bytes(floor),
                        format_bytes(r.mem_total)
                    ),
                    kill_above: Some(r.tree_rss + per_cent_of_ram),
                });
            }
        }
        if let (Some(max), Some(psi)) = (self.rules.pressure, r.psi_full_avg10) {
            if psi >= max {
                return Some(StopOrder {
                    reason: StoppedBy::SystemFloor,
                    kind: EventKind::SystemFloor,
                    detail: format!(
                        "memory pressure (PSI full avg10) reached {psi:.2}% (--pressure {max}%): \
                         stopping the tree"
                    ),
                    kill_above: Some(r.tree_rss + per_cent_of_ram),
                });
            }
        }
        None
    }

    /// Takes the live verdict and decides whether a leak trigger fires. A leak call fires
    /// once; `--act-before` fires once per approach, and is armed again when the projection
    /// moves out to twice its time (the rise slowed down, or memory was freed).
    pub fn observe_trend(&mut self, trend: &Trend) -> Option<Decision> {
        if self.stopped {
            return None;
        }
        if self.rules.on_leak && trend.leak && !self.leak_fired {
            self.leak_fired = true;
            return Some(Decision::Leak {
                trigger: LeakTrigger::Called,
                detail: "a leak was called".into(),
            });
        }
        let before = self.rules.act_before_s?;
        match trend.time_to_limit_s {
            Some(left) if left < before && self.act_armed => {
                self.act_armed = false;
                let limit = trend
                    .limit_bytes
                    .map(|b| format!("the {} limit", format_bytes(b)))
                    .unwrap_or_else(|| "its limit".into());
                Some(Decision::Leak {
                    trigger: LeakTrigger::RunningOut,
                    detail: format!(
                        "at its rate the tree's memory reaches {limit} in {}, within \
                         --act-before {}",
                        format_seconds(left),
                        format_seconds(before)
                    ),
                })
            }
            Some(left) if left < 2.0 * before => None,
            _ => {
                self.act_armed = true;
                None
            }
        }
    }

    /// The order to stop the tree for a leak trigger (the `stop` action of `--on-leak`).
    pub fn leak_stop(&mut self, detail: &str) -> Option<StopOrder> {
        if self.stopped {
            return None;
        }
        self.stopped = true;
        Some(StopOrder {
            reason: StoppedBy::Leak,
            kind: EventKind::Leak,
            detail: format!("{detail}: stopping the tree (--on-leak stop)"),
            kill_above: None,
        })
    }

    /// The order to stop the tree because memwarden was interrupted again after the first
    /// signal was forwarded (or with no command left to forward it to).
    pub fn interrupt_stop(&mut self, signal: &str) -> Option<StopOrder> {
        if self.stopped {
            return None;
        }
        self.stopped = true;
        Some(StopOrder {
            reason: StoppedBy::Interrupt,
            kind: EventKind::Signal,
            detail: format!("{signal} received again: stopping the tree"),
            kill_above: None,
        })
    }

    /// The timeout's order once `t` (seconds since start) has reached it.
    pub fn timed_out(&mut self, t: f64) -> Option<StopOrder> {
        let timeout = self.rules.timeout_s?;
        if self.stopped || t < timeout {
            return None;
        }
        self.stopped = true;
        Some(StopOrder {
            reason: StoppedBy::Timeout,
            kind: EventKind::Timeout,
            detail: format!(
                "the tree ran for {}, its --timeout: stopping it",
                format_seconds(timeout)
            ),
            kill_above: None,
        })
    }

    /// The time until the next sample: `base`, shortened while the limit or the system floor
    /// is near (see [`poll_interval`]).
    pub fn interval(&self, base: Duration) -> Duration {
        let r = &self.last;
        let mut interval = base;
        if self.stopped {
            return interval;
        }
        // Polled, the limit holds only as well as the samples come. Under a kernel limit the
        // kernel holds the line, but a warning below it, and the report's peak, still need the
        // approach to be seen. Resident memory, not the cgroup's charge, measures the headroom:
        // page cache sits near any limit and would keep the interval short for nothing.
        if let Some((limit, _)) = self.rules.limit {
            let headroom = limit.saturating_sub(r.tree_rss);
            interval = interval.min(poll_interval(headroom, self.tree_rate.bytes_per_s, base));
        }
        if let Some(floor) = self.rules.floor {
            let headroom = r.mem_available.saturating_sub(floor);
            interval = interval.min(poll_interval(headroom, self.machine_rate.bytes_per_s, base));
        }
        interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn reading(t: f64, rss: u64) -> Reading {
        Reading {
            t,
            tree_rss: rss,
            tree_charged: rss,
            mem_total: 16 * GIB,
            mem_available: 12 * GIB,
            ..Default::default()
        }
    }

    fn stops(d: &[Decision]) -> Vec<&StopOrder> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Stop(o) => Some(o),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_polled_limit_stops_once() {
        let mut p = Policy::new(Rules {
            limit: Some((400 * MIB, LimitMode::Polled)),
            ..Default::default()
        });
        assert!(p.observe(&reading(0.0, 399 * MIB)).is_empty());
        let d = p.observe(&reading(0.1, 401 * MIB));
        let s = stops(&d);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].reason, StoppedBy::Limit);
        assert_eq!(s[0].kill_above, Some(401 * MIB + 4 * MIB));
        assert!(s[0].detail.contains("401.0 MiB"), "{}", s[0].detail);
        assert!(stops(&p.observe(&reading(0.2, 500 * MIB))).is_empty());
    }

    #[test]
    fn a_kernel_limit_stops_on_oom_kills_only() {
        let mut p = Policy::new(Rules {
            limit: Some((100 * MIB, LimitMode::Kernel)),
            ..Default::default()
        });
        // At the limit the kernel reclaims and throttles; memwarden leaves that to it.
        assert!(p.observe(&reading(0.0, 100 * MIB)).is_empty());
        let d = p.observe(&Reading {
            new_oom_kills: 2,
            ..reading(0.1, 50 * MIB)
        });
        assert_eq!(d[0], Decision::OomKill { count: 2 });
        let s = stops(&d);
        assert_eq!(s[0].reason, StoppedBy::Limit);
        assert!(s[0].detail.contains("2 processes"), "{}", s[0].detail);
        assert_eq!(status_after(StoppedBy::Limit), 121);
        assert_eq!(status_after(StoppedBy::Timeout), 124);
    }

    #[test]
    fn oom_kills_without_a_limit_are_recorded_but_stop_nothing() {
        let mut p = Policy::new(Rules::default());
        let d = p.observe(&Reading {
            new_oom_kills: 1,
            ..reading(0.0, MIB)
        });
        assert_eq!(d, vec![Decision::OomKill { count: 1 }]);
    }

    #[test]
    fn warnings_fire_once_per_crossing() {
        let mut p = Policy::new(Rules {
            warn: Some(100 * MIB),
            ..Default::default()
        });
        let kinds: Vec<&str> = [50, 100, 120, 95, 101, 89, 95, 100, 10]
            .iter()
            .enumerate()
            .map(
                |(i, &m)| match p.observe(&reading(i as f64, m * MIB)).first() {
                    Some(Decision::Warn { .. }) => "warn",
                    Some(Decision::Rearm { .. }) => "rearm",
                    Some(_) => "other",
                    None => "-",
                },
            )
            .collect();
        // 95 and 101 are inside the hysteresis band: nothing until 89 re-arms.
        assert_eq!(
            kinds,
            ["-", "warn", "-", "-", "-", "rearm", "-", "warn", "rearm"]
        );
    }

    #[test]
    fn the_floor_and_pressure_stop_the_tree() {
        let mut p = Policy::new(Rules {
            floor: Some(GIB),
            ..Default::default()
        });
        let low = Reading {
            mem_available: GIB - 1,
            ..reading(0.0, 10 * MIB)
        };
        let d = p.observe(&low);
        assert_eq!(stops(&d)[0].reason, StoppedBy::SystemFloor);

        let mut p = Policy::new(Rules {
            pressure: Some(20.0),
            ..Default::default()
        });
        let calm = Reading {
            psi_full_avg10: Some(19.9),
            ..reading(0.0, MIB)
        };
        assert!(p.observe(&calm).is_empty());
        let d = p.observe(&Reading {
            psi_full_avg10: Some(20.0),
            ..calm
        });
        assert!(stops(&d)[0].detail.contains("20.00%"));
    }

    #[test]
    fn a_leak_call_fires_once_and_act_before_once_per_approach() {
        let mut p = Policy::new(Rules {
            on_leak: true,
            act_before_s: Some(60.0),
            ..Default::default()
        });
        let trend = |leak, left: Option<f64>| Trend {
            leak,
            time_to_limit_s: left,
            limit_bytes: Some(GIB),
        };
        assert_eq!(p.observe_trend(&trend(false, Some(600.0))), None);
        let called = p.observe_trend(&trend(true, Some(600.0)));
        assert!(matches!(
            called,
            Some(Decision::Leak {
                trigger: LeakTrigger::Called,
                ..
            })
        ));
        assert_eq!(p.observe_trend(&trend(true, Some(600.0))), None);
        let Some(Decision::Leak { trigger, detail }) = p.observe_trend(&trend(true, Some(59.0)))
        else {
            panic!("act-before did not fire");
        };
        assert_eq!(trigger, LeakTrigger::RunningOut);
        assert!(detail.contains("1.0 GiB limit in 59.0s"), "{detail}");
        // Hovering near the limit does not fire again; moving out to twice the time re-arms.
        assert_eq!(p.observe_trend(&trend(true, Some(100.0))), None);
        assert_eq!(p.observe_trend(&trend(true, Some(30.0))), None);
        assert_eq!(p.observe_trend(&trend(true, Some(130.0))), None);
        assert!(p.observe_trend(&trend(true, Some(50.0))).is_some());
        let order = p.leak_stop("a leak was called").unwrap();
        assert_eq!(order.reason, StoppedBy::Leak);
        assert_eq!(status_after(order.reason), 121);
        assert_eq!(
            p.observe_trend(&trend(true, Some(1.0))),
            None,
            "stopped already"
        );
    }

    #[test]
    fn the_timeout_fires_once() {
        let mut p = Policy::new(Rules {
            timeout_s: Some(2.0),
            ..Default::default()
        });
        assert!(p.timed_out(1.9).is_none());
        assert_eq!(p.timed_out(2.0).unwrap().reason, StoppedBy::Timeout);
        assert!(p.timed_out(3.0).is_none());
    }

    #[test]
    fn the_interval_halves_the_headroom_left() {
        let base = Duration::from_secs(1);
        // Far from the limit (16 GiB of headroom): the base interval.
        assert_eq!(poll_interval(16 * GIB, 0.0, base), base);
        // 400 MiB of headroom at the assumed 4 GiB/s: ~49 ms.
        let i = poll_interval(400 * MIB, 0.0, base);
        assert!((i.as_secs_f64() - 0.0488).abs() < 0.001, "{i:?}");
        // A faster measured allocator shortens it; at the limit the floor holds.
        assert!(poll_interval(400 * MIB, 8.0 * GIB as f64, base) < i);
        assert_eq!(poll_interval(0, 0.0, base), MIN_POLL);
        // A base shorter than the floor is kept as the ceiling.
        assert_eq!(poll_interval(GIB, 0.0, Duration::from_millis(2)), MIN_POLL);
    }

    #[test]
    fn a_fast_allocator_is_sampled_ever_faster() {
        let base = Duration::from_secs(1);
        let mut p = Policy::new(Rules {
            limit: Some((400 * MIB, LimitMode::Polled)),
            ..Default::default()
        });
        // Simulate a 1.5 GiB/s allocator sampled at the intervals the policy asks for.
        let rate = 1.5 * GIB as f64;
        let (mut t, mut overshoot) = (0.0, 0);
        for _ in 0..200 {
            let rss = (t * rate) as u64;
            if !stops(&p.observe(&reading(t, rss))).is_empty() {
                overshoot = rss - 400 * MIB;
                break;
            }
            t += p.interval(base).as_secs_f64();
        }
        assert!(overshoot > 0, "the limit was never reached");
        // At most one MIN_POLL of growth past the limit (3 MiB at this rate, < 1 %).
        assert!(
            overshoot <= (rate * MIN_POLL.as_secs_f64()) as u64,
            "{overshoot}"
        );
        // Without a polled limit nothing shortens the interval.
        assert_eq!(Policy::new(Rules::default()).interval(base), base);
    }
}
