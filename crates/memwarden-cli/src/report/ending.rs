//! How a run ended, in words every format shares: "exited with status 0 after 12.0s",
//! "stopped by memwarden at its limit after 34.7s", "watched for 1m 05s, ended by SIGINT",
//! "still running, 2m 10s so far". Each claim follows the record: memwarden is said to have
//! stopped a run only when `stopped_by` says so, and a signal it forwarded is named as such.

use memwarden::units::format_seconds;

use super::model::RunReport;
use super::term::printable;
use crate::exit;
use crate::record::{EventKind, RunKind, RunState, StoppedBy};

/// The run's end and how long it lasted, without a subject: "exited with status 7 after
/// 12.0s", "killed by SIGKILL after 3.0s", "stopped by memwarden at --timeout after 1h 00m".
pub fn ending(r: &RunReport) -> String {
    let took = format_seconds(r.duration_s);
    match r.state {
        RunState::Running => return format!("still running, {took} so far"),
        RunState::MemwardenDied => {
            return format!(
                "without an end: its memwarden died after {took} of recording (the figures \
                 are those recorded until then)"
            )
        }
        RunState::Unknown => {
            return format!("without a recorded end, {took} recorded (who recorded it is unknown)")
        }
        RunState::Ended => {}
    }
    if r.kind == RunKind::Top {
        // A group of `memwarden top --record`: watched while the session lasted.
        return format!("watched by memwarden top for {took}");
    }
    if r.kind == RunKind::Watch {
        let how = match r.stopped_by {
            Some(by) => format!(", then {}", stopped(r, by)),
            None => match watch_end(r) {
                WatchEnd::Signal(name) => format!(", ended by {name}"),
                WatchEnd::Exited => ", until every watched process had exited".to_string(),
                WatchEnd::Duration => " (its --duration)".to_string(),
            },
        };
        return format!("watched for {took}{how}");
    }
    let how = match (r.stopped_by, r.exit) {
        (Some(by), _) => return format!("{} after {took}", stopped(r, by)),
        (None, None) => return "could not be started".to_string(),
        (None, Some(x)) => match (x.code, x.signal) {
            (_, Some(sig)) => format!("killed by {}", signal_name(sig)),
            (Some(code), None) => format!("exited with status {code}"),
            (None, None) => "ended".to_string(),
        },
    };
    match forwarded_signal(r) {
        Some(sig) => format!("{how} after memwarden forwarded {sig}; it ran {took}"),
        None => format!("{how} after {took}"),
    }
}

/// memwarden's exit status when it is not the command's own: "exit 121". Empty otherwise.
pub fn exit_note(r: &RunReport) -> String {
    let own = match (r.state, r.exit) {
        (RunState::Ended, Some(x)) => match (x.code, x.signal) {
            (_, Some(sig)) => Some(exit::for_signal(sig)),
            (Some(code), None) => Some(code.clamp(0, 255) as u8),
            (None, None) => None,
        },
        (RunState::Ended, None) if r.kind == RunKind::Watch && r.status == exit::OK => {
            Some(exit::OK)
        }
        _ => None,
    };
    match r.state {
        RunState::Ended if own != Some(r.status) => format!("exit {}", r.status),
        _ => String::new(),
    }
}

/// [`ending`], then [`exit_note`] in parentheses when there is one.
pub fn ending_with_status(r: &RunReport) -> String {
    match exit_note(r) {
        note if note.is_empty() => ending(r),
        note => format!("{} ({note})", ending(r)),
    }
}

/// "stopped by memwarden at its limit"; a stop that left processes behind says so.
fn stopped(r: &RunReport, by: StoppedBy) -> String {
    let why = match by {
        StoppedBy::Limit => "at its limit".to_string(),
        StoppedBy::SystemFloor => {
            "to keep the machine's memory free (--system-floor or --pressure)".to_string()
        }
        StoppedBy::Timeout => "at --timeout".to_string(),
        StoppedBy::Leak => "for its leak (--on-leak or --act-before)".to_string(),
        StoppedBy::Interrupt => match forwarded_signal(r) {
            Some(name) => format!("on a second {name}"),
            None => "on a second interrupt".to_string(),
        },
    };
    if r.status == exit::INTERNAL {
        format!("memwarden tried to stop it {why} but could not stop all of it")
    } else {
        format!("stopped by memwarden {why}")
    }
}

enum WatchEnd {
    Signal(String),
    Exited,
    Duration,
}

/// What ended a watch nobody stopped: the last of a signal, the watched processes' exit, or
/// its duration (recorded as a `stop` event that stopped nothing).
fn watch_end(r: &RunReport) -> WatchEnd {
    let last = r.events.iter().rev().find(|e| {
        matches!(
            e.kind,
            EventKind::Signal | EventKind::Exit | EventKind::Stop
        )
    });
    match last {
        Some(e) if e.kind == EventKind::Signal => {
            WatchEnd::Signal(signal_in(&e.detail).unwrap_or("a signal").to_string())
        }
        Some(e) if e.kind == EventKind::Stop => WatchEnd::Duration,
        _ => WatchEnd::Exited,
    }
}

/// The signal memwarden forwarded to the command, if it forwarded one.
fn forwarded_signal(r: &RunReport) -> Option<&str> {
    r.events
        .iter()
        .find(|e| e.kind == EventKind::Signal)
        .and_then(|e| signal_in(&e.detail))
}

