//! Opening the run database: for recording a run, for changing runs (`rm`, `prune`), and for
//! reading them (`ls`, `report`, `compare`) — the last one without writing anything, so a user
//! who may only read the file still can. Before SQLite touches a file, memwarden makes sure it
//! is its own: a path that is a link is followed only into a memwarden database, a file that is
//! not SQLite is refused, and another program's SQLite database is refused before any write.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::schema::{self, Identity, VERSION};
use super::Store;

/// How long an open waits for another writer's lock (a run committing a batch, a migration)
/// before it gives up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The first 16 bytes of every SQLite 3 database.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What is at the database's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Missing,
    /// A regular file (`link`: reached through a symbolic link) of `len` bytes.
    File {
        link: bool,
        len: u64,
    },
}

impl Store {
    /// Opens the database for recording, creating it (directory 0700, file 0600) if needed,
    /// and brings its schema up to date.
    pub fn create(path: &Path) -> Result<Store> {
        if inspect(path)? == Found::Missing {
            create_file(path)?;
        }
        Self::open_writable(path)?.ok_or_else(|| anyhow!("{} vanished", path.display()))
    }

    /// Opens an existing database for changing its runs; `None` when there is none.
    pub fn open_writable(path: &Path) -> Result<Option<Store>> {
        let Found::File { link, .. } = inspect(path)? else {
            return Ok(None);
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | nofollow(link);
        let mut conn = connect(path, flags)?;
        let identity = identify(path, &conn, link)?;
        schema::check(identity).map_err(|e| not_ours(path, &e))?;
        set_wal(&conn).map_err(|e| not_ours(path, &e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn).map_err(|e| not_ours(path, &e))?;
        Ok(Some(Store::new(conn, path)))
    }

    /// Opens an existing database for reading only (`ls`, `report`, `compare`); `None` when
    /// there is none yet. An empty file or an older schema is brought up to date when this
    /// user may write it, else an empty file reads as no runs.
    pub fn open_if_exists(path: &Path) -> Result<Option<Store>> {
        let Found::File { link, len } = inspect(path)? else {
            return Ok(None);
        };
        if len == 0 {
            return if may_write(path) {
                Self::open_writable(path)
            } else {
                Ok(None)
            };
        }
        let conn = read_only(path, link)?;
        match identify(path, &conn, link)? {
            Identity::Ours(VERSION) => Ok(Some(Store::new(conn, path))),
            Identity::Blank if !may_write(path) => Ok(None),
            Identity::Ours(v) if v < VERSION && !may_write(path) => bail!(
                "{} has schema {v} of an older memwarden, and this user may not write to it to \
                 bring it up to date (schema {VERSION}); record a run with it once as its owner",
                path.display()
            ),
            other => {
                schema::check(other).map_err(|e| not_ours(path, &e))?;
                drop(conn);
                Self::open_writable(path)
            }
        }
    }

    /// [`open_if_exists`](Store::open_if_exists), with a missing database an error.
    pub fn open_existing(path: &Path) -> Result<Store> {
        Self::open_if_exists(path)?.ok_or_else(|| {
            anyhow!(
                "no runs recorded yet: {} does not exist (record one with `memwarden run -- CMD`)",
                path.display()
            )
        })
    }
}

/// What is at `path`, refusing what memwarden must not open: a link to nothing (SQLite would
/// create the link's target), something that is not a regular file, a file that is not SQLite.
fn inspect(path: &Path) -> Result<Found> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        other => other.with_context(|| format!("cannot reach {}", path.display()))?,
    };
    let link = meta.file_type().is_symlink();
    let meta = if link {
        let target = std::fs::read_link(path).unwrap_or_default();
        match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} is a symbolic link to {}, which does not exist; memwarden does not create its \
                 database through a link (give the real path with --db)",
                path.display(),
                target.display()
            ),
            Err(e) => Err(e).with_context(|| format!("cannot follow {}", path.display()))?,
        }
    } else {
        meta
    };
    if !meta.is_file() {
        bail!(
            "{} is not a regular file, so not a memwarden database (choose another with --db)",
            path.display()
        );
    }
    if meta.len() > 0 {
        let mut head = [0u8; 16];
        let read = std::fs::File::open(path)
            .and_then(|f| f.take(16).read(&mut head))
            .with_context(|| format!("cannot read {}", path.display()))?;
        if &head[..] != SQLITE_MAGIC || read < 16 {
            bail!(
                "{} is not a memwarden database: it is not a SQLite file at all, and memwarden \
                 does not write into it (move it away or choose another with --db)",
                path.display()
            );
        }
    }
    Ok(Found::File {
        link,
        len: meta.len(),
    })
}

