//! The command line as clap sees it. Values are parsed here with the library's `units`;
//! cross-field checks and defaults that need the environment live in `options`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use memwarden::units::{self, Threshold};

use crate::supervise::action::Action;

const EXAMPLES: &str = "\
Examples:
  memwarden run -- python3 batch.py          watch a command and its whole tree, record the run
  memwarden run --interval 100ms --json out.json -- make test
  memwarden watch --duration 10m 4242        watch a running process and its descendants
  memwarden run --limit 4GiB --warn 3GiB --on-warn signal:USR1 -- python3 bot.py
                                             ask the program to clean up at 3 GiB, stop it at 4 GiB
  memwarden ls --since 1d --label nightly    recorded runs, newest last
  memwarden prune --older-than 30d           remove the runs started over 30 days ago
  memwarden report                           the last run's report again (text)
  memwarden report --format html -o run.html one self-contained page with charts
  memwarden compare before after             a Markdown before/after table (--fail-if-worse 10)
  memwarden top --by cgroup                  every unit, container and pod, ranked by leak

Values: sizes 512MiB, 4GiB, 4G (binary), 1.5GB (decimal); percentages 75% (of the cgroup limit
memwarden runs under, else of RAM); durations 250ms, 2s, 5m, 1h.
Runs are stored in $XDG_DATA_HOME/memwarden/memwarden.db unless --db or MEMWARDEN_DB says otherwise.";

