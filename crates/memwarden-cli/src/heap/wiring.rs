//! `run --heap` in the run's path: a session started before the command, its report added to
//! the run's outcome and store once the tree has ended.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{HeapOptions, HeapSession};
use crate::cli::HeapArgs;
use crate::options::{SessionOptions, UsageError};
use crate::store::Store;
use crate::supervise::Outcome;

/// The heap options of `args`, `None` without `--heap`; a bad `--heap-export` is a usage error.
pub fn options(args: &HeapArgs, opts: &SessionOptions) -> Result<Option<HeapOptions>, UsageError> {
    if !args.heap {
        return Ok(None);
    }
    let pprof = match args.heap_export.as_deref() {
        None => None,
        Some([format, file]) if format == "pprof" => Some(PathBuf::from(file)),
        Some([format, _]) => {
            return Err(UsageError(format!(
                "--heap-export: unknown format '{}' (accepted: pprof)",
                format.to_string_lossy()
            )))
        }
        Some(_) => {
            return Err(UsageError(
                "--heap-export takes FORMAT FILE, e.g. `--heap-export pprof heap.pb.gz`".into(),
            ))
        }
    };
    Ok(Some(HeapOptions {
        sample_bytes: args.heap_sample,
        interval: opts.interval,
        detector: opts.detector.clone(),
        pprof,
    }))
}

/// Starts the session for `argv` when asked; returns it with the environment for the child.
pub fn start(heap: Option<&HeapOptions>, argv: &[OsString]) -> Result<Option<HeapSession>> {
    let Some(heap) = heap else {
        return Ok(None);
    };
    let program = argv.first().map_or(Path::new(""), Path::new);
    HeapSession::prepare(heap, program).map(Some)
}

/// Adds the session's report to the run's report and its store row. The heap never costs
/// the run its outcome: a failure to store it is said, not returned.
pub fn conclude(
    session: Option<HeapSession>,
    outcome: Result<Outcome>,
    db: &Path,
) -> Result<Outcome> {
    let mut outcome = outcome?;
    let Some(session) = session else {
        return Ok(outcome);
    };
    let heap = session.finish();
    if let (Some(id), Some(_)) = (outcome.report.run_id, outcome.stored_in.as_ref()) {
        if let Err(e) = Store::create(db).and_then(|mut s| heap.save(&mut s, id)) {
            eprintln!("memwarden: the heap call sites were not recorded: {e:#}");
        }
    }
    outcome.report.heap = Some(heap);
    Ok(outcome)
}
