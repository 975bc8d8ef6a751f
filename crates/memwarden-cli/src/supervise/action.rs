//! The actions a trigger can take, as the command line writes them (`--on-warn`, `--on-leak`):
//! `log`, `signal:NAME`, `signal-tree:NAME`, `exec:PROGRAM ARGS...`, and for `--on-leak` also
//! `stop`.
//!
//! `exec:` splits its text into words the way a POSIX shell would (quotes and backslashes),
//! but never runs a shell: the first word is the program, the rest its arguments. A user who
//! wants a shell writes one: `exec:sh -c 'echo "$MEMWARDEN_TREE_BYTES" >> /tmp/log'`.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use nix::sys::signal::Signal;

/// What to do when a threshold is crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Print a line on stderr (every crossing is an event in the record anyway).
    Log,
    /// Send a signal to the tree's root: the command (`run`) or the watched processes (`watch`).
    /// The root is where programs that clean up on a signal (S3, S4) install their handler.
    Signal(Signal),
    /// Send a signal to every process of the tree.
    SignalTree(Signal),
    /// Run a program with these arguments (a hook), without a shell.
    Exec(Vec<OsString>),
    /// Stop the whole tree (`--on-leak` only: `--limit` is the size at which a tree stops).
    Stop,
}

/// The forms an action may take, quoted in error messages.
pub const ACTION_FORMS: &str = "log, signal:NAME (e.g. signal:USR1), signal-tree:NAME, \
                                or exec:PROGRAM [ARGS...]";

impl Action {
    /// Parses an `--on-warn` action as the command line writes it.
    pub fn parse(text: &str) -> Result<Action, String> {
        Self::parse_with(text, false)
    }

    /// Parses an `--on-leak` action: the `--on-warn` forms, or `stop`.
    pub fn parse_leak(text: &str) -> Result<Action, String> {
        Self::parse_with(text, true)
    }

    fn parse_with(text: &str, stop: bool) -> Result<Action, String> {
        let forms = if stop {
            format!("{ACTION_FORMS}, or stop")
        } else {
            ACTION_FORMS.to_string()
        };
        let refuse = |why: String| format!("'{text}' is not an action ({why}); use {forms}");
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        match kind.trim() {
            "log" if rest.is_empty() => Ok(Action::Log),
            "stop" if rest.is_empty() && stop => Ok(Action::Stop),
            "stop" if rest.is_empty() => Err(refuse(
                "a warning asks; --limit is where the tree is stopped".into(),
            )),
            "signal" => parse_signal(rest).map(Action::Signal).map_err(refuse),
            "signal-tree" => parse_signal(rest).map(Action::SignalTree).map_err(refuse),
            "exec" => {
                let words = shlex::split(rest)
                    .ok_or_else(|| refuse("unbalanced quotes or a trailing backslash".into()))?;
                let Some(program) = words.first() else {
                    return Err(refuse("exec: needs a program".into()));
                };
                if !is_executable(program) {
                    return Err(refuse(format!(
                        "no executable program '{program}' (searched PATH)"
                    )));
                }
                Ok(Action::Exec(
                    words.into_iter().map(OsString::from).collect(),
                ))
            }
            _ => Err(refuse("unknown kind".into())),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Log => f.write_str("log"),
            Action::Stop => f.write_str("stop"),
            Action::Signal(s) => write!(f, "signal:{}", short_name(*s)),
            Action::SignalTree(s) => write!(f, "signal-tree:{}", short_name(*s)),
            Action::Exec(argv) => {
                let words: Vec<String> = argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                let joined = shlex::try_join(words.iter().map(String::as_str))
                    .unwrap_or_else(|_| words.join(" "));
                write!(f, "exec:{joined}")
            }
        }
    }
}

/// `USR1` rather than `SIGUSR1`, as users write it.
fn short_name(s: Signal) -> &'static str {
    s.as_str().trim_start_matches("SIG")
}

/// `USR1`, `SIGUSR1`, `usr1` or a number.
fn parse_signal(name: &str) -> Result<Signal, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a signal name is needed".into());
    }
    let signal = match name.parse::<i32>() {
        Ok(n) => Signal::try_from(n).map_err(|_| format!("no signal number {n}"))?,
        Err(_) => {
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            full.parse::<Signal>()
                .map_err(|_| format!("no signal named {name}"))?
        }
    };
    // KILL and STOP cannot be handled, so they cannot ask a program to clean up; stopping the
    // tree is memwarden's own business, with its grace period.
    if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
        return Err(format!(
            "{} cannot be handled by a program; memwarden stops trees itself with --limit",
            signal.as_str()
        ));
    }
    Ok(signal)
}

/// Whether `program` names an executable file, directly (with a `/`) or through `PATH`.
fn is_executable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let ok = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return ok(Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| ok(&d.join(program))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_prints_back() {
        for (text, shown) in [
            ("log", "log"),
            ("signal:USR1", "signal:USR1"),
            ("signal:sigusr2", "signal:USR2"),
            ("signal:10", "signal:USR1"),
            ("signal-tree:TERM", "signal-tree:TERM"),
            (
                "exec:sh -c 'echo \"$X\" > f'",
                "exec:sh -c 'echo \"$X\" > f'",
            ),
        ] {
            let a = Action::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(a.to_string(), shown);
        }
    }

    #[test]
    fn only_leak_actions_may_stop() {
        assert_eq!(Action::parse_leak("stop"), Ok(Action::Stop));
        assert_eq!(
            Action::parse_leak("signal:USR2").unwrap().to_string(),
            "signal:USR2"
        );
        assert!(Action::parse_leak("bogus").unwrap_err().contains("or stop"));
    }

    #[test]
    fn exec_splits_words_without_a_shell() {
        let a = Action::parse(r#"exec:/bin/echo "two words" $HOME a\ b"#).unwrap();
        assert_eq!(
            a,
            Action::Exec(
                ["/bin/echo", "two words", "$HOME", "a b"]
                    .map(OsString::from)
                    .to_vec()
            )
        );
    }

    #[test]
    fn refusals_say_why_and_list_the_forms() {
        for (text, why) in [
            ("mail", "unknown kind"),
            ("log:loud", "unknown kind"),
            ("signal:", "a signal name is needed"),
            ("signal:BOGUS", "no signal named BOGUS"),
            ("signal:KILL", "cannot be handled"),
            ("exec:", "needs a program"),
            ("exec:echo 'open", "unbalanced quotes"),
            ("exec:/no/such/hook", "no executable program"),
            ("stop", "--limit is where"),
        ] {
            let e = Action::parse(text).unwrap_err();
            assert!(e.contains(why) && e.contains("signal:NAME"), "{text}: {e}");
        }
    }
}
