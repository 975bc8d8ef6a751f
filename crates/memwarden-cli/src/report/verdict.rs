//! The leak verdict in words, as every format shows it: the finding first ("leaking ~30
//! MiB/s, steadily, called at 17.0s; at this rate it would have reached its limit (1.0 GiB)
//! in under a second"), then the statistics for those who want them.
//!
//! The words are built from the verdict's typed figures and the run's state, so they hold
//! whatever the detector's own reason says; that reason is shown beside them (as "why"),
//! never parsed.

use memwarden::detect::{DetectorConfig, VerdictKind};
use memwarden::units::{format_bytes, format_rate, format_seconds};

use super::model::RunReport;
use crate::record::{RunState, RunVerdict, StoppedBy};

/// What the words say when a run has no verdict.
pub const NOT_JUDGED: &str = "not judged";

/// What the words of a verdict need to know of its run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Context {
    /// The run goes on: its verdict is the one so far, its projections are still ahead.
    pub running: bool,
    /// The run has no recorded end (running, or its memwarden died): its figures are what was
    /// recorded.
    pub unended: bool,
    /// memwarden stopped the run at its limit (or the kernel killed in it there).
    pub reached_limit: bool,
    /// How long the run lasted (so far), seconds.
    pub duration_s: f64,
}

impl Context {
    /// The context of `report`'s run.
    pub fn of(report: &RunReport) -> Context {
        Context {
            running: report.state == RunState::Running,
            unended: report.state != RunState::Ended,
            reached_limit: report.stopped_by == Some(StoppedBy::Limit),
            duration_s: report.duration_s,
        }
    }
}

/// A verdict in words: `head` is the word to color ("leaking", "stable"...), `rest` follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The verdict's kind, for its color.
    pub kind: VerdictKind,
    /// The finding's first word(s).
    pub head: String,
    /// The rest: rate, when, where it leads.
    pub rest: String,
}

impl Finding {
    /// The whole finding as one text.
    pub fn text(&self) -> String {
        format!("{}{}", self.head, self.rest)
    }
}

/// The finding of `v`, in the tense of `ctx`.
pub fn finding(v: &RunVerdict, ctx: Context) -> Finding {
    let (head, rest) = match v.kind {
        VerdictKind::Leak if v.memory_kind == VerdictKind::Leak => {
            let mut rest = format!(" ~{}", format_rate(v.growth_bytes_per_s));
            if steady(v) {
                rest.push_str(", steadily");
            }
            if let Some(t) = v.detected_at_s {
                rest.push_str(&format!(", called at {}", format_seconds(t)));
            }
            rest.push_str(&limit_clause(v, ctx));
            let counts = leaking_counts(v);
            if !counts.is_empty() {
                let names: Vec<&str> = counts.iter().map(|(n, _)| *n).collect();
                let verb = if names.len() == 1 { "rises" } else { "rise" };
                rest.push_str(&format!("; {} {verb} with it", and_list(&names)));
            }
            ("leaking", rest)
        }
        VerdictKind::Leak => {
            let counts: Vec<String> = leaking_counts(v)
                .into_iter()
                .map(|(name, rate)| format!("{name} ({})", count_rate(rate)))
                .collect();
            let counts: Vec<&str> = counts.iter().map(String::as_str).collect();
            let mut rest = format!(" {}", and_list(&counts));
            if let Some(t) = v.detected_at_s {
                rest.push_str(&format!(", called at {}", format_seconds(t)));
            }
            ("leaking", rest)
        }
        VerdictKind::Plateau => {
            let rest = match v.detected_at_s {
                Some(t) => format!(
                    ": called a leak at {}, then the memory floor stopped rising{} (a cache \
                     that filled, not a leak)",
                    format_seconds(t),
                    v.revised_at_s
                        .map(|r| format!(" by {}", format_seconds(r)))
                        .unwrap_or_default()
                ),
                None => ": the memory floor rose, then stopped rising (a cache that filled, \
                          not a leak)"
                    .to_string(),
            };
            ("levelled off", rest)
        }
        VerdictKind::Stable => (
            "stable",
            format!(
                ": no lasting growth (memory floor {})",
                signed_rate(v.growth_bytes_per_s)
            ),
        ),
        VerdictKind::Inconclusive if rising(v) => {
            let mut rest = format!(
                " ~{}, not called a leak {}",
                format_rate(v.growth_bytes_per_s),
                if ctx.running { "yet" } else { "in this run" }
            );
            rest.push_str(&limit_clause(v, ctx));
            ("rising", rest)
        }
        VerdictKind::Inconclusive => {
            let took = format_seconds(ctx.duration_s);
            let rest = match (ctx.running, ctx.duration_s < shortest_judged()) {
                (true, true) => format!(": not judged yet, {took} so far"),
                (true, false) => ": not enough to call it yet".to_string(),
                (false, true) if ctx.unended => {
                    format!(": too short to judge ({took} recorded)")
                }
                (false, true) => format!(": too short to judge (it lasted {took})"),
                (false, false) => ": not enough to call it in this run".to_string(),
            };
            ("inconclusive", rest)
        }
    };
    Finding {
        kind: v.kind,
        head: head.to_string(),
        rest,
    }
}