/// Watch a program and everything it spawns, record its memory, keep it contained.
#[derive(Debug, Parser)]
#[command(name = "memwarden", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// The run database (default: $XDG_DATA_HOME/memwarden/memwarden.db)
    #[arg(long, global = true, env = "MEMWARDEN_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What memwarden is asked to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a command, watch its whole process tree until it exits, record the run
    ///
    /// memwarden's exit status is the command's own (128+N when a signal N ended it),
    /// 121 when memwarden stopped the tree for memory (--limit, --system-floor, --pressure,
    /// --on-leak stop), 122 when the command succeeded but a CI gate failed (--fail-on-leak,
    /// --max-growth), 124 at --timeout, 126/127 when it cannot be executed / is not found, 125
    /// when memwarden itself failed, 2 for a command line it cannot understand.
    /// The command's stdin, stdout and stderr are its own (so a report cannot go to stdout:
    /// give a file); INT, TERM, HUP and QUIT sent to memwarden are forwarded to it, and a
    /// second one stops the whole tree.
    #[command(
        override_usage = "memwarden run [OPTIONS] -- CMD [ARGS]...",
        after_help = RUN_EXAMPLES
    )]
    Run(RunArgs),
    /// Watch processes that already run, and their descendants, acting on them only when told
    ///
    /// memwarden samples the given processes and every descendant they have or start, until
    /// all of them have exited, --duration passes, or it is interrupted (Ctrl-C ends the watch
    /// and is not passed on). When a watched process exits while its descendants live on,
    /// memwarden says so and follows them. The watched processes are never signalled unless
    /// --limit, --warn with a signal action, --system-floor, --pressure, --timeout or
    /// --on-leak is given; limits are polled (the processes are in no cgroup of memwarden's).
    /// Exit status: 0 when the watch ended, 121 when memwarden stopped the processes for
    /// memory, 124 at --timeout, 125 when memwarden failed (or could not stop them), 2 for a
    /// PID that does not exist or may not be acted on.
    #[command(
        after_help = WATCH_EXAMPLES,
        mut_arg("label", |a| a.help("Name of the run in `ls`, `report` and `compare` (default: \
            the first watched process's command)")),
        mut_arg("limit", |a| a.help("Hard cap for the watched processes and their \
            descendants, resident memory summed, polled (the interval shrinks near it); \
            reaching it stops them all (exit 121)")),
        mut_arg("on_warn", |a| a.help("What a warning does (repeatable; default log): log, \
            signal:NAME (to the watched processes), signal-tree:NAME (to every process), \
            exec:PROGRAM ARGS... (a hook, no shell; words split as a shell would, quotes \
            kept; MEMWARDEN_* variables in its environment)")),
        mut_arg("timeout", |a| a.help("Stop the watched processes and their descendants \
            after this long (exit 124); to end only the watch, use --duration")),
        mut_arg("no_cgroup", |a| a.hide(true)),
    )]
    Watch(WatchArgs),
    /// Judge recorded traces: CSV (t_seconds,bytes...), psrecord logs, mprof .dat files
    ///
    /// The same leak detector as `run` and `watch` judges each file's memory floor. A CSV trace
    /// needs a header naming a time column (t, t_*, *time*, *elapsed*, *second*), in seconds
    /// unless its name gives another unit (t_ms, time_us, t_min), and value columns; the value column is --column, else the first whose name contains anon,
    /// else rss, else the second column. Rows with the value 0 (a process that has exited) are
    /// skipped. psrecord's and mprof's MB are MiB, converted to bytes.
    #[command(after_help = ANALYZE_EXAMPLES)]
    Analyze(AnalyzeArgs),
    /// List recorded runs, oldest first
    ///
    /// One line per run: its id, start (UTC), duration, peak, verdict, memwarden's exit
    /// status and why, and its label. A run still going shows its figures so far.
    #[command(after_help = LS_EXAMPLES)]
    Ls(LsArgs),
    /// Remove recorded runs, with everything recorded with them
    ///
    /// Each RUN is taken as `report` takes it: an id, a label (the latest run with it), or part
    /// of a label that picks out one label. A run still being recorded is refused. The
    /// database file keeps its size: later runs reuse the space.
    #[command(after_help = "Examples:\n  memwarden rm 3 7\n  memwarden rm --dry-run nightly")]
    Rm(RmArgs),
    /// Remove the runs started before a time: older than a duration, or before a date
    ///
    /// Runs still being recorded are kept. The database file keeps its size: later runs reuse
    /// the space.
    #[command(
        after_help = "Examples:\n  memwarden prune --older-than 30d --dry-run\n  memwarden prune --older-than 2024-05-01 --label nightly"
    )]
    Prune(PruneArgs),
    /// Show a recorded run's report (the last run by default)
    ///
    /// Text (fitted to the terminal), JSON, CSV (every sample), one self-contained HTML page
    /// with charts, Markdown, or the memory charts as SVG. A run still going is shown with its
    /// figures so far.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Print Prometheus alerting rules for the metrics of --metrics
    ///
    /// A leak called, memory that runs out within a day (warning) or four hours (critical),
    /// a limit reached, OOM kills. Save them and load them in prometheus.yml:
    /// `memwarden rules > memwarden-rules.yml`, then `rule_files: [memwarden-rules.yml]`.
    Rules(RulesArgs),
    /// Every process, command or cgroup on the machine, ranked by how surely and how soon it
    /// leaks
    ///
    /// Each group is judged by the same detector as `run` (memory floor, threads, descriptors,
    /// processes); leaks come first, soonest to exhaust their memory first (the group's cgroup
    /// limit, else the machine's available memory), then the fastest-growing. On a terminal a
    /// live full-screen view; otherwise, or with --format, one ranked report at the end
    /// (after --duration, or INT/TERM).
    #[command(
        after_help = "Examples:\n  memwarden top --by cgroup\n  memwarden top --duration 10m --format json > ranked.json\n  memwarden top --by cgroup --metrics 0.0.0.0:9464    a host agent for Prometheus"
    )]
    Top(TopArgs),
    /// Compare two recorded runs: before, after and change, as a Markdown table by default
    ///
    /// With --fail-if-worse PCT, exits with status 1 when the peak, or the floor's growth (when
    /// both runs are judged), got worse by more than PCT percent, or when the after run is
    /// judged a leak and the before run was not.
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or PowerShell
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print memwarden's manual page (roff), or a subcommand's
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
}

const RUN_EXAMPLES: &str = "\
Examples:
  memwarden run -- python3 batch.py
  memwarden run --interval 100ms --label nightly --json run.json -- make test
  memwarden run --limit 4GiB --warn 3GiB --on-warn signal:USR1 -- python3 bot.py
                     ask the program to clean up at 3 GiB, stop the whole tree at 4 GiB
  memwarden run --fail-on-leak --html report.html --svg memory.svg -- ./integration-tests
                     a CI gate (exit 122 on a leak) that keeps its report as artifacts";

const WATCH_EXAMPLES: &str = "\
Examples:
  memwarden watch 4242                          until pid 4242 and its descendants exit, or Ctrl-C
  memwarden watch --duration 10m $(pgrep -f my-service)
  memwarden watch --limit 2GiB --grace 30s 4242  stop them (TERM, 30 s, KILL) at 2 GiB
  memwarden watch --duration 1h --json - 4242 | jq .verdict";

