//! `--heap-export pprof FILE`: the sites as a pprof profile (gzipped protocol buffers, the
//! format of pprof's tools), with two values per stack: `alloc_space` (estimated bytes
//! allocated over the run) and `inuse_space` (estimated bytes live at the last snapshot, the
//! default view).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use prost::Message;

use super::profile::{CodeRef, Profile};

/// pprof's `Profile` message, the fields written here.
#[derive(Clone, PartialEq, Message)]
struct PprofProfile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    period: i64,
    #[prost(int64, tag = "14")]
    default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Mapping {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "5")]
    filename: i64,
    #[prost(bool, tag = "7")]
    has_functions: bool,
    #[prost(bool, tag = "8")]
    has_filenames: bool,
    #[prost(bool, tag = "9")]
    has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    has_inline_frames: bool,
}

#[derive(Clone, PartialEq, Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    mapping_id: u64,
    #[prost(uint64, tag = "3")]
    address: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
    #[prost(int64, tag = "2")]
    line: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
    #[prost(int64, tag = "3")]
    system_name: i64,
    #[prost(int64, tag = "4")]
    filename: i64,
}

/// Strings and ids, interned as pprof wants them (string 0 is the empty string; ids from 1).
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    functions: Vec<Function>,
    function_ids: HashMap<(i64, i64), u64>,
}

impl Tables {
    fn string(&mut self, s: &str) -> i64 {
        if self.strings.is_empty() {
            self.strings.push(String::new());
            self.string_ids.insert(String::new(), 0);
        }
        if let Some(&i) = self.string_ids.get(s) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), i);
        i
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (self.string(name), self.string(file));
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        self.functions.push(Function {
            id,
            name: key.0,
            system_name: key.0,
            filename: key.1,
        });
        self.function_ids.insert(key, id);
        id
    }
}

/// Builds the pprof profile of every site of `profile`.
fn build(profile: &mut Profile) -> PprofProfile {
    let mut t = Tables::default();
    let sample_type = vec![
        ValueType {
            r#type: t.string("alloc_space"),
            unit: t.string("bytes"),
        },
        ValueType {
            r#type: t.string("inuse_space"),
            unit: t.string("bytes"),
        },
    ];
    let mapping: Vec<Mapping> = profile
        .objects
        .iter()
        .enumerate()
        .map(|(i, p)| Mapping {
            id: i as u64 + 1,
            filename: t.string(&p.display().to_string()),
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        })
        .collect();
    let mut locations: Vec<Location> = Vec::new();
    let mut location_ids: HashMap<CodeRef, u64> = HashMap::new();
    let mut samples = Vec::new();
    for site in &profile.sites {
        let mut ids = Vec::with_capacity(site.stack.len());
        for r in site.inner.iter().chain(&site.stack) {
            let id = match location_ids.get(r) {
                Some(&id) => id,
                None => {
                    let line = profile
                        .namer
                        .frames(&profile.objects, *r)
                        .iter()
                        .map(|f| Line {
                            function_id: t.function(&f.name(), f.file.as_deref().unwrap_or("")),
                            line: i64::from(f.line.unwrap_or(0)),
                        })
                        .collect();
                    let id = locations.len() as u64 + 1;
                    locations.push(Location {
                        id,
                        mapping_id: if r.object == u32::MAX {
                            0
                        } else {
                            u64::from(r.object) + 1
                        },
                        address: r.address,
                        line,
                    });
                    location_ids.insert(*r, id);
                    id
                }
            };
            ids.push(id);
        }
        samples.push(Sample {
            location_id: ids,
            value: vec![
                site.allocated.round() as i64,
                site.last_live.max(0.0).round() as i64,
            ],
        });
    }
    let period_type = Some(ValueType {
        r#type: t.string("space"),
        unit: t.string("bytes"),
    });
    let default_sample_type = t.string("inuse_space");
    PprofProfile {
        sample_type,
        sample: samples,
        mapping,
        location: locations,
        function: t.functions,
        string_table: t.strings,
        period_type,
        period: profile.sample_bytes as i64,
        default_sample_type,
    }
}

/// Writes the profile of `profile`'s sites to `path`, gzipped.
pub fn write(profile: &mut Profile, path: &Path) -> Result<()> {
    let bytes = build(profile).encode_to_vec();
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(&bytes)
        .and_then(|()| gz.finish().map(drop))
        .with_context(|| format!("cannot write {}", path.display()))
}