/// The shortest run the detector can give a verdict on with its defaults: warm-up, then the
/// observation its first verdicts need.
fn shortest_judged() -> f64 {
    let d = DetectorConfig::default();
    d.warmup_s + d.first_look_s
}

/// Where the trend leads: it reached the limit, or reaches it (would have reached it) in so
/// long. Empty when it does not rise toward one.
fn limit_clause(v: &RunVerdict, ctx: Context) -> String {
    if ctx.reached_limit {
        return ", and it reached its limit".to_string();
    }
    let Some(t) = v.time_to_limit_s.filter(|_| v.growth_bytes_per_s > 0.0) else {
        return String::new();
    };
    let limit = v
        .limit_bytes
        .map(|b| format!(" ({})", format_bytes(b)))
        .unwrap_or_default();
    let verb = if ctx.running {
        "reaches"
    } else {
        "would have reached"
    };
    format!(
        "; at this rate it {verb} its limit{limit} {}",
        time_until(t)
    )
}

/// "in under a second", "in 13m 22s".
pub fn time_until(t: f64) -> String {
    if t < 1.0 {
        "in under a second".to_string()
    } else {
        format!("in {}", format_seconds(t))
    }
}

/// The statistics behind the finding: "memory floor growth 29.9 MiB/s (95 % interval 28.7
/// MiB/s to 31.1 MiB/s)". Empty when the growth was not measured.
pub fn statistics(v: &RunVerdict) -> String {
    if !(v.growth_measured() || rising(v)) {
        return String::new();
    }
    let [lo, hi] = v.growth_ci_bytes_per_s;
    format!(
        "memory floor growth {} (95 % interval {} to {})",
        signed_rate(v.growth_bytes_per_s),
        format_rate(lo),
        format_rate(hi)
    )
}

/// The growth the memory floor showed, when it was measured.
pub fn measured_growth(v: &RunVerdict) -> Option<f64> {
    v.growth_measured().then_some(v.growth_bytes_per_s)
}

/// A rise not (yet) called: the detector says the floor rises (older records, which do not
/// say, by a growth whose whole interval is above zero).
fn rising(v: &RunVerdict) -> bool {
    v.rising || (v.growth_bytes_per_s > 0.0 && v.growth_ci_bytes_per_s[0] > 0.0)
}

/// A rate known to within half of itself.
fn steady(v: &RunVerdict) -> bool {
    let [lo, hi] = v.growth_ci_bytes_per_s;
    lo >= 0.5 * v.growth_bytes_per_s && hi <= 1.5 * v.growth_bytes_per_s
}

/// The counted resources judged leaking, with their growth per second.
fn leaking_counts(v: &RunVerdict) -> Vec<(&str, f64)> {
    v.resources
        .iter()
        .filter(|(_, r)| r.kind == VerdictKind::Leak)
        .map(|(name, r)| (name.as_str(), r.growth_per_s))
        .collect()
}

/// `+1.2 MiB/min`, `-3.0 KiB/h`, `0 B/s`.
fn signed_rate(bytes_per_s: f64) -> String {
    let sign = if bytes_per_s > 0.0 { "+" } else { "" };
    format!("{sign}{}", format_rate(bytes_per_s))
}