const ANALYZE_EXAMPLES: &str = "\
Examples:
  memwarden analyze service-rss.csv
  memwarden analyze --format json psrecord.log mprofile_20261123.dat
  memwarden analyze --column rss_bytes --fail-on-leak nightly.csv";

const LS_EXAMPLES: &str = "\
Examples:
  memwarden ls
  memwarden ls --since 1d --label nightly
  memwarden ls --format json | jq '.[] | select(.verdict == \"leak\") | .id'";

const REPORT_EXAMPLES: &str = "\
Examples:
  memwarden report                              the last run, as text
  memwarden report nightly                      the latest run labelled nightly
  memwarden report 12 --format html -o run12.html
  memwarden report 12 --format csv > run12.csv";

const COMPARE_EXAMPLES: &str = "\
Examples:
  memwarden compare 3 4 --format text
  memwarden compare nightly-before nightly-after --fail-if-worse 10 >> $GITHUB_STEP_SUMMARY";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  memwarden completions bash > ~/.local/share/bash-completion/completions/memwarden
  memwarden completions zsh > ~/.zfunc/_memwarden
  memwarden completions fish > ~/.config/fish/completions/memwarden.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  memwarden man | man -l -
  memwarden man run > memwarden-run.1";

/// `memwarden completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `memwarden man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand whose page to print (default: memwarden's own)
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Option<String>,
}

/// Options shared by `run` and `watch`.
#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Time between samples: 10ms at the least
    #[arg(long, short = 'i', default_value = "1s", value_name = "DUR", value_parser = parse_interval)]
    pub interval: Duration,

    /// Name of the run in `ls`, `report` and `compare` (default: the command and its arguments)
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Also write the JSON report to FILE at the end ('-': stdout, in `watch` only)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also write the HTML report (one page with charts) to FILE at the end
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Also write every sample as CSV (the columns of `report --format csv`) to FILE at the end
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Also write a Markdown report (for a pull request or $GITHUB_STEP_SUMMARY) to FILE
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Also write the memory charts as one SVG file to FILE at the end
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// When memwarden stops processes: time between TERM and KILL
    #[arg(long, default_value = "10s", value_name = "DUR", value_parser = parse_duration)]
    pub grace: Duration,

    /// Follow the tree by parent links even where a cgroup could be created
    #[arg(long)]
    pub no_cgroup: bool,

    /// Do not print the summary at the end on stderr (a failed gate is still said)
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Serve Prometheus metrics at http://ADDR/metrics while the run lasts: a port (on
    /// 127.0.0.1) or HOST:PORT (0.0.0.0:9464 for every interface); see `memwarden rules`
    #[arg(long, value_name = "ADDR", value_parser = crate::sink::metrics::server::parse_addr)]
    pub metrics: Option<std::net::SocketAddr>,

    /// The memory figure reports and the leak verdict use: anon (RssAnon + swap summed over
    /// the tree, what a leak grows), rss (resident, shared pages counted per process) or pss
    #[arg(long, value_enum, default_value_t = MetricArg::Anon)]
    pub metric: MetricArg,

    #[command(flatten)]
    pub detect: DetectArgs,

    #[command(flatten)]
    pub guard: GuardArgs,
}

/// The memory figure to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Anonymous memory (RssAnon + swap), summed over the tree
    Anon,
    /// Resident memory, summed over the tree
    Rss,
    /// Proportional set size, summed over the tree (read about every 10 s)
    Pss,
}

/// The leak detector's knobs (shared by `run`, `watch` and `analyze`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Leak detection")]
pub struct DetectArgs {
    /// Start-up time that is never judged (exactly DUR when given) [default: 5s, or 20% of the run when longer]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub warmup: Option<Duration>,

    /// How long a steady rise must last before the live verdict calls it a leak (a cache that
    /// fills rises the same way until it is full); until then it is reported as rising, with its
    /// rate and the time to the limit. The verdict at the end of a run calls a floor still rising
    /// then a leak, however short the run [default: 360s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub judge_after: Option<Duration>,

    /// Slowest growth of the memory floor called a leak [default: 10MiB/h]
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub leak_rate: Option<f64>,

