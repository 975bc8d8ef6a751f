//! The verdicts' reasons in plain words, the finding first: "floor rose 158.0 MiB over 2m 23s
//! and was still rising at the end: 35.0 MiB/min over the last quarter".
//!
//! Reasons are built only when a verdict is read, from the figures a look kept.

use super::assess::Finding;
use super::config::DetectorConfig;
use super::judge::{Judgement, Shape, HALF_SHARE, UNRESOLVED_SAW};
use super::verdict::format_p;
use crate::units::format_seconds;

/// What the live verdict's reason needs to know of its leak call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallView {
    /// When leak was first called.
    pub first_at: Option<f64>,
    /// The window that made the call.
    pub on: Option<Judgement>,
    /// Whether the call stands.
    pub standing: bool,
    /// When it was taken back.
    pub revised_at: Option<f64>,
    /// Whether the latest look found a leak that the next one must confirm.
    pub confirming: bool,
}

/// The live verdict's reason. `ttl` is the time to `limit` while the floor rises.
pub(crate) fn live(
    cfg: &DetectorConfig,
    finding: &Finding,
    call: &CallView,
    ttl: Option<f64>,
    limit: Option<f64>,
) -> String {
    let when = |t: Option<f64>| format_seconds(t.unwrap_or(0.0));
    if call.standing {
        return match finding {
            // Still rising steadily: say so of the window that shows it now.
            Finding::Leak(j) | Finding::Rising(j) => leak(cfg, j, false),
            _ => format!(
                "{} (called at {}); since then: {}",
                call.on.map_or(String::new(), |on| leak(cfg, &on, false)),
                when(call.first_at),
                now(cfg, finding, ttl, limit, false)
            ),
        };
    }
    let text = now(cfg, finding, ttl, limit, call.confirming);
    match (call.revised_at, finding) {
        (Some(revised), Finding::Whole(j)) if j.shape == Shape::Plateau => format!(
            "levelled off at {} after rising {}: a cache that filled, not a leak (called a \
             leak at {}, revised at {})",
            cfg.quantity.amount(j.last),
            cfg.quantity.amount(j.rise),
            when(call.first_at),
            format_seconds(revised)
        ),
        (Some(revised), _) => format!(
            "{text} (a leak called at {} was revised at {}: the floor stopped rising)",
            when(call.first_at),
            format_seconds(revised)
        ),
        (None, _) => text,
    }
}

/// What the live verdict's latest look found, on its own. `confirming`: the rise has lasted
/// long enough, and the next look decides the call.
fn now(
    cfg: &DetectorConfig,
    finding: &Finding,
    ttl: Option<f64>,
    limit: Option<f64>,
    confirming: bool,
) -> String {
    let q = cfg.quantity;
    match finding {
        Finding::TooShort { observed, points } => format!(
            "{} observed after warm-up ({points} floor points); judging needs {} and {} points",
            format_seconds(*observed),
            format_seconds(cfg.first_look_s),
            cfg.min_points
        ),
        Finding::Degenerate => "the floor has too few distinct points".to_string(),
        Finding::Leak(j) | Finding::Rising(j) => {
            let to_limit = match (ttl, limit) {
                (Some(ttl), Some(limit)) => format!(
                    "; at this rate it reaches the {} limit in {}",
                    q.amount(limit),
                    format_seconds(ttl)
                ),
                _ => String::new(),
            };
            let call = if confirming {
                "it is called a leak at the next look if it holds".to_string()
            } else {
                format!(
                    "a steady rise is called a leak once it has lasted {}, as a cache that \
                     fills rises the same way until it is full",
                    format_seconds(cfg.min_span_s)
                )
            };
            format!(
                "floor rising {} over {} (95% CI {} to {}){to_limit}; {call}",
                q.rate(j.slope),
                format_seconds(j.span()),
                q.rate(j.interval.0),
                q.rate(j.interval.1),
            )
        }
        Finding::Whole(j) => whole(cfg, j, false),
    }
}

/// The final verdict's reason.
pub(crate) fn final_(cfg: &DetectorConfig, finding: &Finding, call: &CallView) -> String {
    let text = match finding {
        Finding::TooShort { observed, points } => format!(
            "too short to judge: {} after start-up, {points} floor points; judging needs {}",
            format_seconds(*observed),
            cfg.min_points
        ),
        Finding::Degenerate => "the floor has too few distinct points".to_string(),
        Finding::Leak(j) => leak(cfg, j, true),
        Finding::Rising(j) | Finding::Whole(j) => whole(cfg, j, true),
    };
    match (call.first_at, call.revised_at, finding) {
        (_, _, Finding::Leak(_)) | (None, _, _) => text,
        // The live verdict's call stands, though the whole run does not show a leak now.
        (Some(first), _, _) if call.standing => format!(
            "called a leak at {} during the run: {}; by the end: {text}",
            format_seconds(first),
            call.on.map_or(String::new(), |on| leak(cfg, &on, false)),
        ),
        (Some(first), Some(revised), _) => format!(
            "{text} (called a leak at {} during the run, revised at {})",
            format_seconds(first),
            format_seconds(revised)
        ),
        (Some(first), None, _) => {
            format!(
                "{text} (called a leak at {} during the run)",
                format_seconds(first)
            )
        }
    }
}