/// A count's growth in words: `+2.0 a second`, `+12 a minute`, `+3.0 an hour`.
pub fn count_rate(per_s: f64) -> String {
    let (n, unit) = if per_s.abs() >= 1.0 {
        (per_s, "a second")
    } else if per_s.abs() * 60.0 >= 1.0 {
        (per_s * 60.0, "a minute")
    } else {
        (per_s * 3600.0, "an hour")
    };
    let sign = if n > 0.0 { "+" } else { "" };
    if n.abs() >= 10.0 {
        format!("{sign}{n:.0} {unit}")
    } else {
        format!("{sign}{n:.1} {unit}")
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ResourceVerdict;

    const MIB: f64 = 1048576.0;

    fn leak() -> RunVerdict {
        RunVerdict {
            kind: VerdictKind::Leak,
            memory_kind: VerdictKind::Leak,
            growth_bytes_per_s: 29.9 * MIB,
            growth_ci_bytes_per_s: [28.7 * MIB, 31.1 * MIB],
            detected_at_s: Some(17.0),
            time_to_limit_s: Some(0.874),
            limit_bytes: Some(1 << 30),
            reason: "floor rose 783.8 MiB over 26.2s (29.9 MiB/s)".into(),
            ..RunVerdict::default()
        }
    }

    #[test]
    fn a_leak_leads_with_its_rate_and_where_it_leads() {
        let ended = Context::default();
        assert_eq!(
            finding(&leak(), ended).text(),
            "leaking ~29.9 MiB/s, steadily, called at 17.0s; at this rate it would have \
             reached its limit (1.0 GiB) in under a second"
        );
        let running = Context {
            running: true,
            ..ended
        };
        let mut v = leak();
        v.time_to_limit_s = Some(802.0);
        assert!(finding(&v, running)
            .text()
            .ends_with("at this rate it reaches its limit (1.0 GiB) in 13m 22s"));
        // A run already stopped at its limit is not told it will reach it.
        let stopped = Context {
            reached_limit: true,
            ..ended
        };
        let text = finding(&leak(), stopped).text();
        assert!(
            text.ends_with("called at 17.0s, and it reached its limit"),
            "{text}"
        );
        assert!(!text.contains(" in "), "{text}");
    }

    #[test]
    fn counts_that_leak_are_named_with_their_pace() {
        let mut v = leak();
        v.time_to_limit_s = None;
        for (name, rate) in [("fds", 10.1), ("processes", 2.03), ("threads", 2.03)] {
            v.resources.insert(
                name.into(),
                ResourceVerdict {
                    kind: VerdictKind::Leak,
                    growth_per_s: rate,
                    ..ResourceVerdict::default()
                },
            );
        }
        assert_eq!(
            finding(&v, Context::default()).text(),
            "leaking ~29.9 MiB/s, steadily, called at 17.0s; fds, processes and threads \
             rise with it"
        );
        v.memory_kind = VerdictKind::Stable;
        v.resources.remove("processes");
        v.resources.remove("fds");
        v.detected_at_s = Some(30.0);
        assert_eq!(
            finding(&v, Context::default()).text(),
            "leaking threads (+2.0 a second), called at 30.0s"
        );
    }

    #[test]
    fn other_kinds_say_what_they_mean() {
        let stable = RunVerdict {
            kind: VerdictKind::Stable,
            memory_kind: VerdictKind::Stable,
            growth_bytes_per_s: 2048.0 / 60.0,
            ..RunVerdict::default()
        };
        assert_eq!(
            finding(&stable, Context::default()).text(),
            "stable: no lasting growth (memory floor +2.0 KiB/min)"
        );
        let revised = RunVerdict {
            kind: VerdictKind::Plateau,
            memory_kind: VerdictKind::Plateau,
            detected_at_s: Some(240.0),
            revised_at_s: Some(300.0),
            ..RunVerdict::default()
        };
        assert!(finding(&revised, Context::default()).text().starts_with(
            "levelled off: called a leak at 4m 00s, then the memory floor stopped rising by 5m 00s"
        ));
        let bare = RunVerdict::default();
        let long = Context {
            duration_s: 600.0,
            ..Context::default()
        };
        assert_eq!(
            finding(&bare, long).text(),
            "inconclusive: not enough to call it in this run"
        );
        let short = Context {
            duration_s: 1.3,
            ..Context::default()
        };
        assert_eq!(
            finding(&bare, short).text(),
            "inconclusive: too short to judge (it lasted 1.3s)"
        );
        assert_eq!(statistics(&bare), "");
        let rising = RunVerdict {
            growth_bytes_per_s: MIB / 60.0,
            growth_ci_bytes_per_s: [0.5 * MIB / 60.0, 1.5 * MIB / 60.0],
            time_to_limit_s: Some(1380.0),
            limit_bytes: Some(1 << 30),
            ..RunVerdict::default()
        };
        let running = Context {
            running: true,
            ..Context::default()
        };
        assert_eq!(
            finding(&rising, running).text(),
            "rising ~1.0 MiB/min, not called a leak yet; at this rate it reaches its limit \
             (1.0 GiB) in 23m 00s"
        );
        assert_eq!(
            statistics(&leak()),
            "memory floor growth +29.9 MiB/s (95 % interval 28.7 MiB/s to 31.1 MiB/s)"
        );
    }

    #[test]
    fn counts_read_per_second_minute_or_hour() {
        assert_eq!(count_rate(2.03), "+2.0 a second");
        assert_eq!(count_rate(0.2), "+12 a minute");
        assert_eq!(count_rate(0.001), "+3.6 an hour");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}