    /// Slowest growth called a leak relative to the floor, in percent per hour [default: 2]
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub leak_relative: Option<f64>,
}

/// Containment, shared by `run` and `watch`. `watch` acts on the watched processes only when
/// one of these is given.
#[derive(Debug, Args)]
#[command(next_help_heading = "Containment")]
pub struct GuardArgs {
    /// Hard cap for the whole tree: a kernel limit where the run has a cgroup of its own,
    /// else polled (the interval shrinks near it); reaching it stops the tree (exit 121)
    #[arg(long, value_name = "SIZE|PCT", value_parser = parse_threshold)]
    pub limit: Option<Threshold>,

    /// Warn when the tree's memory reaches this: run the --on-warn actions, once per crossing
    /// (again only after it falls below 90 % of it)
    #[arg(long, value_name = "SIZE|PCT", value_parser = parse_threshold)]
    pub warn: Option<Threshold>,

    /// What a warning does (repeatable; default log): log, signal:NAME (to the command),
    /// signal-tree:NAME (to every process), exec:PROGRAM ARGS... (a hook, no shell; words split
    /// as a shell would, quotes kept; MEMWARDEN_* variables in its environment)
    #[arg(long, value_name = "ACTION", value_parser = Action::parse, requires = "warn")]
    pub on_warn: Vec<Action>,

    /// Stop the tree when the machine's available memory falls below this (a share of RAM,
    /// or a size), as earlyoom does for the whole machine
    #[arg(long, value_name = "PCT|SIZE", value_parser = parse_threshold)]
    pub system_floor: Option<Threshold>,

    /// Stop the tree when memory pressure (PSI `full avg10`, percent) reaches this
    #[arg(long, value_name = "FULL_AVG10", value_parser = parse_pressure)]
    pub pressure: Option<f64>,

    /// Stop the tree after this long (exit 124, as timeout(1))
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,

    /// How long an exec: hook may run before it is killed
    #[arg(long, default_value = "30s", value_name = "DUR", value_parser = parse_positive_duration)]
    pub hook_timeout: Duration,

    /// What a leak does once it is called (repeatable): the --on-warn forms, or stop (stop the
    /// whole tree: exit 121). With --act-before, they run when memory would reach its limit
    /// within DUR instead
    #[arg(long, value_name = "ACTION", value_parser = Action::parse_leak)]
    pub on_leak: Vec<Action>,

    /// Act (the --on-leak actions, default log) when the tree's memory, rising at its current
    /// rate, would reach the nearest limit (--limit, a cgroup limit, or the machine's available
    /// memory) within DUR — whether it is a leak or a rise that would not stop in time
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub act_before: Option<Duration>,
}

/// `memwarden run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,

    /// Exit 122 when the command succeeded but a leak was called (a CI gate)
    #[arg(long, help_heading = "Leak detection")]
    pub fail_on_leak: bool,

    /// Exit 122 when the command succeeded but its memory floor grew faster than RATE
    #[arg(long, value_name = "RATE", value_parser = parse_rate, help_heading = "Leak detection")]
    pub max_growth: Option<f64>,

    /// What ends the run: the command's exit (processes it left behind are then listed and
    /// stopped), or the exit of the whole tree (for a command that daemonizes)
    #[arg(long, value_enum, default_value_t = WaitFor::Command, value_name = "WHAT")]
    pub wait: WaitFor,

    /// Leave the processes that outlive the command running (they are still reported)
    #[arg(long)]
    pub keep_leftovers: bool,

    #[command(flatten)]
    pub heap: HeapArgs,

    /// The command to run, after `--`
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// What ends a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// The command's own exit
    Command,
    /// The exit of every process of the tree
    Tree,
}

/// `run --heap`: which call sites hold the memory that grows.
#[derive(Debug, Args)]
#[command(next_help_heading = "Heap call sites")]
pub struct HeapArgs {
    /// Attribute the heap to call sites: preload a sampling allocator hook into the tree
    /// (dynamically linked glibc programs) and judge each site's live bytes
    #[arg(long)]
    pub heap: bool,

    /// Mean bytes between sampled allocations, per thread (smaller: finer and dearer)
    #[arg(long, value_name = "SIZE", default_value = "512KiB", value_parser = parse_sample, requires = "heap")]
    pub heap_sample: u64,

