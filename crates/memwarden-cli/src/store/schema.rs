//! The database schema, versioned with `PRAGMA user_version` and migrated forward.

use rusqlite::Connection;

/// One entry per schema version: applying entry `i` takes a database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, samples, per-process samples, processes, events.
    "CREATE TABLE runs (
        id               INTEGER PRIMARY KEY,
        kind             TEXT NOT NULL,
        label            TEXT NOT NULL,
        command          TEXT NOT NULL,  -- JSON array
        host             TEXT NOT NULL,
        started_at       TEXT NOT NULL,  -- RFC 3339 UTC
        started_unix_ms  INTEGER NOT NULL,
        interval_s       REAL NOT NULL,
        mode             TEXT NOT NULL,
        metric           TEXT NOT NULL,
        mem_total_bytes  INTEGER NOT NULL,
        options          TEXT NOT NULL,  -- JSON object
        ended_unix_ms    INTEGER,
        duration_s       REAL,
        exit_code        INTEGER,
        exit_signal      INTEGER,
        stopped_by       TEXT,
        status           INTEGER,
        peak_bytes       INTEGER,
        verdict          TEXT            -- JSON, NULL until judged
    );
    CREATE INDEX runs_label ON runs(label);
    CREATE TABLE samples (
        run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        t             REAL NOT NULL,
        rss           INTEGER NOT NULL,
        anon          INTEGER NOT NULL,
        swap          INTEGER NOT NULL,
        pss           INTEGER,
        threads       INTEGER NOT NULL,
        fds           INTEGER NOT NULL,
        processes     INTEGER NOT NULL,
        cgroup        INTEGER,
        mem_available INTEGER NOT NULL,
        psi_some      REAL,
        psi_full      REAL
    );
    CREATE INDEX samples_run ON samples(run_id, t);
    CREATE TABLE process_samples (
        run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        t        REAL NOT NULL,
        pid      INTEGER NOT NULL,
        rss      INTEGER NOT NULL,
        anon     INTEGER NOT NULL,
        swap     INTEGER NOT NULL,
        threads  INTEGER NOT NULL,
        fds      INTEGER
    );
    CREATE INDEX process_samples_run ON process_samples(run_id, t);
    CREATE TABLE processes (
        run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        pid           INTEGER NOT NULL,
        start_ticks   INTEGER NOT NULL,
        ppid          INTEGER NOT NULL,
        command       TEXT NOT NULL,
        first_seen_s  REAL NOT NULL,
        last_seen_s   REAL NOT NULL,
        first_anon    INTEGER NOT NULL,
        last_anon     INTEGER NOT NULL,
        peak_anon     INTEGER NOT NULL,
        peak_at_s     REAL NOT NULL,
        peak_rss      INTEGER NOT NULL,
        peak_threads  INTEGER NOT NULL,
        peak_fds      INTEGER NOT NULL,
        exited        INTEGER NOT NULL,
        PRIMARY KEY (run_id, pid, start_ticks)
    );
    CREATE TABLE events (
        run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        at_s    REAL NOT NULL,
        kind    TEXT NOT NULL,
        detail  TEXT NOT NULL
    );
    CREATE INDEX events_run ON events(run_id, at_s);",
    // 2: the number of samples taken, kept apart from the rows left after folding.
    "ALTER TABLE runs ADD COLUMN samples INTEGER;",
    // 3: `run --heap`: the heap report's header, and its ranked call sites with their series.
    "ALTER TABLE runs ADD COLUMN heap TEXT;  -- JSON: the heap report without its sites
    CREATE TABLE heap_sites (
        run_id             INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        rank               INTEGER NOT NULL,
        function           TEXT NOT NULL,
        location           TEXT,
        live_bytes         INTEGER NOT NULL,
        allocated_bytes    INTEGER NOT NULL,
        growth_bytes_per_s REAL NOT NULL,
        verdict            TEXT NOT NULL,
        site               TEXT NOT NULL,  -- JSON: the whole site, its frames and series
        PRIMARY KEY (run_id, rank)
    );",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`], refusing one written by a newer memwarden.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > VERSION {
        return Err(MigrateError::Newer(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The file has a schema from a later memwarden.
    #[error("it was written by a newer memwarden (schema {0}, this one knows up to {VERSION})")]
    Newer(i64),
    /// SQLite refused.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}