/// The first signal name (`SIGINT`) in an event's words.
fn signal_in(detail: &str) -> Option<&str> {
    detail
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() > 3
                && w.starts_with("SIG")
                && w[3..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// The signal's name, `SIGTERM`, or `signal N` when unknown.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// The run's title: "run 3: label", or the label of a run not stored; printable.
pub fn title(r: &RunReport) -> String {
    let label = printable(&r.label);
    match r.run_id {
        Some(id) => format!("run {id}: {label}"),
        None => label.into_owned(),
    }
}

/// "1 process", "3 processes".
pub fn processes(n: u64) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, ExitInfo, RecordedOptions, RunEnd, RunMeta};
    use crate::report::model::{top_processes, Metric, RunStats};

    fn report(kind: RunKind, end: Option<RunEnd>, events: Vec<Event>) -> RunReport {
        let meta = RunMeta {
            kind,
            label: "x".into(),
            command: vec!["x".into()],
            host: "h".into(),
            started_at: "2024-05-01T10:00:00Z".into(),
            started_unix_ms: 0,
            interval_s: 1.0,
            mode: "process-tree".into(),
            metric: "anon".into(),
            mem_total_bytes: 0,
            options: RecordedOptions::default(),
        };
        RunStats::new(Metric::Anon).report(None, &meta, end.as_ref(), top_processes(0, []), events)
    }

    fn end(exit: Option<ExitInfo>, stopped_by: Option<StoppedBy>, status: u8) -> RunEnd {
        RunEnd {
            ended_unix_ms: 0,
            duration_s: 12.0,
            exit,
            stopped_by,
            status,
            peak_bytes: 0,
            verdict: None,
            samples: 12,
        }
    }

    const CODE_0: Option<ExitInfo> = Some(ExitInfo {
        code: Some(0),
        signal: None,
    });
    const TERMED: Option<ExitInfo> = Some(ExitInfo {
        code: None,
        signal: Some(15),
    });

    #[test]
    fn each_end_says_who_ended_the_run() {
        let r = report(RunKind::Run, Some(end(CODE_0, None, 0)), vec![]);
        assert_eq!(ending_with_status(&r), "exited with status 0 after 12.0s");
        let r = report(
            RunKind::Run,
            Some(end(TERMED, Some(StoppedBy::Limit), 121)),
            vec![],
        );
        assert_eq!(
            ending_with_status(&r),
            "stopped by memwarden at its limit after 12.0s (exit 121)"
        );
        let r = report(
            RunKind::Run,
            Some(end(TERMED, Some(StoppedBy::Timeout), exit::INTERNAL)),
            vec![],
        );
        assert!(ending(&r).starts_with("memwarden tried to stop it at --timeout but could not"));
        let forwarded = vec![Event::new(
            3.0,
            EventKind::Signal,
            "forwarded SIGINT to the command (send it again to stop the whole tree)",
        )];
        let code_3 = Some(ExitInfo {
            code: Some(3),
            signal: None,
        });
        let r = report(RunKind::Run, Some(end(code_3, None, 3)), forwarded.clone());
        assert_eq!(
            ending_with_status(&r),
            "exited with status 3 after memwarden forwarded SIGINT; it ran 12.0s"
        );
        let r = report(
            RunKind::Run,
            Some(end(TERMED, Some(StoppedBy::Interrupt), 143)),
            forwarded,
        );
        assert_eq!(
            ending(&r),
            "stopped by memwarden on a second SIGINT after 12.0s"
        );
        let mut r = report(RunKind::Run, None, vec![]);
        r.state = RunState::Running;
        assert_eq!(ending_with_status(&r), "still running, 0ms so far");
        let mut r = report(RunKind::Run, Some(end(None, None, 127)), vec![]);
        assert_eq!(ending_with_status(&r), "could not be started (exit 127)");
        r.state = RunState::MemwardenDied;
        assert!(ending(&r).starts_with("without an end: its memwarden died"));
    }

    #[test]
    fn a_watch_ends_by_a_signal_its_duration_or_its_processes() {
        let ctrl_c = vec![Event::new(5.0, EventKind::Signal, "SIGINT ended the watch")];
        let r = report(RunKind::Watch, Some(end(None, None, 0)), ctrl_c);
        assert_eq!(ending_with_status(&r), "watched for 12.0s, ended by SIGINT");
        let gone = vec![Event::new(
            5.0,
            EventKind::Exit,
            "every watched process has exited",
        )];
        let r = report(RunKind::Watch, Some(end(None, None, 0)), gone);
        assert_eq!(
            ending(&r),
            "watched for 12.0s, until every watched process had exited"
        );
        let timed = vec![Event::new(
            5.0,
            EventKind::Stop,
            "the watch duration has passed",
        )];
        let r = report(RunKind::Watch, Some(end(None, None, 0)), timed);
        assert_eq!(ending(&r), "watched for 12.0s (its --duration)");
        let r = report(
            RunKind::Watch,
            Some(end(None, Some(StoppedBy::Limit), 121)),
            vec![],
        );
        assert_eq!(
            ending_with_status(&r),
            "watched for 12.0s, then stopped by memwarden at its limit (exit 121)"
        );
    }
}
