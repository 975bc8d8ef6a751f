//! The `memwarden` command: parse, validate, supervise or read the store, report, exit.

mod analyze;
mod cli;
mod exit;
mod judge;
mod options;
mod record;
mod report;
mod runs;
mod sink;
mod store;
mod supervise;
mod top;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{AnalyzeFormat, Cli, Command, CompareFormat, ReportFormat};
use options::SessionOptions;
use report::{RenderComparison, RenderRun};
use store::Store;

fn main() -> ExitCode {
    // MEMWARDEN_DB= set but empty means unset (clap would take it for a missing value). Nothing
    // else runs yet, so changing the environment races with no thread.
    if std::env::var_os("MEMWARDEN_DB").is_some_and(|v| v.is_empty()) {
        std::env::remove_var("MEMWARDEN_DB");
    }
    let cli = Cli::parse();
    let db = cli.db.as_deref();
    let result = match &cli.command {
        Command::Run(args) => SessionOptions::new(&args.sampling, db).and_then(|opts| {
            let gates = supervise::Gates {
                fail_on_leak: args.fail_on_leak,
                max_growth: args.max_growth,
            };
            let afterwards = supervise::Afterwards {
                wait_tree: args.wait == cli::WaitFor::Tree,
                keep_leftovers: args.keep_leftovers,
            };
            finish_session(
                &opts,
                supervise::run(&opts, &gates, afterwards, &args.command),
            )
        }),
        Command::Watch(args) => SessionOptions::new(&args.sampling, db).and_then(|opts| {
            finish_session(&opts, supervise::watch(&opts, &args.pids, args.duration))
        }),
        Command::Analyze(args) => analyze(args),
        Command::Ls(args) => runs::ls(db, args).and_then(print),
        Command::Rm(args) => runs::rm(db, args).and_then(print),
        Command::Prune(args) => runs::prune(db, args).and_then(print),
        Command::Report(args) => report(db, args),
        Command::Compare(args) => compare(db, args),
        Command::Top(args) => top::run(args, db),
        Command::Rules(args) => {
            use sink::metrics::rules::{RULES, RULE_TESTS};
            write_text(None, if args.tests { RULE_TESTS } else { RULES }).map(|()| exit::OK)
        }
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("memwarden: {e:#}");
            let usage = e.downcast_ref::<options::UsageError>().is_some();
            ExitCode::from(match (&cli.command, usage) {
                (_, true) => exit::USAGE,
                (Command::Run(_) | Command::Watch(_) | Command::Top(_), false) => exit::INTERNAL,
                _ => exit::FAILURE,
            })
        }
    }
}

/// Prints the summary and writes `--json`; neither can change the command's exit status.
/// A failed gate is said even with `-q`.
fn finish_session(opts: &SessionOptions, outcome: Result<supervise::Outcome>) -> Result<u8> {
    let outcome = outcome?;
    if let Some(gate) = &outcome.gate {
        eprintln!(
            "memwarden: gate failed: {}",
            report::text::shorten(gate, 300)
        );
    }
    if outcome.report.samples > 0 && !opts.quiet {
        eprint!(
            "{}",
            report::text::summary(&outcome.report, outcome.stored_in.as_deref())
        );
    }
    if let Some(path) = &opts.json {
        if let Err(e) = write_text(Some(path), &report::json(&outcome.report)) {
            eprintln!("memwarden: cannot write the JSON report: {e:#}");
        }
    }
    Ok(outcome.status)
}

