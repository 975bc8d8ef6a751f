//! Sinks: where a session's records go — the store's writer, the live status line on a
//! terminal, the metrics endpoint. The loop hands each of them every [`Record`]; a sink never
//! blocks it (the store writes on its own thread, the status line draws at most a few times a
//! second, the metrics endpoint only updates figures it serves from another thread).

pub mod console;
pub mod metrics;
mod store;

use crate::record::Record;

/// One consumer of a session's records.
pub trait Sink {
    /// Takes one record; must return quickly.
    fn accept(&mut self, record: &Record);

    /// The run's id in the store, once the store has given one.
    fn run_id(&self) -> Option<i64> {
        None
    }

    /// A failure to tell the user now, at most once.
    fn take_failure(&mut self) -> Option<String> {
        None
    }

    /// After the end record: waits for what is pending; what could not be kept, in words.
    fn finish(&mut self) -> Option<String> {
        None
    }
}

/// Every sink of a session.
#[derive(Default)]
pub struct Sinks(Vec<Box<dyn Sink>>);

impl Sinks {
    /// Adds a sink.
    pub fn push(&mut self, sink: Box<dyn Sink>) {
        self.0.push(sink);
    }

    /// Hands `record` to every sink.
    pub fn accept(&mut self, record: &Record) {
        for sink in &mut self.0 {
            sink.accept(record);
        }
    }

    /// The run's id in the store, if recorded.
    pub fn run_id(&self) -> Option<i64> {
        self.0.iter().find_map(|s| s.run_id())
    }

    /// Failures to tell the user now.
    pub fn take_failures(&mut self) -> Vec<String> {
        self.0.iter_mut().filter_map(|s| s.take_failure()).collect()
    }

    /// Finishes every sink; what could not be kept.
    pub fn finish(&mut self) -> Vec<String> {
        self.0.iter_mut().filter_map(|s| s.finish()).collect()
    }
}
