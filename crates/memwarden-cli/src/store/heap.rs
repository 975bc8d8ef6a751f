//! A run's heap call sites (`run --heap`) in the store: the report's header on the run's row
//! (JSON), one row per ranked site with the figures `compare` and queries read, and the whole
//! site (frames, live-bytes series) as JSON beside them.

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension};

use super::Store;

/// One ranked site as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSite {
    /// 1 for the first.
    pub rank: usize,
    /// The function that asked for the memory.
    pub function: String,
    /// Its `file:line`, when known.
    pub location: Option<String>,
    /// Estimated live bytes at the end.
    pub live_bytes: u64,
    /// Estimated bytes allocated over the run.
    pub allocated_bytes: u64,
    /// Growth of its live bytes' floor.
    pub growth_bytes_per_s: f64,
    /// Its verdict's kind.
    pub verdict: String,
    /// The whole site, JSON.
    pub json: String,
}

impl Store {
    /// Records the heap report of run `id` (once, when the run has ended): its header as JSON
    /// and its sites.
    pub fn save_heap(&mut self, id: i64, header: &str, sites: &[StoredSite]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE runs SET heap = ?2 WHERE id = ?1",
            params![id, header],
        )?;
        for s in sites {
            tx.execute(
                "INSERT OR REPLACE INTO heap_sites (run_id, rank, function, location, live_bytes,
                     allocated_bytes, growth_bytes_per_s, verdict, site)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    s.rank as i64,
                    s.function,
                    s.location,
                    s.live_bytes as i64,
                    s.allocated_bytes as i64,
                    s.growth_bytes_per_s,
                    s.verdict,
                    s.json,
                ],
            )?;
        }
        tx.commit().context("cannot record the heap call sites")
    }

    /// The heap report of run `id` as stored, header and sites (JSON, by rank); `None` when
    /// the run was not run with `--heap`.
    pub fn heap(&self, id: i64) -> Result<Option<(String, Vec<String>)>> {
        let header: Option<String> = self
            .conn
            .query_row("SELECT heap FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(header) = header else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare("SELECT site FROM heap_sites WHERE run_id = ?1 ORDER BY rank")?;
        let sites = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(Some((header, sites)))
    }
}
