//! Axis ticks for the charts: round steps and short labels for values and times.

use super::chart::Unit;

/// A tick step for values up to `max`, and the unit base its labels use (1, 1024, 1024²...).
pub fn value_step(max: f64, unit: Unit) -> (f64, f64) {
    let base = match unit {
        Unit::Count => 1.0,
        Unit::Bytes => {
            let mut b = 1.0;
            while b * 1024.0 <= max && b < 1024f64.powi(5) {
                b *= 1024.0;
            }
            b
        }
    };
    let raw = max / base / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    let mut step = nice * mag * base;
    if unit == Unit::Count || base == 1.0 {
        step = step.max(1.0).round();
    }
    (step, base)
}

/// A value tick's label in the unit `base` names: `50 MiB`, `2.5 MiB`, `0`, `7`.
pub fn value_label(v: f64, base: f64, unit: Unit) -> String {
    let n = v / base;
    let s = if (n - n.round()).abs() < 1e-9 {
        format!("{n:.0}")
    } else if (n * 10.0 - (n * 10.0).round()).abs() < 1e-9 {
        format!("{n:.1}")
    } else {
        format!("{n:.2}")
    };
    match unit {
        Unit::Count => s,
        Unit::Bytes => {
            let name = match base as u64 {
                1 => "B",
                1024 => "KiB",
                1_048_576 => "MiB",
                1_073_741_824 => "GiB",
                1_099_511_627_776 => "TiB",
                _ => "PiB",
            };
            if v == 0.0 {
                "0".to_string()
            } else {
                format!("{s} {name}")
            }
        }
    }
}

/// A tick step for a time range: a round number of seconds, minutes, hours or days.
pub fn time_step(range: f64) -> f64 {
    const STEPS: [f64; 27] = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
        600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0,
        604800.0, 2592000.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| range / s <= 10.0)
        .unwrap_or(range / 10.0)
}

/// A tick label: `0`, `250ms`, `30s`, `5m`, `1m 30s`, `2h`, `1h 30m`, `3d`, `1d 12h`.
pub fn time_label(t: f64, step: f64) -> String {
    if t == 0.0 {
        return "0".to_string();
    }
    if step < 1.0 {
        if t < 1.0 {
            return format!("{:.0}ms", t * 1000.0);
        }
        let s = format!("{t:.2}");
        return format!("{}s", s.trim_end_matches('0').trim_end_matches('.'));
    }
    let s = t.round() as u64;
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => two(s / 60, "m", s % 60, "s"),
        3600..=86399 => two(s / 3600, "h", (s % 3600) / 60, "m"),
        _ => two(s / 86400, "d", (s % 86400) / 3600, "h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;

    #[test]
    fn ticks_are_round() {
        assert_eq!(value_step(170.0 * MIB, Unit::Bytes), (50.0 * MIB, MIB));
        assert_eq!(value_step(3.0 * 1024.0 * MIB, Unit::Bytes).1, 1024.0 * MIB);
        assert_eq!(value_step(7.0, Unit::Count), (2.0, 1.0));
        assert_eq!(value_step(1.0, Unit::Count), (1.0, 1.0));
        assert_eq!(value_label(50.0 * MIB, MIB, Unit::Bytes), "50 MiB");
        assert_eq!(value_label(2.5 * MIB, MIB, Unit::Bytes), "2.5 MiB");
        assert_eq!(value_label(0.0, MIB, Unit::Bytes), "0");
        assert_eq!(time_step(2.3), 0.5);
        assert_eq!(time_step(604800.0), 86400.0);
        assert_eq!(time_label(90.0, 30.0), "1m 30s");
        assert_eq!(time_label(7200.0, 3600.0), "2h");
        assert_eq!(time_label(0.5, 0.5), "500ms");
        assert_eq!(time_label(1.5, 0.5), "1.5s");
        assert_eq!(time_label(2.0, 0.5), "2s");
        assert_eq!(time_label(86400.0 * 3.0, 86400.0), "3d");
    }
}
