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
    // 3: who records the run — memwarden's own PID and its start time (clock ticks since boot,
    // as /proc/PID/stat gives it), so a run whose memwarden died is told from one in
    // progress — and the run's cgroup, so a later run can reclaim it.
    "ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN pid_start_ticks INTEGER;
    ALTER TABLE runs ADD COLUMN cgroup TEXT;",
    // 4: `run --heap`: the heap report's header, and its ranked call sites with their series.
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

/// `PRAGMA application_id` of a memwarden database ("MWDN"): it tells memwarden's files from
/// other programs' SQLite files. Databases of schema 1 and 2 were written before it was set.
pub const APPLICATION_ID: i32 = 0x4D57_444E;

/// What a SQLite file is, read without writing to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No tables yet and no owner: a new file memwarden may take.
    Blank,
    /// A memwarden database of this schema version.
    Ours(i64),
    /// Another program's database: its application id and tables.
    Foreign {
        /// `PRAGMA application_id`.
        application_id: i32,
        /// Its tables, comma-separated.
        tables: String,
    },
}

/// Tells what the database on `conn` is, reading only.
pub fn identify(conn: &Connection) -> rusqlite::Result<Identity> {
    // One statement, so one snapshot: another memwarden creating the schema at this moment
    // is seen either before or after, never half-way.
    let (application_id, version, tables): (i32, i64, String) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id()),
                (SELECT user_version FROM pragma_user_version()),
                (SELECT json_group_array(name) FROM
                    (SELECT name FROM sqlite_master
                     WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name))",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let tables: Vec<String> = serde_json::from_str(&tables).unwrap_or_default();
    let has = |t: &str| tables.iter().any(|n| n == t);
    Ok(match application_id {
        APPLICATION_ID => Identity::Ours(version),
        0 if version == 0 && tables.is_empty() => Identity::Blank,
        0 if (1..=2).contains(&version) && has("runs") && has("samples") => Identity::Ours(version),
        _ => Identity::Foreign {
            application_id,
            tables: listed(&tables),
        },
    })
}

/// Another program's table names for an error: a few, control characters escaped (a hostile
/// file's names must not reach the terminal raw).
fn listed(tables: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut out: Vec<String> = tables
        .iter()
        .take(SHOWN)
        .map(|t| t.chars().take(40).flat_map(char::escape_debug).collect())
        .collect();
    if tables.len() > SHOWN {
        out.push(format!("and {} more", tables.len() - SHOWN));
    }
    out.join(", ")
}

/// Brings a blank or memwarden database to [`VERSION`], refusing one written by a newer
/// memwarden or by another program. Safe when several memwardens open a new database at once:
/// the version is read again under a write lock taken before any change (`BEGIN IMMEDIATE`,
/// which waits for the others through the busy timeout), so the schema is created once.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    if check(identify(conn)?)? == VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = check(identify(&tx)?)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

/// The schema version of a database memwarden may write, or why it may not.
pub fn check(identity: Identity) -> Result<i64, MigrateError> {
    match identity {
        Identity::Blank => Ok(0),
        Identity::Ours(v) if v > VERSION => Err(MigrateError::Newer(v)),
        Identity::Ours(v) => Ok(v),
        Identity::Foreign {
            application_id,
            tables,
        } => Err(MigrateError::Foreign {
            application_id,
            tables,
        }),
    }
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The file has a schema from a later memwarden.
    #[error("it was written by a newer memwarden (schema {0}, this one knows up to {VERSION})")]
    Newer(i64),
    /// The file is another program's SQLite database.
    #[error(
        "it is another program's SQLite database (application id {application_id:#x}, tables: \
         {tables}), and memwarden does not write into it"
    )]
    Foreign {
        /// Its `PRAGMA application_id`.
        application_id: i32,
        /// Its tables.
        tables: String,
    },
    /// SQLite refused.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}
