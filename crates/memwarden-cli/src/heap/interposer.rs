//! The interposer this binary carries (built from crate `memwarden-heap` by build.rs), and
//! writing it where the loader can map it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The shared object's bytes.
static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libmemwarden_heap.so"));

/// Writes the interposer into `dir` (private to this user), readable and executable by its
/// owner only; returns its path.
pub fn write_to(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("libmemwarden_heap.so");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&path)
        .with_context(|| format!("cannot write the heap interposer to {}", path.display()))?;
    f.write_all(LIBRARY)
        .with_context(|| format!("cannot write the heap interposer to {}", path.display()))?;
    Ok(path)
}