    /// Also write the sites as a pprof profile (alloc_space, inuse_space): `--heap-export pprof FILE`
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"], value_parser = clap::value_parser!(OsString), requires = "heap")]
    pub heap_export: Option<Vec<OsString>>,
}

/// `memwarden watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,

    /// Stop watching after this long (default: until every watched process has exited, or Ctrl-C)
    #[arg(long, short = 'd', value_name = "DUR", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,

    /// The processes to watch (their descendants are watched too)
    #[arg(required = true, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub pids: Vec<u32>,
}

/// `memwarden top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// What a row is: a process, a command (executable and arguments' shape: numbers,
    /// paths and inline code aside), or a cgroup (systemd unit, container or pod)
    #[arg(long, value_enum, default_value_t = GroupByArg::Command)]
    pub by: GroupByArg,

    /// Time between samples of the whole machine: 100ms at the least
    #[arg(long, short = 'i', default_value = "1s", value_name = "DUR", value_parser = parse_top_interval)]
    pub interval: Duration,

    /// Stop after this long and print the ranked report (default: until q, INT or TERM)
    #[arg(long, short = 'd', value_name = "DUR", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,

    /// Print one ranked report at the end instead of the live view
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<TopFormat>,

    /// Groups in the text report (the JSON report has every group)
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    pub rows: usize,

    /// The memory figure judged: anon (RssAnon + swap, what a leak grows) or rss
    #[arg(long, value_enum, default_value_t = TopMetricArg::Anon)]
    pub metric: TopMetricArg,

    /// Serve Prometheus metrics at http://ADDR/metrics, one series set per group (label: the
    /// group, tree: process, command or cgroup): a port (on 127.0.0.1) or HOST:PORT
    #[arg(long, value_name = "ADDR", value_parser = crate::sink::metrics::server::parse_addr)]
    pub metrics: Option<std::net::SocketAddr>,

    /// Record every group as a run of kind `top` (label: the group), for `report` and `compare`
    #[arg(long)]
    pub record: bool,

    #[command(flatten)]
    pub detect: DetectArgs,
}

/// What `top` groups processes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByArg {
    /// Each process
    Process,
    /// Processes sharing an executable and its arguments' shape
    Command,
    /// Processes of one systemd unit, container or pod
    Cgroup,
}

/// The memory figure `top` judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopMetricArg {
    /// Anonymous memory (RssAnon + swap), summed over the group
    Anon,
    /// Resident memory, summed over the group
    Rss,
}

/// Report formats of `top`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopFormat {
    /// A ranked table for people
    Text,
    /// Every group with its verdict (the same verdict object as a run's report)
    Json,
}

/// `memwarden analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The traces to judge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format: one JSON object per file (an array when there are several)
    #[arg(long, short = 'f', value_enum, default_value_t = AnalyzeFormat::Text)]
    pub format: AnalyzeFormat,

    /// The value column of a CSV or psrecord trace, by name
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,

    /// Exit 122 when any trace is judged leaking (a CI gate)
    #[arg(long)]
    pub fail_on_leak: bool,

    #[command(flatten)]
    pub detect: DetectArgs,
}

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// A summary per file for people
    Text,
    /// The JSON report of each file
    Json,
}

/// Output formats of `ls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table for people
    Text,
    /// One JSON array
    Json,
}

/// `memwarden rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Print the rules' unit tests for `promtool test rules` instead (they load the rules from
    /// memwarden-rules.yml beside them)
    #[arg(long)]
    pub tests: bool,
}

/// `memwarden ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,

    /// Only runs whose label contains TEXT (ASCII letters match either case)
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Only runs started since: a duration back from now (2h, 7d) or a UTC date
    /// (2024-05-01, '2024-05-01 14:30', 2024-05-01T14:30:00Z)
    #[arg(long, value_name = "DUR|DATE", value_parser = parse_since)]
    pub since: Option<i64>,
}