/// A leak in window `j`: how much it rose, over how long, and that it still rises.
fn leak(cfg: &DetectorConfig, j: &Judgement, ended: bool) -> String {
    let q = cfg.quantity;
    let still = if ended {
        "was still rising at the end"
    } else {
        "is still rising"
    };
    let speeding = if j.early > 0.0 && j.recent >= 2.0 * j.early {
        format!(
            "; speeding up: {} in the early half, {} in the recent one",
            q.rate(j.early),
            q.rate(j.recent)
        )
    } else {
        String::new()
    };
    format!(
        "floor rose {} over {} and {still}: {} over the last quarter ({} over the whole, \
         {}){speeding}",
        q.amount(j.slope * j.span()),
        format_seconds(j.span()),
        q.rate(j.latest),
        q.rate(j.slope),
        format_p(j.p),
    )
}

/// A window that does not leak, by its shape. `ended`: the run is over (the final verdict).
fn whole(cfg: &DetectorConfig, j: &Judgement, ended: bool) -> String {
    let q = cfg.quantity;
    let r = cfg.min_half_ratio;
    let part_floor = (HALF_SHARE * j.threshold).max(r * j.slope);
    match j.shape {
        Shape::Plateau => format!(
            "floor rose {} to {}, then levelled off ({} over the last {}): a cache that \
             filled or a pool at its size, not a leak",
            q.amount(j.rise),
            q.amount(j.last),
            q.rate(j.latest),
            format_seconds(j.span() / 4.0),
        ),
        Shape::Slowing => format!(
            "floor rising {} over {} but slowing: {} in the recent half, {} in the early one, \
             as a cache filling up; {}",
            q.rate(j.slope),
            format_seconds(j.span()),
            q.rate(j.recent),
            q.rate(j.early),
            if ended {
                "not called a leak"
            } else {
                "judged when it stops or keeps on"
            }
        ),
        Shape::Rising | Shape::Leak => {
            let why = if j.points < cfg.min_points {
                format!(
                    "but only {} floor points{}, a leak call needs {}",
                    j.points,
                    if j.group > 1 {
                        " under the sawtooth"
                    } else {
                        ""
                    },
                    cfg.min_points
                )
            } else if j.p >= j.alpha {
                format!(
                    "not significantly once the floor's wandering is allowed for (p={}, a \
                     leak needs p<{})",
                    Sig(j.p),
                    Sig(j.alpha)
                )
            } else if j.recent < part_floor {
                format!(
                    "mostly before the recent half ({} in it): one step up, or growth that \
                     stopped",
                    q.rate(j.recent)
                )
            } else {
                format!(
                    "not steadily to the end ({} over the last quarter): a step, or a fill \
                     that just stopped",
                    q.rate(j.latest)
                )
            };
            format!(
                "floor rose {} over {} ({}), {why}",
                q.amount(j.rise.max(j.slope * j.span())),
                format_seconds(j.span()),
                q.rate(j.slope)
            )
        }
        Shape::Unresolved if j.group == UNRESOLVED_SAW => if ended {
            "one big drop in the run (a garbage collection?): one tooth's floor cannot be told \
             from its ramp"
        } else {
            "one big drop so far (a garbage collection?): the floor under the saw is known \
             only after the next"
        }
        .to_string(),
        Shape::Unresolved => format!(
            "slow sawtooth: {} floor points after merging its teeth, judging needs {}",
            j.points, cfg.min_points
        ),
        Shape::Stable | Shape::Unsure => {
            let floor = if j.group > 1 {
                "floor under the sawtooth"
            } else {
                "floor"
            };
            if j.slope < j.threshold {
                format!(
                    "{floor} is flat: trend {} over {}, below the {} a leak needs",
                    q.rate(j.slope),
                    format_seconds(j.span()),
                    q.rate(j.threshold),
                )
            } else if j.slope * j.span() < j.threshold * cfg.min_rise_s {
                format!(
                    "{floor} rose {} over {}, less than the {} a leak must add",
                    q.amount(j.slope * j.span()),
                    format_seconds(j.span()),
                    q.amount(j.threshold * cfg.min_rise_s),
                )
            } else {
                format!(
                    "{floor} trend {} over {}, not significant (p={}; a leak needs p<{})",
                    q.rate(j.slope),
                    format_seconds(j.span()),
                    Sig(j.p),
                    Sig(j.alpha),
                )
            }
        }
    }
}

/// A significance level printed with as many digits as it needs: `0.001`, `0.00033`.
struct Sig(f64);

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = (-self.0.log10()).ceil().max(1.0) as usize + 1;
        let s = format!("{:.*}", digits, self.0);
        f.write_str(s.trim_end_matches('0').trim_end_matches('.'))
    }
}
