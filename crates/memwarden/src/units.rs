//! Sizes, percentages, durations and rates: parse what users write, print what users read.
//!
//! The accepted forms are the command-line contract (the README's "Values"):
//! sizes `512MiB`, `4GiB`, `4G` (bare K/M/G/T are binary, as `ulimit` and docker read them),
//! `1.5GB` (decimal when written with B), plain bytes `1048576`;
//! percentages `75%`; durations `250ms`, `2s`, `5m`, `1h`, `1h30m` (a bare number is seconds);
//! rates `10MiB/h`, `1MB/min`, `512KiB/s`.
//!
//! ```
//! use memwarden::units::{parse_size, parse_duration, parse_rate, format_bytes};
//! assert_eq!(parse_size("4G").unwrap(), 4 << 30);
//! assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
//! assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
//! assert_eq!(parse_rate("1MB/min").unwrap(), 1_000_000.0 / 60.0);
//! assert_eq!(format_bytes(3 << 20), "3.0 MiB");
//! ```

use std::fmt;
use std::time::Duration;

/// The forms a size may take, quoted in error messages.
pub const SIZE_FORMS: &str =
    "a size like 512MiB, 4GiB, 4G (binary), 1.5GB (decimal) or a byte count";
/// The forms a size-or-percentage may take, quoted in error messages.
pub const THRESHOLD_FORMS: &str =
    "a size like 512MiB, 4GiB, 4G (binary), 1.5GB (decimal), or a percentage like 75%";
/// The forms a duration may take, quoted in error messages.
pub const DURATION_FORMS: &str =
    "a duration like 250ms, 2s, 5m, 1h or 1h30m (a bare number is seconds)";
/// The forms a rate may take, quoted in error messages.
pub const RATE_FORMS: &str = "a rate like 10MiB/h, 1MB/min or 512KiB/s";

/// Why a value could not be parsed; the message names the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not {expected}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct ParseError {
    /// The text that was refused.
    pub input: String,
    /// The accepted forms (one of the `*_FORMS` constants).
    pub expected: &'static str,
    /// What exactly was wrong, when more can be said than "not accepted".
    pub detail: Option<String>,
}

impl ParseError {
    fn new(input: &str, expected: &'static str, detail: impl Into<Option<String>>) -> Self {
        ParseError {
            input: input.to_string(),
            expected,
            detail: detail.into(),
        }
    }
}

/// A size threshold written either as bytes or as a share of a reference (RAM or a cgroup limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// An absolute number of bytes.
    Bytes(u64),
    /// A percentage (0 < p <= 100) of a reference amount.
    Percent(f64),
}

impl Threshold {
    /// The threshold in bytes, given the reference a percentage refers to.
    ///
    /// ```
    /// use memwarden::units::Threshold;
    /// assert_eq!(Threshold::Percent(50.0).resolve(1000), 500);
    /// assert_eq!(Threshold::Bytes(7).resolve(1000), 7);
    /// ```
    pub fn resolve(self, reference: u64) -> u64 {
        match self {
            Threshold::Bytes(b) => b,
            Threshold::Percent(p) => (reference as f64 * p / 100.0).round() as u64,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Bytes(b) => f.write_str(&format_bytes(*b)),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Splits `"1.5GiB"` into the number `1.5` and the suffix `"GiB"` (spaces between are allowed).
fn split_number(s: &str) -> Option<(f64, &str)> {
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (num, rest) = s.split_at(end);
    // Reject forms f64::from_str accepts but no user means: "", ".", "1.2.3" (already), "inf".
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    Some((value, rest.trim_start()))
}

/// The multiplier of a size suffix, or `None` when the suffix is not a size unit.
fn size_multiplier(unit: &str) -> Option<f64> {
    const K: f64 = 1024.0;
    let m = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => K,
        "m" | "mib" => K * K,
        "g" | "gib" => K * K * K,
        "t" | "tib" => K * K * K * K,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return None,
    };
    Some(m)
}

/// Parses a size (`512MiB`, `4G`, `1.5GB`, `1048576`) into bytes.
///
/// ```
/// use memwarden::units::parse_size;
/// assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
/// assert!(parse_size("12 parsecs").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64, ParseError> {
    parse_size_as(input, SIZE_FORMS)
}

fn parse_size_as(input: &str, expected: &'static str) -> Result<u64, ParseError> {
    let s = input.trim();
    let (value, unit) = split_number(s).ok_or_else(|| ParseError::new(input, expected, None))?;
    let mult = size_multiplier(unit)
        .ok_or_else(|| ParseError::new(input, expected, format!("unknown unit '{unit}'")))?;
    let bytes = value * mult;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(ParseError::new(input, expected, "too large".to_string()));
    }
    Ok(bytes.round() as u64)
}

