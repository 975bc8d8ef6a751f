//! A run's samples folded into a fixed number of equal slices of time (a chart's pixel
//! columns), each keeping the lowest and highest value of every series and which came first.
//!
//! Drawing the low and the high of each column keeps every peak and every floor visible, however
//! many samples a column holds, while the drawing stays the same size for a run of a minute or of
//! a week. Samples of an empty tree (after the command exited) are left out, as in the report's
//! figures.

use memwarden::sample::Sample;

use super::model::Metric;

/// The series a timeline keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// The run's memory metric (anonymous memory by default).
    Metric = 0,
    /// Resident memory summed over the tree.
    Rss = 1,
    /// The cgroup's charge, when the tree had one.
    Cgroup = 2,
    /// Threads summed over the tree.
    Threads = 3,
    /// Open descriptors summed over the tree.
    Fds = 4,
    /// Live processes.
    Processes = 5,
}

const SERIES: usize = 6;

/// Lowest and highest value of one series in one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// The lowest value.
    pub min: f64,
    /// The highest value.
    pub max: f64,
    /// Whether the lowest came before the highest (the order to draw them in).
    pub min_first: bool,
}

impl Span {
    fn new(v: f64) -> Span {
        Span {
            min: v,
            max: v,
            min_first: true,
        }
    }

    fn add(&mut self, v: f64) {
        if v < self.min {
            self.min = v;
            self.min_first = false;
        }
        if v > self.max {
            self.max = v;
            self.min_first = true;
        }
    }

    fn merge(&mut self, later: &Span) {
        // The merged extremes keep the order they had in time.
        let (min, min_early) = if later.min < self.min {
            (later.min, false)
        } else {
            (self.min, true)
        };
        let (max, max_early) = if later.max > self.max {
            (later.max, false)
        } else {
            (self.max, true)
        };
        self.min_first = match (min_early, max_early) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => self.min_first,
            (false, false) => later.min_first,
        };
        self.min = min;
        self.max = max;
    }

    /// The values in drawing order: low then high, or high then low (once when equal).
    pub fn in_order(&self) -> impl Iterator<Item = f64> {
        let (a, b) = if self.min_first {
            (self.min, self.max)
        } else {
            (self.max, self.min)
        };
        std::iter::once(a).chain((a != b).then_some(b))
    }
}

/// One column: the time of its first and last sample, and each series' span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    /// Seconds since start of the first sample in the column.
    pub t_first: f64,
    /// Seconds since start of the last sample in the column.
    pub t_last: f64,
    /// Samples folded in.
    pub samples: u64,
    spans: [Option<Span>; SERIES],
}

impl Column {
    /// The time to draw the column at: the middle of its samples.
    pub fn t(&self) -> f64 {
        (self.t_first + self.t_last) / 2.0
    }

    /// The span of `series` here (`None` for a cgroup charge the tree did not have).
    pub fn span(&self, series: Series) -> Option<Span> {
        self.spans[series as usize]
    }

    fn merge(&mut self, later: &Column) {
        self.t_last = later.t_last;
        self.samples += later.samples;
        for (a, b) in self.spans.iter_mut().zip(&later.spans) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.merge(b),
                (None, Some(b)) => *a = Some(*b),
                _ => {}
            }
        }
    }
}

/// A run's samples in at most `columns` equal slices of `[t0, t1]`.
#[derive(Debug, Clone)]
pub struct Timeline {
    metric: Metric,
    t0: f64,
    t1: f64,
    columns: Vec<Option<Column>>,
}

impl Timeline {
    /// An empty timeline over `[t0, t1]` seconds with `columns` slices.
    pub fn new(metric: Metric, t0: f64, t1: f64, columns: usize) -> Timeline {
        Timeline {
            metric,
            t0,
            t1: t1.max(t0),
            columns: vec![None; columns.max(1)],
        }
    }

    /// A timeline of these samples.
    #[cfg(test)]
    pub fn of(metric: Metric, samples: &[Sample], columns: usize) -> Timeline {
        let t0 = samples.first().map_or(0.0, |s| s.t);
        let t1 = samples.last().map_or(0.0, |s| s.t);
        let mut tl = Timeline::new(metric, t0, t1, columns);
        for s in samples {
            tl.push(s);
        }
        tl
    }

