//! The labeled corpus beside the synthetic traces: the real programs' traces of
//! `bench/corpus/real` (whole, and cut to a CI-length first minute and two), the scenarios'
//! recorded traces (at 200 ms as recorded, and thinned to the CLI's default 1 s), and any
//! directory of labeled CSV traces; and writing the synthetic ones out in that layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use crate::synth::Labeled;
use crate::synth::SEEN_TAIL_SHARE;

/// Writes the synthetic corpus as CSV files plus a `labels.csv`, the layout DIR arguments read.
pub fn dump_corpus(dir: &Path, corpus: &[Labeled]) {
    std::fs::create_dir_all(dir).expect("creatable directory");
    let mut labels = String::from("file,label,leak_start_s,rate_bytes_per_s\n");
    for (i, t) in corpus.iter().enumerate() {
        let file = format!("{i:03}.csv");
        let mut text = String::from("t_seconds,bytes\n");
        for (ts, v) in &t.points {
            let _ = writeln!(text, "{ts:.3},{v:.0}");
        }
        std::fs::write(dir.join(&file), text).expect("writable file");
        let label = if t.leak { "leak" } else { "ok" };
        let _ = writeln!(labels, "{file},{label},{:.1},{:.1}", t.leak_start, t.rate);
        eprintln!("{file}: {}", t.name);
    }
    std::fs::write(dir.join("labels.csv"), labels).expect("writable file");
}

/// How one labeled file reads.
#[derive(Debug, Clone, Copy)]
struct Label {
    leak: bool,
    leak_start: f64,
    rate: f64,
    /// For a plateau: when its rise stopped (a cut before then still rises at its end).
    rise_end: Option<f64>,
}

/// The CSV traces of `dir`, labeled by `labels.csv` or by name; each also cut to its first
/// `cuts` seconds when longer. With `thin > 1`, only the traces sampled at least twice a
/// second, thinned to one sample in `thin`.
///
/// `labels.csv` has a header row naming its columns: `file`, `label` (`leak`, `plateau`, or
/// anything else for a trace that does not leak), and optionally `leak_start_s`,
/// `rate_bytes_per_s` and `rise_end_s` (when a plateau's rise stopped); the scenarios'
/// `file,scenario,variant,label,leaks` reads as is. A file it does not list leaks when its name
/// starts with `leak` or contains `-leaky`.
pub fn load_dir(dir: &Path, group: &str, cuts: &[f64], thin: usize) -> Vec<Labeled> {
    let labels = read_labels(dir);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            eprintln!("skipping {}: {e}", dir.display());
            return Vec::new();
        }
    };
    files.sort();
    let mut out = Vec::new();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .filter(|p| p.file_name().is_some_and(|n| n != "labels.csv"))
    {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let by_name = name.starts_with("leak") || name.contains("-leaky");
        let label = labels.get(&name).copied().unwrap_or(Label {
            leak: by_name,
            leak_start: 0.0,
            rate: f64::NAN,
            rise_end: None,
        });
        let series = match memwarden::trace::read(p, None) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipping {}: {e}", p.display());
                continue;
            }
        };
        let mut points = series.points;
        if thin > 1 {
            // Only traces sampled often enough that thinning them means something.
            let span = points.last().map_or(0.0, |p| p.0) - points.first().map_or(0.0, |p| p.0);
            if span > 0.5 * (points.len() as f64 - 1.0) {
                continue;
            }
            points = points.into_iter().step_by(thin).collect();
        }
        let t0 = points.first().map_or(0.0, |p| p.0);
        let full = points.last().map_or(0.0, |p| p.0) - t0;
        let suffix = if thin > 1 { " (thinned to 1 s)" } else { "" };
        out.push(labeled(&name, suffix, group, &points, label, full));
        for &cut in cuts.iter().filter(|&&c| c < full - 1.0) {
            let kept: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .take_while(|p| p.0 - t0 <= cut)
                .collect();
            let suffix = format!(", first {}", crate::scoring::seconds(cut));
            out.push(labeled(&name, &suffix, group, &kept, label, cut));
        }
    }
    out
}

fn labeled(
    name: &str,
    suffix: &str,
    group: &str,
    points: &[(f64, f64)],
    label: Label,
    duration: f64,
) -> Labeled {
    // A plateau cut before its rise stopped rises to its end: a leak to anyone reading it.
    let (leak, final_leak) = match label.rise_end {
        Some(end) if duration <= end => (true, Some(true)),
        Some(end) if duration - end < SEEN_TAIL_SHARE * duration => (false, None),
        _ => (label.leak, Some(label.leak)),
    };
    let interval = if points.len() > 1 {
        duration / (points.len() - 1) as f64
    } else {
        0.0
    };
    Labeled {
        name: format!("{name}{suffix}"),
        group: group.to_string(),
        points: points.to_vec(),
        leak,
        leak_start: label.leak_start,
        rate: if leak { label.rate } else { 0.0 },
        final_leak,
        noise: f64::NAN,
        settling: 0.0,
        rise: if leak { f64::NAN } else { 0.0 },
        duration,
        interval,
        period: 0.0,
        detail: String::new(),
    }
}

fn read_labels(dir: &Path) -> BTreeMap<String, Label> {
    let mut labels = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(dir.join("labels.csv")) else {
        return labels;
    };
    let mut col: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f[0] == "file" {
            col = f
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), i))
                .collect();
            continue;
        }
        let get = |name: &str| col.get(name).and_then(|&i| f.get(i)).copied();
        let num = |name: &str| get(name).and_then(|s| s.parse::<f64>().ok());
        let label = get("label").unwrap_or("");
        labels.insert(
            f[0].to_string(),
            Label {
                leak: label == "leak",
                leak_start: num("leak_start_s").unwrap_or(0.0),
                rate: num("rate_bytes_per_s").unwrap_or(f64::NAN),
                rise_end: if label == "plateau" {
                    num("rise_end_s")
                } else {
                    None
                },
            },
        );
    }
    labels
}
