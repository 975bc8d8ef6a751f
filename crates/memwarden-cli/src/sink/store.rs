//! The store as a sink: records go to the writer thread ([`Recorder`]), which opens the
//! database and commits them in batches; the loop never waits for the disk.

use super::Sink;
use crate::record::Record;
use crate::store::writer::Recorder;

impl Sink for Recorder {
    fn accept(&mut self, record: &Record) {
        match record {
            Record::End(end) => self.end(end.clone()),
            Record::Line(_) => {}
            other => self.send(other.clone()),
        }
    }

    fn run_id(&self) -> Option<i64> {
        Recorder::run_id(self)
    }

    fn take_failure(&mut self) -> Option<String> {
        Recorder::take_failure(self)
    }

    fn finish(&mut self) -> Option<String> {
        self.wait()
    }
}
