//! A leak of a real library's memory through its real binding, for the `run --heap` tests:
//! every 100 ms `keep_connections` opens in-memory SQLite databases through rusqlite, fills a
//! table in each and keeps the connections in a list that is never emptied, while
//! `query_and_close` does as much work and closes what it opened. SQLite allocates with
//! malloc, so the leak's stack runs through SQLite and rusqlite to `keep_connections`.
//!
//! ```text
//! cargo run -p memwarden-cli --example sqlite_leak -- SECONDS
//! ```

use std::time::{Duration, Instant};

use rusqlite::Connection;

/// One database with a table of `rows` rows of 200 bytes.
fn filled(rows: u32) -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")?;
    let mut insert = conn.prepare("INSERT INTO t (body) VALUES (?1)")?;
    for i in 0..rows {
        insert.execute([format!("{i:0>200}")])?;
    }
    drop(insert);
    Ok(conn)
}

/// The leak: connections kept for good.
#[inline(never)]
fn keep_connections(kept: &mut Vec<Connection>) -> rusqlite::Result<()> {
    for _ in 0..4 {
        kept.push(filled(100)?);
    }
    Ok(())
}

/// The churn: the same work, closed at once.
#[inline(never)]
fn query_and_close() -> rusqlite::Result<i64> {
    let mut total = 0;
    for _ in 0..8 {
        let conn = filled(100)?;
        total += conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?;
    }
    Ok(total)
}

fn main() -> rusqlite::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut kept = Vec::new();
    let mut rows = 0;
    while Instant::now() < end {
        keep_connections(&mut kept)?;
        rows += query_and_close()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("kept {} connections, queried {rows} rows", kept.len());
    Ok(())
}