/// Parses a size or a percentage (`4GiB`, `75%`).
///
/// ```
/// use memwarden::units::{parse_threshold, Threshold};
/// assert_eq!(parse_threshold("75%").unwrap(), Threshold::Percent(75.0));
/// assert_eq!(parse_threshold("1K").unwrap(), Threshold::Bytes(1024));
/// assert!(parse_threshold("150%").is_err());
/// ```
pub fn parse_threshold(input: &str) -> Result<Threshold, ParseError> {
    let s = input.trim();
    if let Some(pct) = s.strip_suffix('%') {
        let (value, rest) = split_number(pct.trim_end())
            .ok_or_else(|| ParseError::new(input, THRESHOLD_FORMS, None))?;
        if !rest.is_empty() {
            return Err(ParseError::new(input, THRESHOLD_FORMS, None));
        }
        if !(value > 0.0 && value <= 100.0) {
            return Err(ParseError::new(
                input,
                THRESHOLD_FORMS,
                "a percentage must be above 0 and at most 100".to_string(),
            ));
        }
        return Ok(Threshold::Percent(value));
    }
    let bytes = parse_size_as(input, THRESHOLD_FORMS)?;
    if bytes == 0 {
        return Err(ParseError::new(
            input,
            THRESHOLD_FORMS,
            "must be above zero".to_string(),
        ));
    }
    Ok(Threshold::Bytes(bytes))
}

/// Seconds in one duration unit, or `None` when the suffix is not a duration unit.
fn seconds_per(unit: &str) -> Option<f64> {
    let s = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        _ => return None,
    };
    Some(s)
}

