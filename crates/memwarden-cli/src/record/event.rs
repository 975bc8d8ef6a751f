//! What happened during a run, at a time: the events every report lists.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the run started.
    pub at_s: f64,
    /// What kind of thing.
    pub kind: EventKind,
    /// What happened, in words.
    pub detail: String,
}

impl Event {
    /// An event of `kind` at `at_s`.
    pub fn new(at_s: f64, kind: EventKind, detail: impl Into<String>) -> Self {
        Event {
            at_s,
            kind,
            detail: detail.into(),
        }
    }
}

macro_rules! event_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// The kinds of events memwarden records; each has a stable name in JSON and the store.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($(#[doc = $doc])* $variant,)*
            /// A kind this version does not know (recorded by a newer memwarden).
            Other(String),
        }

        impl EventKind {
            /// The kind's name: `start`, `oom-kill`...
            pub fn as_str(&self) -> &str {
                match self {
                    $(EventKind::$variant => $name,)*
                    EventKind::Other(name) => name,
                }
            }

            /// The kind named `name`.
            pub fn from_name(name: &str) -> EventKind {
                match name {
                    $($name => EventKind::$variant,)*
                    other => EventKind::Other(other.to_string()),
                }
            }
        }
    };
}

event_kinds! {
    /// The command started (or watching began).
    Start = "start",
    /// The command exited (or, in `watch`, a watched process did).
    Exit = "exit",
    /// A signal sent to memwarden was forwarded to the command, or ended the watch.
    Signal = "signal",
    /// Processes outlived the command.
    Leftovers = "leftovers",
    /// memwarden stopped (part of) the tree, or could not.
    Stop = "stop",
    /// The store could not record part of the run.
    StoreError = "store-error",
    /// A resource's leak verdict changed.
    Verdict = "verdict",
    /// A CI gate (`--fail-on-leak`, `--max-growth`) failed.
    Gate = "gate",
    /// What guards the run (limits, floor, timeout) and how, as set up at the start.
    Guard = "guard",
    /// The tree reached the `--warn` threshold.
    Warn = "warn",
    /// The tree fell back below the warning's re-arm level.
    Rearm = "rearm",
    /// memwarden acted on a trigger: logged, sent a signal, started a hook (or could not).
    Action = "action",
    /// A hook ended (its status), or was killed at its timeout.
    Hook = "hook",
    /// The tree reached `--limit`, or the kernel acted at it.
    Limit = "limit",
    /// The kernel's OOM killer killed processes in the run's cgroup.
    OomKill = "oom-kill",
    /// The machine's available memory or pressure passed `--system-floor` / `--pressure`.
    SystemFloor = "system-floor",
    /// `--timeout` passed.
    Timeout = "timeout",
    /// A leak was called (`--on-leak`), or the projected time to the limit fell below
    /// `--act-before`.
    Leak = "leak",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(EventKind::from_name(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_names_and_unknown_ones_survive() {
        for kind in [EventKind::OomKill, EventKind::StoreError, EventKind::Start] {
            assert_eq!(EventKind::from_name(kind.as_str()), kind);
        }
        assert_eq!(EventKind::OomKill.to_string(), "oom-kill");
        let newer = EventKind::from_name("heap-site");
        assert_eq!(newer, EventKind::Other("heap-site".into()));
        assert_eq!(serde_json::to_string(&newer).unwrap(), r#""heap-site""#);
    }
}
