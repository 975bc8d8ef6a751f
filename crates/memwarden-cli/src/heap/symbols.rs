//! Call sites in words: blazesym turns each return address (a place in a file) into
//! function, file and line, inlined calls included, reading the files from disk in
//! memwarden's receiver, so the watched processes do none of this work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{CodeInfo, Input, Symbolized, Symbolizer};
use serde::Serialize;

use super::profile::CodeRef;

/// One frame of a call stack, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    /// Function name, demangled; `None` when the file has no symbol there.
    pub function: Option<String>,
    /// Source file, when the file has debug information.
    pub file: Option<String>,
    /// Line in `file`.
    pub line: Option<u32>,
    /// The object file (program or library) the code is in.
    pub object: String,
    /// Address in that file.
    pub address: u64,
}

impl Frame {
    /// The function's name, or `object+0xaddress` when the file has no symbol there.
    pub fn name(&self) -> String {
        self.function
            .clone()
            .unwrap_or_else(|| format!("{}+{:#x}", short(&self.object), self.address))
    }

    /// Whether this frame is allocator or runtime plumbing rather than the code that asked
    /// for memory: the C and C++ runtimes, and Rust's standard library (its sources are under
    /// `/rustc/`; its generic code is named `alloc::…`, `<T as core::…>`…).
    pub fn is_plumbing(&self) -> bool {
        const LIBRARIES: [&str; 5] = [
            "libc.so",
            "libstdc++.so",
            "libgcc_s.so",
            "ld-linux",
            "libmemwarden_heap",
        ];
        const CRATES: [&str; 4] = ["alloc::", "core::", "std::", "hashbrown::"];
        const SYMBOLS: [&str; 5] = ["__rust", "__rdl", "__rg_", "operator new", "malloc"];
        let object = short(&self.object);
        let std_source = self
            .file
            .as_deref()
            .is_some_and(|f| f.starts_with("/rustc/"));
        let std_name = self.function.as_deref().is_some_and(|f| {
            let f = f.trim_start_matches('<');
            CRATES
                .iter()
                .any(|c| f.starts_with(c) || f.contains(&format!(" as {c}")))
                || SYMBOLS.iter().any(|s| f.starts_with(s))
        });
        LIBRARIES.iter().any(|l| object.starts_with(l)) || std_source || std_name
    }
}

impl Frame {
    /// Whether this frame is the program's own code: not plumbing, not in a library of the
    /// system (`/lib`, `/usr/lib`), not in a dependency's sources (cargo's registry). The
    /// site is named after the first such frame: a leak inside SQLite called from `f` is
    /// `f`'s leak.
    pub fn is_own_code(&self) -> bool {
        const DEPENDENCIES: [&str; 3] = ["/.cargo/registry/", "/.cargo/git/", "/usr/include/"];
        !self.is_plumbing()
            && !is_system_object(Path::new(&self.object))
            && !self
                .file
                .as_deref()
                .is_some_and(|f| DEPENDENCIES.iter().any(|d| f.contains(d)))
    }
}

/// Whether `path` is a library or program of the system (`/lib`, `/usr/lib`): never the
/// program's own code, whatever is found at an address in it.
pub fn is_system_object(path: &Path) -> bool {
    const SYSTEM: [&str; 4] = ["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"];
    let path = path.as_os_str().as_encoded_bytes();
    SYSTEM.iter().any(|s| path.starts_with(s.as_bytes()))
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Most addresses kept named: bounds memwarden's memory on programs with huge code.
const MAX_KNOWN: usize = 64 * 1024;

/// Names code: blazesym over the object files, each address looked up once and kept.
pub struct Namer {
    symbolizer: Symbolizer,
    known: HashMap<CodeRef, Vec<Frame>>,
}

impl Default for Namer {
    fn default() -> Self {
        Namer {
            symbolizer: Symbolizer::builder()
                .enable_code_info(true)
                .enable_inlined_fns(true)
                .enable_demangling(true)
                .build(),
            known: HashMap::new(),
        }
    }
}

impl Namer {
    /// The frames at `r` (several when calls were inlined there), innermost first; `objects`
    /// are the files [`CodeRef::object`] indexes.
    pub fn frames(&mut self, objects: &[PathBuf], r: CodeRef) -> &[Frame] {
        if !self.known.contains_key(&r) {
            if self.known.len() >= MAX_KNOWN {
                // A cache: what is forgotten is looked up again.
                self.known.clear();
            }
            let frames = self.look_up(objects, r);
            self.known.insert(r, frames);
        }
        &self.known[&r]
    }

    /// The frames of a whole stack.
    pub fn stack(&mut self, objects: &[PathBuf], stack: &[CodeRef]) -> Vec<Frame> {
        stack
            .iter()
            .flat_map(|&r| self.frames(objects, r).to_vec())
            .collect()
    }

    fn look_up(&self, objects: &[PathBuf], r: CodeRef) -> Vec<Frame> {
        let path = objects.get(r.object as usize);
        let object = path.map_or_else(|| "?".to_string(), |p| p.display().to_string());
        let frame = |function: Option<String>, code: Option<&CodeInfo>| Frame {
            function,
            file: code.map(|c| c.to_path().display().to_string()),
            line: code.and_then(|c| c.line),
            object: object.clone(),
            address: r.address,
        };
        let sym = path.and_then(|p| {
            let mut elf = Elf::new(p);
            // A system library's debug information is a separate file (Debian's `-dbg`
            // packages), compressed and checksummed: reading libc's was most of the
            // receiver's CPU in a 10 s run. Its frames are never the program's own code, so
            // they are named from its symbol table, without file and line.
            elf.debug_syms = !is_system_object(p);
            let src = Source::Elf(elf);
            let found = self
                .symbolizer
                .symbolize_single(&src, Input::VirtOffset(r.address));
            match found {
                Ok(Symbolized::Sym(sym)) => Some(sym),
                _ => None,
            }
        });
        let Some(sym) = sym else {
            return vec![frame(None, None)];
        };
        // Innermost first: the inlined calls, deepest first, then the function itself (whose
        // location, with inlined calls, is where the outermost of them was called).
        let mut frames: Vec<Frame> = sym
            .inlined
            .iter()
            .rev()
            .map(|f| frame(Some(f.name.to_string()), f.code_info.as_ref()))
            .collect();
        frames.push(frame(Some(sym.name.to_string()), sym.code_info.as_deref()));
        frames
    }
}
