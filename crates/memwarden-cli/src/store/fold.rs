//! Retention: a long run stays small. Samples older than a tier's age are folded into time
//! buckets, and a bucket keeps only the rows that carry one of its extremes — the highest
//! anonymous, resident, thread, descriptor, process and cgroup figures, the lowest anonymous
//! memory (the floor a leak verdict is judged by), the lowest available memory — and its first
//! row. Peaks, floors and the run's shape survive exactly; every remaining row is a real sample.
//!
//! | age          | bucket | rows per bucket (at most) |
//! |--------------|--------|---------------------------|
//! | < 10 min     | none   | every sample              |
//! | 10 min – 1 h | 1 s    | 9                         |
//! | > 1 h        | 1 min  | 9                         |

use rusqlite::{params, Connection};

/// A folding tier: samples older than `age_s` go into buckets of `bucket_s`.
#[derive(Debug, Clone, Copy)]
struct Tier {
    age_s: f64,
    bucket_s: f64,
}

const TIERS: [Tier; 2] = [
    Tier {
        age_s: 600.0,
        bucket_s: 1.0,
    },
    Tier {
        age_s: 3600.0,
        bucket_s: 60.0,
    },
];

/// How much newer the latest sample must be before folding runs again.
const EVERY_S: f64 = 60.0;

/// Folds one run's old samples as the run goes on.
#[derive(Debug, Default)]
pub struct Folder {
    /// Per tier, everything before this time is folded already.
    folded_until: [f64; TIERS.len()],
    last_run_at: Option<f64>,
}

impl Folder {
    /// Folds what has become old enough, given the latest sample time `now_s`.
    pub fn maybe_fold(
        &mut self,
        conn: &Connection,
        run_id: i64,
        now_s: f64,
    ) -> rusqlite::Result<()> {
        if self.last_run_at.is_some_and(|t| now_s - t < EVERY_S) {
            return Ok(());
        }
        self.last_run_at = Some(now_s);
        for (i, tier) in TIERS.iter().enumerate() {
            // Align the end to the bucket width so no bucket is folded in two halves.
            let until = ((now_s - tier.age_s) / tier.bucket_s).floor() * tier.bucket_s;
            if until > self.folded_until[i] {
                fold_range(conn, run_id, self.folded_until[i], until, tier.bucket_s)?;
                self.folded_until[i] = until;
            }
        }
        Ok(())
    }
}

/// Keeps, in each bucket of `[from, until)`, only its extreme rows and its first row.
fn fold_range(
    conn: &Connection,
    run_id: i64,
    from: f64,
    until: f64,
    bucket_s: f64,
) -> rusqlite::Result<usize> {
    // SQLite returns the row that holds a MIN/MAX for the bare `rowid` beside it.
    let keeper = |agg: &str| {
        format!(
            "SELECT rowid FROM (SELECT rowid, {agg} FROM samples
               WHERE run_id = ?1 AND t >= ?2 AND t < ?3 GROUP BY CAST(t / ?4 AS INTEGER))"
        )
    };
    let keepers: Vec<String> = [
        "MIN(t)",
        "MAX(anon)",
        "MIN(anon)",
        "MAX(rss)",
        "MAX(threads)",
        "MAX(fds)",
        "MAX(processes)",
        "MAX(cgroup)",
        "MIN(mem_available)",
    ]
    .iter()
    .map(|a| keeper(a))
    .collect();
    let sql = format!(
        "DELETE FROM samples WHERE run_id = ?1 AND t >= ?2 AND t < ?3 AND rowid NOT IN ({})",
        keepers.join(" UNION ")
    );
    conn.execute(&sql, params![run_id, from, until, bucket_s])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_samples(n: usize, interval: f64) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO runs (id, kind, label, command, host, started_at, started_unix_ms, interval_s,
                               mode, metric, mem_total_bytes, options)
             VALUES (1, 'run', 'l', '[]', 'h', 'x', 0, 1, 'process-tree', 'anon', 0, '{}')",
            [],
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..n {
            let t = i as f64 * interval;
            // A sawtooth with a slowly rising floor, and one spike.
            let anon = 1000
                + (i % 17) as i64 * 10
                + (i / 100) as i64
                + if i == 12_345 { 99_999 } else { 0 };
            tx.execute(
                "INSERT INTO samples (run_id, t, rss, anon, swap, threads, fds, processes, mem_available)
                 VALUES (1, ?1, ?2, ?2, 0, 4, 9, 1, 5000)",
                params![t, anon],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        conn
    }

    fn figures(conn: &Connection) -> (i64, i64, i64, f64) {
        conn.query_row(
            "SELECT COUNT(*), MAX(anon), MIN(anon), MIN(t) FROM samples",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    #[test]
    fn a_day_at_one_second_keeps_its_extremes_in_few_rows() {
        let conn = store_with_samples(86_400, 1.0);
        let before = figures(&conn);
        let mut folder = Folder::default();
        let mut t = 0.0;
        while t <= 86_400.0 {
            folder.maybe_fold(&conn, 1, t).unwrap();
            t += 60.0;
        }
        let after = figures(&conn);
        assert_eq!(
            (after.1, after.2, after.3),
            (before.1, before.2, before.3),
            "peak, floor and start kept"
        );
        assert!(after.0 < 20_000, "{} rows left of 86400", after.0);
        // The last ten minutes are untouched.
        let recent: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM samples WHERE t >= 86400 - 600",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(recent, 600);
    }

    #[test]
    fn folding_twice_changes_nothing() {
        let conn = store_with_samples(20_000, 0.5);
        let mut a = Folder::default();
        a.maybe_fold(&conn, 1, 10_000.0).unwrap();
        let once = figures(&conn);
        let mut b = Folder::default();
        b.maybe_fold(&conn, 1, 10_000.0).unwrap();
        assert_eq!(figures(&conn), once);
    }
}