    /// Folds in one sample; samples of an empty tree are left out.
    pub fn push(&mut self, s: &Sample) {
        if s.tree.processes == 0 {
            return;
        }
        let n = self.columns.len();
        let width = self.t1 - self.t0;
        let i = if width > 0.0 {
            (((s.t - self.t0) / width) * n as f64)
                .floor()
                .clamp(0.0, (n - 1) as f64) as usize
        } else {
            0
        };
        let values: [Option<f64>; SERIES] = [
            Some(self.metric.of(s) as f64),
            Some(s.tree.rss_bytes as f64),
            s.cgroup_bytes.map(|c| c as f64),
            Some(s.tree.threads as f64),
            Some(s.tree.fds as f64),
            Some(f64::from(s.tree.processes)),
        ];
        let c = self.columns[i].get_or_insert(Column {
            t_first: s.t,
            t_last: s.t,
            samples: 0,
            spans: [None; SERIES],
        });
        c.t_last = s.t;
        c.samples += 1;
        for (span, v) in c.spans.iter_mut().zip(values) {
            match (span.as_mut(), v) {
                (Some(span), Some(v)) => span.add(v),
                (None, Some(v)) => *span = Some(Span::new(v)),
                _ => {}
            }
        }
    }

    /// The time range, seconds since start.
    pub fn range(&self) -> (f64, f64) {
        (self.t0, self.t1)
    }

    /// The columns that hold samples, in time order.
    pub fn columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.columns.iter().flatten()
    }

    /// Whether no sample of a live tree was folded in.
    pub fn is_empty(&self) -> bool {
        self.columns().next().is_none()
    }

    /// The highest value of `series` over the run, if it has any.
    pub fn max(&self, series: Series) -> Option<f64> {
        self.columns()
            .filter_map(|c| c.span(series))
            .map(|s| s.max)
            .reduce(f64::max)
    }

    /// The same samples in `n` wider columns (for a sparkline): each of the `n` slices
    /// holds the columns whose first sample falls in it.
    pub fn coarser(&self, n: usize) -> Vec<Option<Column>> {
        let n = n.max(1);
        let mut out: Vec<Option<Column>> = vec![None; n];
        let per = self.columns.len() as f64 / n as f64;
        for (i, c) in self.columns.iter().enumerate() {
            let Some(c) = c else { continue };
            let j = ((i as f64 / per).floor() as usize).min(n - 1);
            match &mut out[j] {
                None => out[j] = Some(*c),
                Some(o) => o.merge(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memwarden::sample::TreeTotals;

    fn sample(t: f64, anon: u64) -> Sample {
        Sample {
            t,
            tree: TreeTotals {
                anon_bytes: anon,
                rss_bytes: anon + 10,
                threads: 2,
                fds: 5,
                processes: 1,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn columns_keep_peaks_floors_and_their_order() {
        // 1000 samples into 10 columns; one spike and one dip in the middle.
        let mut samples: Vec<Sample> = (0..1000).map(|i| sample(i as f64, 100)).collect();
        samples[555].tree.anon_bytes = 900;
        samples[557].tree.anon_bytes = 3;
        let tl = Timeline::of(Metric::Anon, &samples, 10);
        let cols: Vec<&Column> = tl.columns().collect();
        assert_eq!(cols.len(), 10);
        assert_eq!(cols.iter().map(|c| c.samples).sum::<u64>(), 1000);
        let mid = cols[5].span(Series::Metric).unwrap();
        assert_eq!((mid.min, mid.max, mid.min_first), (3.0, 900.0, false));
        assert_eq!(mid.in_order().collect::<Vec<_>>(), [900.0, 3.0]);
        let flat = cols[0].span(Series::Metric).unwrap();
        assert_eq!(flat.in_order().collect::<Vec<_>>(), [100.0]);
        assert_eq!(tl.max(Series::Rss), Some(110.0));
        assert_eq!(tl.max(Series::Cgroup), None);
    }

    #[test]
    fn empty_trees_are_left_out_and_coarser_columns_merge() {
        let mut samples: Vec<Sample> = (0..100).map(|i| sample(i as f64, i as u64)).collect();
        samples[99].tree.processes = 0;
        let tl = Timeline::of(Metric::Anon, &samples, 100);
        assert_eq!(tl.columns().count(), 99);
        let coarse = tl.coarser(10);
        assert_eq!(coarse.len(), 10);
        let first = coarse[0].unwrap();
        let s = first.span(Series::Metric).unwrap();
        assert_eq!((s.min, s.max, s.min_first), (0.0, 9.0, true));
        assert_eq!((first.t_first, first.t_last), (0.0, 9.0));
        let last = coarse[9].unwrap().span(Series::Metric).unwrap();
        assert_eq!(last.max, 98.0);
    }
}
