//! The labeled corpus: the seeded synthetic traces, the real ones in `../shared/traces`, and
//! any directory of labeled CSV traces; and writing the synthetic ones out in that layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use crate::synth::Labeled;

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

/// The three real traces of `../shared/traces`, labeled from what their programs do.
pub fn load_shared(dir: &Path) -> Vec<Labeled> {
    let labels = [
        ("python_http_server_wrk.csv", false),
        ("sqlite_memory_inserts.csv", true),
        ("node_lru_capped_map.csv", false),
    ];
    labels
        .iter()
        .filter_map(|&(file, leak)| load(&dir.join(file), leak, 0.0))
        .collect()
}

/// The CSV traces of `dir`, labeled by `labels.csv` or by name.
///
/// `labels.csv` has a row per file: `file,label[,leak_start_s[,rate_bytes_per_s]]`, or any
/// columns named by a header row that starts with `file` (`label`, `leak_start_s`,
/// `rate_bytes_per_s`; the scenarios' `file,scenario,variant,label,leaks` reads as is). A label
/// `leak` leaks; any other does not. A file it does not list leaks when its name starts with
/// `leak` or contains `-leaky`.
pub fn load_dir(dir: &Path) -> Vec<Labeled> {
    let mut labels: BTreeMap<String, (bool, f64, f64)> = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("labels.csv")) {
        let (mut label, mut start, mut rate) = (1, 2, 3);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f[0] == "file" {
                let col = |name: &str| f.iter().position(|&c| c == name).unwrap_or(usize::MAX);
                (label, start, rate) = (col("label"), col("leak_start_s"), col("rate_bytes_per_s"));
                continue;
            }
            let num = |i: usize| f.get(i).and_then(|s| s.parse().ok());
            labels.insert(
                f[0].to_string(),
                (
                    f.get(label) == Some(&"leak"),
                    num(start).unwrap_or(0.0),
                    num(rate).unwrap_or(f64::NAN),
                ),
            );
        }
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            eprintln!("skipping {}: {e}", dir.display());
            return Vec::new();
        }
    };
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .filter(|p| p.file_name().is_some_and(|n| n != "labels.csv"))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            let by_name = name.starts_with("leak") || name.contains("-leaky");
            let (leak, start, rate) =
                labels
                    .get(&name)
                    .copied()
                    .unwrap_or((by_name, 0.0, f64::NAN));
            let mut t = load(p, leak, start)?;
            if leak {
                t.rate = rate;
            }
            Some(t)
        })
        .collect()
}

fn load(path: &Path, leak: bool, leak_start: f64) -> Option<Labeled> {
    match memwarden::trace::read(path, None) {
        Ok(series) => Some(Labeled {
            name: path.file_name()?.to_string_lossy().to_string(),
            group: "real".to_string(),
            points: series.points,
            leak,
            leak_start,
            rate: if leak { f64::NAN } else { 0.0 },
            detail: String::new(),
        }),
        Err(e) => {
            eprintln!("skipping {}: {e}", path.display());
            None
        }
    }
}