fn analyze(args: &cli::AnalyzeArgs) -> Result<u8> {
    let config = options::detector_config(&args.detect);
    let results = analyze::run(&args.files, args.column.as_deref(), &config);
    let mut status = exit::OK;
    let mut reports = Vec::new();
    for result in results {
        match result {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("memwarden: {e:#}");
                status = exit::FAILURE;
            }
        }
    }
    let text = match args.format {
        AnalyzeFormat::Text => reports
            .iter()
            .map(analyze::text)
            .collect::<Vec<_>>()
            .join("\n"),
        AnalyzeFormat::Json if reports.len() == 1 && args.files.len() == 1 => {
            format!("{}\n", serde_json::to_string_pretty(&reports[0])?)
        }
        AnalyzeFormat::Json => format!("{}\n", serde_json::to_string_pretty(&reports)?),
    };
    write_text(None, &text)?;
    if status == exit::OK && args.fail_on_leak && reports.iter().any(|r| r.verdict.leaks()) {
        status = exit::GATE_FAILED;
    }
    Ok(status)
}

/// Writes a command's text to stdout: it succeeded.
fn print(text: String) -> Result<u8> {
    write_text(None, &text)?;
    Ok(exit::OK)
}

fn report(db: Option<&Path>, args: &cli::ReportArgs) -> Result<u8> {
    let store = Store::open_existing(&store::path_or_default(db)?)?;
    let row = store.resolve(args.run.as_deref())?;
    let run = report::open(&store, &row, report::COLUMNS)?;
    let format: Box<dyn RenderRun> = match args.format {
        ReportFormat::Text => Box::new(report::text::Text::for_terminal(
            is_stdout(args.output.as_deref()) && std::io::stdout().is_terminal(),
        )),
        ReportFormat::Json => Box::new(report::json::Json),
        ReportFormat::Csv => Box::new(report::csv::Csv),
        ReportFormat::Html => Box::new(report::html::Html),
    };
    write_with(args.output.as_deref(), |out| format.render(&run, out))?;
    Ok(exit::OK)
}

fn compare(db: Option<&Path>, args: &cli::CompareArgs) -> Result<u8> {
    let store = Store::open_existing(&store::path_or_default(db)?)?;
    let before = report::load(&store, &store.resolve(Some(&args.before))?)?;
    let after = report::load(&store, &store.resolve(Some(&args.after))?)?;
    let comparison = report::compare::Comparison::new(&before, &after);
    let format: Box<dyn RenderComparison> = match args.format {
        CompareFormat::Markdown => Box::new(report::markdown::Markdown),
        CompareFormat::Text => Box::new(report::text::Text::for_terminal(
            is_stdout(args.output.as_deref()) && std::io::stdout().is_terminal(),
        )),
        CompareFormat::Json => Box::new(report::json::Json),
    };
    write_with(args.output.as_deref(), |out| {
        format.render(&comparison, out)
    })?;
    let Some(pct) = args.fail_if_worse else {
        return Ok(exit::OK);
    };
    let worse = comparison.worse_than(pct);
    for w in &worse {
        eprintln!("memwarden: {w}");
    }
    if let Some(note) = comparison.growth_not_compared() {
        eprintln!("memwarden: {note}");
    }
    // Status 1, as for any failed non-`run` command: CI reads it as "worse".
    Ok(if worse.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

fn is_stdout(path: Option<&Path>) -> bool {
    path.map_or(true, |p| p.as_os_str() == "-")
}

/// Streams `render` to a file, or to stdout for `None` and `-`. A closed stdout is not an error.
fn write_with(
    path: Option<&Path>,
    render: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match path.filter(|p| !is_stdout(Some(p))) {
        Some(p) => {
            let file = std::fs::File::create(p)
                .with_context(|| format!("cannot write {}", p.display()))?;
            let mut out = std::io::BufWriter::new(file);
            render(&mut out)
                .and_then(|()| Ok(out.flush()?))
                .with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match render(&mut out).and_then(|()| Ok(out.flush()?)) {
                Err(e) if is_broken_pipe(&e) => Ok(()),
                other => other.context("cannot write to stdout"),
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` as [`write_with`] does.
fn write_text(path: Option<&Path>, text: &str) -> Result<()> {
    write_with(path, |out| Ok(out.write_all(text.as_bytes())?))
}
