//! Where `--heap` cannot see, told before the run: the loader ignores `LD_PRELOAD` for
//! setuid programs and has nothing to preload into for static ones; Go's allocator and
//! programs linking their own malloc (jemalloc, mimalloc, tcmalloc) never call glibc's.
//! Only the command itself is checked; the tree's other programs are covered or not alike.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use blazesym::inspect::source::{Elf, Source};
use blazesym::inspect::Inspector;

/// Allocators that replace malloc, by a symbol each defines.
const OWN_ALLOCATORS: [(&str, &str); 5] = [
    ("_rjem_malloc", "jemalloc (tikv-jemallocator)"),
    ("je_mallctl", "jemalloc"),
    ("mi_malloc", "mimalloc"),
    ("tc_malloc", "tcmalloc"),
    ("runtime.mallocgc", "Go's runtime"),
];

/// Notes on what keeps attribution from working for `program` (empty when nothing does).
pub fn check(program: &Path) -> Vec<String> {
    let Some(path) = resolve(program) else {
        return Vec::new();
    };
    let shown = path.display();
    let mut notes = Vec::new();
    let Ok(meta) = std::fs::metadata(&path) else {
        return notes;
    };
    // The loader ignores LD_PRELOAD only when the program changes its identity (a setuid
    // program run by another user than its owner).
    // SAFETY: geteuid and getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mode = meta.permissions().mode();
    let setuid = mode & 0o4000 != 0 && meta.uid() != euid;
    let setgid = mode & 0o2000 != 0 && meta.gid() != egid;
    if setuid || setgid {
        notes.push(format!(
            "{shown} is setuid or setgid: the loader ignores LD_PRELOAD for it, so its allocations are not attributed"
        ));
    }
    match interpreter(&path) {
        Some(false) => notes.push(format!(
            "{shown} is statically linked: nothing can be preloaded into it, so its allocations are not attributed"
        )),
        None => return notes,
        Some(true) => {}
    }
    let names: Vec<&str> = OWN_ALLOCATORS.iter().map(|(s, _)| *s).collect();
    let inspector = Inspector::new();
    let found = inspector
        .lookup(&Source::Elf(Elf::new(&path)), &names)
        .unwrap_or_default();
    let own = OWN_ALLOCATORS
        .iter()
        .zip(&found)
        .find(|(_, f)| !f.is_empty());
    if let Some(((_, which), _)) = own {
        let advice = if which.starts_with("Go") {
            "only cgo's malloc calls are attributed; Go's own heap profile (pprof) covers the rest"
        } else if which.starts_with("jemalloc") {
            "its allocations are not attributed; jemalloc's own profiler (MALLOC_CONF=prof:true, read through mallctl) can be"
        } else {
            "its allocations are not attributed"
        };
        notes.push(format!(
            "{shown} allocates with {which}, not malloc: {advice}"
        ));
    }
    notes
}

/// The file `program` runs: itself when it names a path, else the first match on `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether the ELF file at `path` names a program interpreter (is dynamically linked);
/// `None` when it is not a 64-bit little-endian ELF file (a script, say).
fn interpreter(path: &Path) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let bytes = read_head(path)?;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |i: usize| Some(u16::from_le_bytes(bytes.get(i..i + 2)?.try_into().ok()?));
    let u64_at = |i: usize| Some(u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let (size, count) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    let mut dynamic = false;
    for i in 0..count {
        let at = phoff + i * size;
        dynamic |= u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) == PT_INTERP;
    }
    Some(dynamic)
}

/// The first 64 KiB of the file: the ELF header and program headers are there.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}