/// `memwarden rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The runs: ids, labels, or parts of labels
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<String>,

    /// Say which runs would be removed, and remove nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// `memwarden prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove runs started before this: a duration back from now (30d, 12h) or a UTC date
    /// (2024-05-01, '2024-05-01 14:30')
    #[arg(long, required = true, value_name = "DUR|DATE", value_parser = parse_since)]
    pub older_than: i64,

    /// Only runs whose label contains TEXT (ASCII letters match either case)
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Say which runs would be removed, and remove nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Figures, a sparkline, the largest processes and events, for people
    Text,
    /// The JSON report (schema 1)
    Json,
    /// Every sample, one row each (columns in the README)
    Csv,
    /// One self-contained page with charts, for a browser or a printer
    Html,
    /// The verdict and figures for a pull request or a CI job's summary
    Markdown,
    /// The memory charts as one SVG file
    Svg,
}

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// A table that pastes into a pull request
    Markdown,
    /// A table for the terminal
    Text,
    /// The rows as numbers
    Json,
}

/// `memwarden compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run before the change: its id, its label (the latest run with it), or part of one
    #[arg(value_name = "RUN_A")]
    pub before: String,

    /// The run after the change: its id, its label (the latest run with it), or part of one
    #[arg(value_name = "RUN_B")]
    pub after: String,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = CompareFormat::Markdown)]
    pub format: CompareFormat,

    /// Exit with status 1 when the peak or the floor's growth got worse by more than PCT percent
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub fail_if_worse: Option<f64>,

    /// Write to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `memwarden report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run: its id, its label (the latest run with it), part of a label that picks out one
    /// label (as `ls --label` matches), or nothing for the last run
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Write to FILE instead of stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Smallest sampling interval: below it, the sampler's own cost starts to matter.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = units::parse_duration(s).map_err(|e| e.to_string())?;
    if d < MIN_INTERVAL {
        return Err(format!("'{s}' is shorter than the smallest interval, 10ms"));
    }
    Ok(d)
}

/// Smallest interval of `top`: every process of the machine is read at each sample.
pub const MIN_TOP_INTERVAL: Duration = Duration::from_millis(100);

fn parse_top_interval(s: &str) -> Result<Duration, String> {
    let d = units::parse_duration(s).map_err(|e| e.to_string())?;
    if d < MIN_TOP_INTERVAL {
        return Err(format!(
            "'{s}' is shorter than top's smallest interval, 100ms (it reads every process)"
        ));
    }
    Ok(d)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    units::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_sample(s: &str) -> Result<u64, String> {
    match units::parse_size(s) {
        Ok(0) => Err("the sample interval must be at least 1 byte".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    units::parse_rate(s).map_err(|e| e.to_string())
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = units::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!("'{s}' must be longer than zero"));
    }
    Ok(d)
}

/// The smallest size a limit, warning or floor may be: below it, surely a mistake (`--limit 1`
/// is one byte, not one GiB).
const MIN_THRESHOLD: u64 = 1 << 20;

fn parse_threshold(s: &str) -> Result<Threshold, String> {
    let t = units::parse_threshold(s).map_err(|e| e.to_string())?;
    match t {
        Threshold::Bytes(b) if b < MIN_THRESHOLD => Err(format!(
            "'{s}' is {b} bytes: surely not what was meant; give a unit (512MiB, 4GiB, 4G) \
             or a percentage (75%); at least 1MiB"
        )),
        Threshold::Percent(p) if p <= 0.0 => Err(format!("'{s}' must be above 0%")),
        t => Ok(t),
    }
}

fn parse_pressure(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("'{s}' is not a percentage of time stalled, like 10 or 12.5"))?;
    if !(v > 0.0 && v <= 100.0) {
        return Err(format!("'{s}' must be above 0 and at most 100"));
    }
    Ok(v)
}

/// `--since`: a UTC date or date-time, else a duration back from now; milliseconds since the
/// Unix epoch.
fn parse_since(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let looks_like_date = t.len() >= 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-';
    let at = if looks_like_date {
        let full = match t.len() {
            10 => format!("{t}T00:00:00Z"),
            16 => format!("{t}:00"),
            _ => t.to_string(),
        };
        humantime::parse_rfc3339_weak(&full).map_err(|e| {
            format!(
                "'{s}' is not a date ({e}); use 2024-05-01, '2024-05-01 14:30', \
                 2024-05-01T14:30:00Z (UTC) or a duration like 2h or 7d"
            )
        })?
    } else {
        let d = units::parse_duration(t).map_err(|e| {
            format!("{e}; or give a UTC date like 2024-05-01 or '2024-05-01 14:30'")
        })?;
        std::time::SystemTime::now()
            .checked_sub(d)
            .unwrap_or(std::time::UNIX_EPOCH)
    };
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok(ms)
}