/// Parses a duration (`250ms`, `2s`, `5m`, `1h30m`; a bare number is seconds).
///
/// ```
/// use memwarden::units::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, ParseError> {
    let mut rest = input.trim();
    if rest.is_empty() {
        return Err(ParseError::new(input, DURATION_FORMS, None));
    }
    let mut total = 0.0f64;
    let mut parts = 0;
    while !rest.is_empty() {
        let (value, after) =
            split_number(rest).ok_or_else(|| ParseError::new(input, DURATION_FORMS, None))?;
        let unit_len = after
            .char_indices()
            .find(|&(_, c)| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after_unit) = after.split_at(unit_len);
        let per = seconds_per(unit).ok_or_else(|| {
            ParseError::new(input, DURATION_FORMS, format!("unknown unit '{unit}'"))
        })?;
        // A bare number is only accepted alone: "1h30" is more likely a typo than 1h + 30s.
        if unit.is_empty() && (parts > 0 || !after_unit.trim().is_empty()) {
            return Err(ParseError::new(
                input,
                DURATION_FORMS,
                "a number without unit".to_string(),
            ));
        }
        total += value * per;
        parts += 1;
        rest = after_unit.trim_start();
    }
    if !total.is_finite() || total > 1e12 {
        return Err(ParseError::new(
            input,
            DURATION_FORMS,
            "too long".to_string(),
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses a growth rate (`10MiB/h`, `1MB/min`) into bytes per second.
///
/// ```
/// use memwarden::units::parse_rate;
/// assert_eq!(parse_rate("36KB/h").unwrap(), 10.0);
/// assert!(parse_rate("10MiB").is_err());
/// ```
pub fn parse_rate(input: &str) -> Result<f64, ParseError> {
    let s = input.trim();
    let (size, per) = s.split_once('/').ok_or_else(|| {
        ParseError::new(input, RATE_FORMS, "missing '/' and time unit".to_string())
    })?;
    let bytes = parse_size_as(size, RATE_FORMS).map_err(|e| ParseError {
        input: input.to_string(),
        ..e
    })?;
    let per = per.trim();
    let secs = seconds_per(per)
        .filter(|_| !per.is_empty())
        .ok_or_else(|| ParseError::new(input, RATE_FORMS, format!("unknown time unit '{per}'")))?;
    Ok(bytes as f64 / secs)
}

/// Prints bytes with a binary unit and one decimal: `512 B`, `1.5 KiB`, `180.2 MiB`.
///
/// ```
/// assert_eq!(memwarden::units::format_bytes(1536), "1.5 KiB");
/// ```
pub fn format_bytes(bytes: u64) -> String {
    format_bytes_f(bytes as f64)
}

/// Like [`format_bytes`], for signed or fractional amounts (growth, differences).
pub fn format_bytes_f(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let sign = if bytes < 0.0 { "-" } else { "" };
    let mut v = bytes.abs();
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{sign}{v:.0} B")
    } else {
        format!("{sign}{v:.1} {}", UNITS[i])
    }
}

/// Prints a rate in bytes per second with the time unit that reads best: `1.2 MiB/min`.
///
/// ```
/// assert_eq!(memwarden::units::format_rate(1024.0 * 1024.0 / 60.0), "1.0 MiB/min");
/// ```
pub fn format_rate(bytes_per_s: f64) -> String {
    let a = bytes_per_s.abs();
    let (scaled, unit) = if a >= 1024.0 * 1024.0 || a == 0.0 {
        (bytes_per_s, "s")
    } else if a * 60.0 >= 1024.0 {
        (bytes_per_s * 60.0, "min")
    } else if a * 3600.0 >= 1024.0 {
        (bytes_per_s * 3600.0, "h")
    } else {
        (bytes_per_s * 86400.0, "day")
    };
    format!("{}/{unit}", format_bytes_f(scaled))
}

/// Prints seconds for people: `850ms`, `12.3s`, `5m 12s`, `2h 05m`, `3d 4h`.
///
/// ```
/// assert_eq!(memwarden::units::format_seconds(312.0), "5m 12s");
/// ```
pub fn format_seconds(secs: f64) -> String {
    if !secs.is_finite() {
        return "∞".to_string();
    }
    if secs < 0.0 {
        return format!("-{}", format_seconds(-secs));
    }
    if secs < 1.0 {
        return format!("{:.0}ms", secs * 1000.0);
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    match s {
        0..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_follow_the_contract() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4g").unwrap(), 4 << 30);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("100 KB").unwrap(), 100_000);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size(" 2K ").unwrap(), 2048);
        assert_eq!(parse_size("0.5KiB").unwrap(), 512);
        for bad in [
            "",
            "G",
            "-1G",
            "1.2.3G",
            "12 parsecs",
            "1e9",
            "NaN",
            "inf",
            "1 G B",
            ".",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn size_errors_name_the_accepted_forms() {
        let e = parse_size("12 parsecs").unwrap_err().to_string();
        assert!(
            e.contains("'12 parsecs'") && e.contains("512MiB") && e.contains("parsecs"),
            "{e}"
        );
        let e = parse_size("99999999999999999999999T")
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn thresholds_take_sizes_and_percentages() {
        assert_eq!(parse_threshold("75%").unwrap(), Threshold::Percent(75.0));
        assert_eq!(parse_threshold("12.5 %").unwrap(), Threshold::Percent(12.5));
        assert_eq!(
            parse_threshold("400MiB").unwrap(),
            Threshold::Bytes(400 << 20)
        );
        for bad in ["0%", "101%", "%", "-5%", "5%%", "0", "0MiB", "x%"] {
            assert!(parse_threshold(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Threshold::Percent(25.0).resolve(4 << 30), 1 << 30);
    }

    #[test]
    fn durations_follow_the_contract() {
        let ms = |s: &str| parse_duration(s).unwrap().as_millis();
        assert_eq!(ms("250ms"), 250);
        assert_eq!(ms("2s"), 2000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1m 30s"), 90_000);
        assert_eq!(ms("10"), 10_000);
        assert_eq!(ms("0.01"), 10);
        assert_eq!(ms("1d"), 86_400_000);
        for bad in ["", "s", "1x", "1h30", "-1s", "forever", "1..5s", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        let e = parse_duration("1x").unwrap_err().to_string();
        assert!(e.contains("250ms") && e.contains("'x'"), "{e}");
    }

    #[test]
    fn rates_follow_the_contract() {
        assert_eq!(
            parse_rate("10MiB/h").unwrap(),
            (10u64 << 20) as f64 / 3600.0
        );
        assert_eq!(parse_rate("1MB/min").unwrap(), 1e6 / 60.0);
        assert_eq!(parse_rate("512KiB/s").unwrap(), 512.0 * 1024.0);
        assert_eq!(parse_rate("1G / d").unwrap(), (1u64 << 30) as f64 / 86400.0);
        for bad in ["10MiB", "/h", "10MiB/", "10MiB/fortnight", "x/h"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
        let e = parse_rate("10MiB/fortnight").unwrap_err().to_string();
        assert!(e.contains("fortnight") && e.contains("1MB/min"), "{e}");
    }

    #[test]
    fn printing_reads_well() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(180 << 20), "180.0 MiB");
        assert_eq!(format_bytes_f(-1536.0), "-1.5 KiB");
        assert_eq!(format_rate(0.0), "0 B/s");
        assert_eq!(format_rate(2.0 * 1024.0 * 1024.0), "2.0 MiB/s");
        assert_eq!(format_rate(1024.0 / 3600.0), "1.0 KiB/h");
        assert_eq!(format_seconds(0.25), "250ms");
        assert_eq!(format_seconds(12.34), "12.3s");
        assert_eq!(format_seconds(7500.0), "2h 05m");
        assert_eq!(format_seconds(90000.0), "1d 1h");
    }

    proptest! {
        #[test]
        fn no_input_panics(s in "\\PC{0,24}") {
            let _ = parse_size(&s);
            let _ = parse_threshold(&s);
            let _ = parse_duration(&s);
            let _ = parse_rate(&s);
        }

        #[test]
        fn unit_shaped_input_never_panics(n in "[0-9.]{0,30}", u in "(|b|k|kb|kib|g|GB|TiB|ms|s|m|h|d|%|/h|/min|x)") {
            let s = format!("{n}{u}");
            let _ = parse_size(&s);
            let _ = parse_threshold(&s);
            let _ = parse_duration(&s);
            let _ = parse_rate(&s);
        }

        #[test]
        fn printed_sizes_parse_back_close(b in 0u64..(1u64 << 50)) {
            let printed = format_bytes(b).replace(' ', "");
            let back = parse_size(&printed).unwrap();
            prop_assert!((back as f64 - b as f64).abs() <= b as f64 * 0.05 + 1.0);
        }
    }
}
