//! The store as a sink: records go to the writer thread ([`Recorder`]), which commits them in
//! batches; the loop never waits for the disk.

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
        self.run_id()
    }

    fn take_failure(&mut self) -> Option<String> {
        Recorder::take_failure(self).map(|f| format!("cannot record this run: {f}"))
    }

    fn finish(&mut self) -> Option<String> {
        let loss = self.wait()?;
        Some(format!(
            "{} records were not stored: {}",
            loss.records, loss.reason
        ))
    }
}
