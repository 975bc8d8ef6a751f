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
//!
//! The largest processes' rows (`process_samples`, written at most once a second) are folded
//! the same way, per process: after 10 minutes, each process keeps in each 1-minute bucket the
//! rows with its highest and lowest anonymous memory, its highest resident memory, thread and
//! descriptor counts, and its first row — at most 6 rows a minute instead of 60. Unfolded,
//! they were nine tenths of a day's database (BENCHMARKS.md §5).

use rusqlite::{params, Connection};

/// A folding tier: samples older than `age_s` go into buckets of `bucket_s`.
#[derive(Debug, Clone, Copy)]
struct Tier {
    age_s: f64,
    bucket_s: f64,
}

/// One table's folding: which rows a bucket keeps, per what, at which ages.
#[derive(Debug)]
struct Plan {
    table: &'static str,
    /// Extra grouping within a bucket (`, pid`: each process keeps its own extremes).
    per: &'static str,
    /// The aggregates whose row each bucket keeps.
    keepers: &'static [&'static str],
    tiers: &'static [Tier],
}

const PLANS: [Plan; 2] = [
    Plan {
        table: "samples",
        per: "",
        keepers: &[
            "MIN(t)",
            "MAX(anon)",
            "MIN(anon)",
            "MAX(rss)",
            "MAX(threads)",
            "MAX(fds)",
            "MAX(processes)",
            "MAX(cgroup)",
            "MIN(mem_available)",
        ],
        tiers: &[
            Tier {
                age_s: 600.0,
                bucket_s: 1.0,
            },
            Tier {
                age_s: 3600.0,
                bucket_s: 60.0,
            },
        ],
    },
    Plan {
        table: "process_samples",
        per: ", pid",
        keepers: &[
            "MIN(t)",
            "MAX(anon)",
            "MIN(anon)",
            "MAX(rss)",
            "MAX(threads)",
            "MAX(fds)",
        ],
        tiers: &[Tier {
            age_s: 600.0,
            bucket_s: 60.0,
        }],
    },
];

/// The most tiers a plan has.
const MAX_TIERS: usize = 2;
// A plan with more tiers than this would have its last ones skipped silently.
const _: () = {
    let mut i = 0;
    while i < PLANS.len() {
        assert!(PLANS[i].tiers.len() <= MAX_TIERS);
        i += 1;
    }
};

/// How much newer the latest sample must be before folding runs again.
const EVERY_S: f64 = 60.0;

/// Folds one run's old samples as the run goes on.
#[derive(Debug, Default)]
pub struct Folder {
    /// Per plan and tier, everything before this time is folded already.
    folded_until: [[f64; MAX_TIERS]; PLANS.len()],
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
        for (plan, folded) in PLANS.iter().zip(self.folded_until.iter_mut()) {
            for (tier, folded_until) in plan.tiers.iter().zip(folded.iter_mut()) {
                // Align the end to the bucket width so no bucket is folded in two halves.
                let until = ((now_s - tier.age_s) / tier.bucket_s).floor() * tier.bucket_s;
                if until > *folded_until {
                    fold_range(conn, plan, run_id, *folded_until, until, tier.bucket_s)?;
                    *folded_until = until;
                }
            }
        }
        Ok(())
    }
}

/// Keeps, in each bucket of `[from, until)` of `plan`'s table, only its extreme rows and its
/// first row (per process, for the process rows).
fn fold_range(
    conn: &Connection,
    plan: &Plan,
    run_id: i64,
    from: f64,
    until: f64,
    bucket_s: f64,
) -> rusqlite::Result<usize> {
    let Plan {
        table,
        per,
        keepers,
        ..
    } = plan;
    // SQLite returns the row that holds a MIN/MAX for the bare `rowid` beside it.
    let keeper = |agg: &str| {
        format!(
            "SELECT rowid FROM (SELECT rowid, {agg} FROM {table}
               WHERE run_id = ?1 AND t >= ?2 AND t < ?3 GROUP BY CAST(t / ?4 AS INTEGER){per})"
        )
    };
    let keepers: Vec<String> = keepers.iter().map(|a| keeper(a)).collect();
    let sql = format!(
        "DELETE FROM {table} WHERE run_id = ?1 AND t >= ?2 AND t < ?3 AND rowid NOT IN ({})",
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

    /// Folds as the writer would, once a minute from the start until `until` seconds.
    fn fold_every_minute(conn: &Connection, until: f64) {
        let mut folder = Folder::default();
        let mut t = 0.0;
        while t <= until {
            folder.maybe_fold(conn, 1, t).unwrap();
            t += 60.0;
        }
    }

    fn count(conn: &Connection, from_where: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {from_where}");
        conn.query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_day_at_one_second_keeps_its_extremes_in_few_rows() {
        let conn = store_with_samples(86_400, 1.0);
        let before = figures(&conn);
        fold_every_minute(&conn, 86_400.0);
        let after = figures(&conn);
        assert_eq!(
            (after.1, after.2, after.3),
            (before.1, before.2, before.3),
            "peak, floor and start kept"
        );
        assert!(after.0 < 20_000, "{} rows left of 86400", after.0);
        // The last ten minutes are untouched.
        assert_eq!(count(&conn, "samples WHERE t >= 86400 - 600"), 600);
    }

    #[test]
    fn hours_of_process_rows_keep_each_process_extremes_in_few_rows() {
        let mut conn = store_with_samples(0, 1.0);
        let tx = conn.transaction().unwrap();
        for i in 0..14_400_i64 {
            for pid in 0..4_i64 {
                // Each process saws with its own phase; process 3 has one spike.
                let anon = 1000 * pid + (i + pid) % 13 + i / 1000;
                let anon = anon + if pid == 3 && i == 4_000 { 77_777 } else { 0 };
                tx.execute(
                    "INSERT INTO process_samples (run_id, t, pid, rss, anon, swap, threads, fds)
                     VALUES (1, ?1, ?2, ?3, ?3, 0, 4, 9)",
                    params![i as f64, pid, anon],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
        let per_pid = |conn: &Connection| -> Vec<(i64, i64, i64, f64)> {
            let mut stmt = conn
                .prepare(
                    "SELECT MAX(anon), MIN(anon), COUNT(*), MIN(t) FROM process_samples
                     GROUP BY pid ORDER BY pid",
                )
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)));
            rows.unwrap().map(Result::unwrap).collect()
        };
        let before = per_pid(&conn);
        fold_every_minute(&conn, 14_400.0);
        let after = per_pid(&conn);
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(
                (a.0, a.1, a.3),
                (b.0, b.1, b.3),
                "peak, floor and start kept"
            );
            // 230 folded minutes at 6 rows at most, and the last ten minutes whole.
            assert!(a.2 <= 230 * 6 + 600, "{} rows left of 14400", a.2);
        }
        assert_eq!(count(&conn, "process_samples WHERE t >= 14400 - 600"), 2400);
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
