//! `compare` for runs with `--heap`: each leading call site's live bytes and growth before
//! and after, matched by function and place, as rows of the comparison table.

use super::report::{HeapReport, HeapSite};
use crate::report::compare::{Row, Value};

/// Sites compared: the leading ones of either run.
const SITES: usize = 5;

/// The rows for the sites of `before` and `after` (none unless both runs had `--heap`).
pub fn rows(before: Option<&HeapReport>, after: Option<&HeapReport>) -> Vec<Row> {
    let (Some(before), Some(after)) = (before, after) else {
        return Vec::new();
    };
    let same = |a: &HeapSite, b: &HeapSite| a.function == b.function && a.location == b.location;
    let mut sites: Vec<&HeapSite> = Vec::new();
    let leading = after
        .sites
        .iter()
        .take(SITES)
        .chain(before.sites.iter().take(SITES));
    for s in leading {
        if sites.len() < SITES && !sites.iter().any(|t| same(t, s)) {
            sites.push(s);
        }
    }
    let find = |r: &HeapReport, s: &HeapSite| r.sites.iter().find(|t| same(t, s)).cloned();
    let mut rows = Vec::new();
    for s in sites {
        let (b, a) = (find(before, s), find(after, s));
        let live = |x: &Option<HeapSite>| Value::Bytes(x.as_ref().map(|x| x.live_bytes as f64));
        let growth =
            |x: &Option<HeapSite>| Value::Rate(x.as_ref().map(|x| x.verdict.growth_bytes_per_s));
        rows.push(Row {
            key: "heap_site_live_bytes",
            name: format!("heap {}: live", s.function),
            before: live(&b),
            after: live(&a),
        });
        rows.push(Row {
            key: "heap_site_growth_bytes_per_s",
            name: format!("heap {}: growth", s.function),
            before: growth(&b),
            after: growth(&a),
        });
    }
    rows
}
