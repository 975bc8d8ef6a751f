//! Call sites in words: blazesym turns each return address (a place in a file) into
//! function, file and line, inlined calls included, reading the files from disk after the
//! fact, so the watched processes do none of this work.

use std::collections::HashMap;

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
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
    /// for memory: the C and C++ runtimes, and Rust's `alloc`, `core`, `std` and the hash
    /// tables behind them.
    pub fn is_plumbing(&self) -> bool {
        const LIBRARIES: [&str; 5] = [
            "libc.so",
            "libstdc++.so",
            "libgcc_s.so",
            "ld-linux",
            "libmemwarden_heap",
        ];
        const PREFIXES: [&str; 12] = [
            "alloc::",
            "<alloc::",
            "core::",
            "<core::",
            "std::",
            "<std::",
            "hashbrown::",
            "<hashbrown::",
            "__rust",
            "__rdl",
            "__rg_",
            "operator new",
        ];
        let object = short(&self.object);
        LIBRARIES.iter().any(|l| object.starts_with(l))
            || self
                .function
                .as_deref()
                .is_some_and(|f| PREFIXES.iter().any(|p| f.starts_with(p)))
    }
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Symbolizes stacks, one lookup per distinct address, one batch per object file.
pub fn symbolize(
    objects: &[std::path::PathBuf],
    stacks: &[&[CodeRef]],
) -> HashMap<CodeRef, Vec<Frame>> {
    let mut by_object: HashMap<u32, Vec<u64>> = HashMap::new();
    for r in stacks.iter().flat_map(|s| s.iter()) {
        by_object.entry(r.object).or_default().push(r.address);
    }
    let symbolizer = Symbolizer::builder()
        .enable_code_info(true)
        .enable_inlined_fns(true)
        .enable_demangling(true)
        .build();
    let mut out = HashMap::new();
    for (object, mut addresses) in by_object {
        addresses.sort_unstable();
        addresses.dedup();
        let path = objects.get(object as usize);
        let name = path.map_or_else(|| "?".to_string(), |p| p.display().to_string());
        let syms = path.and_then(|p| {
            let src = Source::Elf(Elf::new(p));
            symbolizer
                .symbolize(&src, Input::VirtOffset(&addresses))
                .ok()
        });
        for (i, &address) in addresses.iter().enumerate() {
            let unknown = || {
                vec![Frame {
                    function: None,
                    file: None,
                    line: None,
                    object: name.clone(),
                    address,
                }]
            };
            let frames = match syms.as_ref().and_then(|s| s.get(i)) {
                Some(Symbolized::Sym(sym)) => {
                    let code = |c: Option<&blazesym::symbolize::CodeInfo>| {
                        c.map_or((None, None), |c| {
                            (Some(c.to_path().display().to_string()), c.line)
                        })
                    };
                    // Innermost first: the inlined calls, deepest first, then the function.
                    let mut frames: Vec<Frame> = sym
                        .inlined
                        .iter()
                        .rev()
                        .map(|f| {
                            let (file, line) = code(f.code_info.as_ref());
                            Frame {
                                function: Some(f.name.to_string()),
                                file,
                                line,
                                object: name.clone(),
                                address,
                            }
                        })
                        .collect();
                    // With inlined calls, the function's own location is where the outermost
                    // of them was called.
                    let (file, line) = code(sym.code_info.as_deref());
                    frames.push(Frame {
                        function: Some(sym.name.to_string()),
                        file,
                        line,
                        object: name.clone(),
                        address,
                    });
                    frames
                }
                _ => unknown(),
            };
            out.insert(CodeRef { object, address }, frames);
        }
    }
    out
}