/// Creates the database file (and its directory), private from the first byte: SQLite gives
/// the -wal and -shm files the same permissions. Another memwarden creating it at the same
/// moment is fine; a link put in its place is not followed.
fn create_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match inspect(path)? {
            Found::File { .. } => Ok(()),
            Found::Missing => bail!("{} vanished while it was created", path.display()),
        },
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn nofollow(link: bool) -> OpenFlags {
    if link {
        OpenFlags::empty()
    } else {
        OpenFlags::SQLITE_OPEN_NOFOLLOW
    }
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| not_ours(path, &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A read-only connection. A database in WAL mode is read through its shared-memory file;
/// when this user can neither open nor create it (a directory it may not write) and no run is
/// writing (no -wal file), the file is read as it is on disk.
fn read_only(path: &Path, link: bool) -> Result<Connection> {
    let conn = connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY | nofollow(link))?;
    let readable = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    });
    match readable {
        Ok(_) => Ok(conn),
        Err(e) if cannot_open_wal(&e) && !wal_file(path).exists() => {
            drop(conn);
            let uri = format!("file:{}?immutable=1", uri_path(path));
            connect(
                Path::new(&uri),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | nofollow(link),
            )
        }
        Err(e) => Err(not_ours(path, &e)),
    }
}

fn cannot_open_wal(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied)
    )
}

fn wal_file(path: &Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

/// `path` escaped for a `file:` URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            _ => out.push(*b as char),
        }
    }
    out
}

/// What the database is, refusing a link that leads anywhere but to a memwarden database.
fn identify(path: &Path, conn: &Connection, link: bool) -> Result<Identity> {
    let identity = schema::identify(conn).map_err(|e| not_ours(path, &e))?;
    if link && !matches!(identity, Identity::Ours(_)) {
        bail!(
            "{} is a symbolic link to a file that is not a memwarden database; memwarden does \
             not follow it (give the real path with --db)",
            path.display()
        );
    }
    Ok(identity)
}

/// Switches the database to WAL, which lets `ls` read while runs write (NORMAL sync is safe
/// with WAL: a crash may lose the last batch, never corrupt the file). Only a database not yet
/// in WAL is written to, and a new one opened by several memwardens at once is retried.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                if Instant::now() >= deadline {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            other => {
                other?;
            }
        }
    }
}

/// Whether this user may write `path` (and so upgrade it).
fn may_write(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// An error opening or identifying the database, in words: a lock is not the file's fault.
fn not_ours(path: &Path, e: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    let sql = e.downcast_ref::<rusqlite::Error>().or_else(|| {
        match e.downcast_ref::<schema::MigrateError>() {
            Some(schema::MigrateError::Sql(sql)) => Some(sql),
            _ => None,
        }
    });
    match sql.and_then(rusqlite::Error::sqlite_error_code) {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => anyhow!(
            "{} is locked by another program ({e}); waited {}s",
            path.display(),
            BUSY_TIMEOUT.as_secs()
        ),
        _ => anyhow!(
            "{} is not a usable memwarden database: {e} (move it away or choose another with \
             --db)",
            path.display()
        ),
    }
}
