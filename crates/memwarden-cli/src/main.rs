//! The `memwarden` command: parse, validate, supervise or read the store, report, exit.

mod analyze;
mod cli;
mod exit;
mod heap;
mod judge;
mod options;
mod record;
mod report;
mod runs;
mod sink;
mod store;
mod supervise;
mod top;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser};

use cli::{AnalyzeFormat, Cli, Command, CompareFormat, ReportFormat};
use options::SessionOptions;
use record::RunKind;
use report::export::Exports;
use report::term::Layout;
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
        Command::Run(args) => session_options(&args.sampling, RunKind::Run, db).and_then(|opts| {
            let gates = supervise::Gates {
                fail_on_leak: args.fail_on_leak,
                max_growth: args.max_growth,
            };
            let afterwards = supervise::Afterwards {
                wait_tree: args.wait == cli::WaitFor::Tree,
                keep_leftovers: args.keep_leftovers,
            };
            let heap = heap::start(heap::options(&args.heap, &opts)?.as_ref(), &args.command)?;
            let env = heap.as_ref().map_or(&[][..], |h| h.env());
            let outcome = supervise::run(&opts, &gates, afterwards, &args.command, env);
            finish_session(
                &opts,
                &exports(&args.sampling),
                heap::conclude(heap, outcome, &opts.db),
            )
        }),
        Command::Watch(args) => {
            session_options(&args.sampling, RunKind::Watch, db).and_then(|opts| {
                let outcome = supervise::watch(&opts, &args.pids, args.duration);
                finish_session(&opts, &exports(&args.sampling), outcome)
            })
        }
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
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
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

fn exports(args: &cli::SamplingArgs) -> Exports {
    Exports {
        json: args.json.clone(),
        html: args.html.clone(),
        csv: args.csv.clone(),
        markdown: args.markdown.clone(),
        svg: args.svg.clone(),
    }
}

/// The session's options, once its exports are known to be writable where they go: checked
/// before anything starts.
fn session_options(
    args: &cli::SamplingArgs,
    kind: RunKind,
    db: Option<&Path>,
) -> Result<SessionOptions> {
    if let Some(why) = exports(args).refusal(kind) {
        bail!(options::UsageError(why));
    }
    SessionOptions::new(args, db)
}

/// Prints the summary and writes the exports; none of it can change the command's exit
/// status. A failed gate is said even with `-q`.
fn finish_session(
    opts: &SessionOptions,
    exports: &Exports,
    outcome: Result<supervise::Outcome>,
) -> Result<u8> {
    let outcome = outcome?;
    let layout = Layout::for_stderr();
    if let Some(gate) = &outcome.gate {
        eprintln!(
            "memwarden: gate failed: {}",
            report::term::shorten(&report::term::printable(gate), 300)
        );
    }
    if outcome.report.samples > 0 && !opts.quiet {
        let stored = outcome
            .stored_in
            .as_deref()
            .map(report::summary::Stored::at);
        eprint!(
            "{}",
            report::summary::summary(&outcome.report, stored.as_ref(), layout)
        );
    }
    let stored = outcome
        .stored_in
        .as_deref()
        .zip(outcome.report.run_id)
        .map(|(db, id)| (Path::new(db), id));
    for failure in exports.write(&outcome.report, stored) {
        eprintln!("memwarden: {failure}");
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
        ReportFormat::Text => Box::new(report::text::Text {
            layout: Layout::for_stdout(is_stdout(args.output.as_deref())),
        }),
        ReportFormat::Json => Box::new(report::json::Json),
        ReportFormat::Csv => Box::new(report::csv::Csv),
        ReportFormat::Html => Box::new(report::html::Html),
        ReportFormat::Markdown => Box::new(report::markdown::Markdown),
        ReportFormat::Svg => Box::new(report::export::SvgFile),
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
        CompareFormat::Text => Box::new(report::text::Text {
            layout: Layout::for_stdout(is_stdout(args.output.as_deref())),
        }),
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

/// `memwarden completions SHELL`: the completion script on stdout.
fn completions(args: &cli::CompletionsArgs) -> Result<u8> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "memwarden", &mut script);
    write_with(None, |out| Ok(out.write_all(&script)?))?;
    Ok(exit::OK)
}

/// `memwarden man [SUBCOMMAND]`: the manual page, roff, on stdout.
fn man(args: &cli::ManArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match args.command.as_deref() {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name) else {
                let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                bail!(options::UsageError(format!(
                    "no subcommand '{name}'; man pages exist for: {}",
                    names.join(", ")
                )));
            };
            // Built, it is named memwarden-NAME and used as `memwarden NAME`.
            sub.clone()
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("memwarden {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .context("cannot render the manual page")?;
    write_with(None, |out| Ok(out.write_all(&roff)?))?;
    Ok(exit::OK)
}

fn is_stdout(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
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