/// `--fail-if-worse`: a percentage, `10` or `10%`, not negative.
fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a percentage; use a number like 10 or 10%"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' must be a percentage of zero or more"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn interval_errors_name_the_flag_and_forms() {
        let err = Cli::try_parse_from(["memwarden", "run", "--interval", "5x", "--", "true"])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("--interval") && text.contains("250ms"),
            "{text}"
        );
        let err = Cli::try_parse_from(["memwarden", "run", "--interval", "1ms", "--", "true"])
            .unwrap_err();
        assert!(err.to_string().contains("10ms"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn documented_detector_defaults_are_the_real_ones() {
        let d = memwarden::detect::DetectorConfig::default();
        let mut run = Cli::command().find_subcommand("run").unwrap().clone();
        let help = run.render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let expect = [
            format!(
                "[default: {}s, or {}% of the run",
                d.warmup_s,
                d.warmup_fraction * 100.0
            ),
            format!("[default: {}s]", d.min_span_s),
            format!("[default: {}]", d.min_relative_rate_per_h * 100.0),
        ];
        for e in expect {
            assert!(help.contains(&e), "help should say {e}");
        }
        assert_eq!(units::parse_rate("10MiB/h").unwrap(), d.min_rate_per_s);
        assert!(help.contains("[default: 10MiB/h]"));
    }

    #[test]
    fn containment_values_are_checked_before_anything_starts() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["memwarden", "run"];
            args.extend(extra);
            args.extend(["--", "true"]);
            Cli::try_parse_from(args)
        };
        let cli = parse(&[
            "--limit",
            "400MiB",
            "--warn",
            "80%",
            "--on-warn",
            "signal:USR1",
            "--on-warn",
            "exec:sh -c 'echo hi'",
            "--timeout",
            "2s",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        let g = &run.sampling.guard;
        assert_eq!(g.limit, Some(Threshold::Bytes(400 << 20)));
        assert_eq!(g.warn, Some(Threshold::Percent(80.0)));
        assert_eq!(g.on_warn.len(), 2);
        assert_eq!(g.timeout, Some(Duration::from_secs(2)));
        for (bad, says) in [
            (&["--limit", "lots"][..], "--limit"),
            (&["--warn", "1G", "--on-warn", "mail"][..], "signal:NAME"),
            (&["--on-warn", "log"][..], "--warn"),
            (&["--pressure", "200"][..], "at most 100"),
            (&["--timeout", "0s"][..], "longer than zero"),
            (&["--limit", "1"][..], "surely not what was meant"),
            (&["--warn", "4096"][..], "give a unit"),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn since_takes_dates_and_durations() {
        assert_eq!(parse_since("2024-05-01"), Ok(1_714_521_600_000));
        assert_eq!(parse_since("2024-05-01 00:01"), Ok(1_714_521_660_000));
        assert_eq!(parse_since("2024-05-01T00:00:01Z"), Ok(1_714_521_601_000));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let day_ago = parse_since("1d").unwrap();
        assert!((now - 86_400_000 - day_ago).abs() < 60_000, "{day_ago}");
        let err = parse_since("2024-13-01").unwrap_err();
        assert!(err.contains("not a date"), "{err}");
        let err = parse_since("yesterday").unwrap_err();
        assert!(err.contains("2024-05-01"), "{err}");
        assert_eq!(parse_percent("10%"), Ok(10.0));
        assert_eq!(parse_percent("2.5"), Ok(2.5));
        assert!(parse_percent("-1").is_err() && parse_percent("ten").is_err());
    }

    #[test]
    fn a_misspelt_option_is_a_usage_error_not_the_command() {
        let err =
            Cli::try_parse_from(["memwarden", "run", "--limt", "1G", "--", "true"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--limt"), "{err}");
        let cli = Cli::try_parse_from(["memwarden", "run", "ls", "-l"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.command, ["ls", "-l"]);
    }

    #[test]
    fn the_command_keeps_its_own_flags() {
        let cli =
            Cli::try_parse_from(["memwarden", "run", "-q", "--", "ls", "-l", "--color"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.command, ["ls", "-l", "--color"]);
        assert!(run.sampling.quiet);
    }
}
