//! The floor of a series: the minimum of each time bucket, in bounded memory.
//!
//! Buckets have one width, measured from the first sample. When a sample falls beyond the last
//! of `max` buckets, the width doubles and neighbouring buckets merge (keeping the smaller
//! minimum), so the buckets always cover the whole run at a resolution of about 1/64..1/128 of
//! its length. A week costs the same memory as a minute, and a push is O(1) amortized: a merge
//! pass is O(max) and happens only when the run's length doubles.

/// The minimum of one time bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    /// Index of the bucket from the first sample, in units of the current width.
    pub index: u64,
    /// Time of the minimum (the caller's clock).
    pub t: f64,
    /// The minimum value seen in the bucket.
    pub value: f64,
}

/// Minimum per time bucket over the whole run, with at most `max` buckets.
#[derive(Debug, Clone)]
pub(crate) struct FloorBuckets {
    origin: Option<f64>,
    width: f64,
    inv_width: f64,
    max: u64,
    /// In time order; the last one is still open (its bucket has not ended yet).
    buckets: Vec<Bucket>,
}

impl FloorBuckets {
    /// Buckets `width` seconds wide to start with, never more than `max` of them (≥ 2).
    pub fn new(width: f64, max: usize) -> Self {
        let width = if width.is_finite() && width > 0.0 {
            width
        } else {
            1.0
        };
        let max = max.max(2);
        FloorBuckets {
            origin: None,
            width,
            inv_width: 1.0 / width,
            max: max as u64,
            buckets: Vec::with_capacity(max),
        }
    }

    /// Adds a sample; returns true when it opened a new bucket (so the previous one closed).
    ///
    /// The caller guarantees finite values and non-decreasing times.
    #[inline]
    pub fn push(&mut self, t: f64, value: f64) -> bool {
        let origin = *self.origin.get_or_insert(t);
        let mut index = ((t - origin) * self.inv_width) as u64;
        while index >= self.max {
            self.coarsen();
            index = ((t - origin) * self.inv_width) as u64;
        }
        match self.buckets.last_mut() {
            Some(last) if last.index == index => {
                if value < last.value {
                    last.value = value;
                    last.t = t;
                }
                false
            }
            last => {
                let closed = last.is_some();
                self.buckets.push(Bucket { index, t, value });
                closed
            }
        }
    }

    /// Doubles the width and merges each pair of neighbours into one bucket.
    fn coarsen(&mut self) {
        self.width *= 2.0;
        self.inv_width = 1.0 / self.width;
        let mut kept = 0;
        for i in 0..self.buckets.len() {
            let mut b = self.buckets[i];
            b.index /= 2;
            if kept > 0 && self.buckets[kept - 1].index == b.index {
                let prev = &mut self.buckets[kept - 1];
                if b.value < prev.value {
                    prev.value = b.value;
                    prev.t = b.t;
                }
            } else {
                self.buckets[kept] = b;
                kept += 1;
            }
        }
        self.buckets.truncate(kept);
    }

    /// The closed buckets, oldest first (the open one is partial, so its minimum is biased high).
    pub fn closed(&self) -> &[Bucket] {
        let n = self.buckets.len();
        &self.buckets[..n.saturating_sub(1)]
    }

    /// Every bucket, the open one last.
    pub fn all(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The floor as `(time, minimum)` points: the closed buckets, and the open one too when
    /// `open` is set.
    pub fn points(&self, open: bool) -> impl Iterator<Item = (f64, f64)> + '_ {
        let buckets = if open { self.all() } else { self.closed() };
        buckets.iter().map(|b| (b.t, b.value))
    }

    /// Whether the open bucket, at time `now` with samples `gap` seconds apart, has covered
    /// `share` of its width (counting the sample it would get next): its minimum is then
    /// about as low as a closed bucket's.
    pub fn open_covered(&self, now: f64, gap: f64, share: f64) -> bool {
        match (self.origin, self.buckets.last()) {
            (Some(origin), Some(b)) => {
                let start = origin + b.index as f64 * self.width;
                now - start + gap >= share * self.width
            }
            _ => false,
        }
    }

    /// Current bucket width in seconds.
    #[cfg(test)]
    pub fn width(&self) -> f64 {
        self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_minimum_of_each_bucket() {
        let mut f = FloorBuckets::new(1.0, 8);
        assert!(!f.push(0.0, 5.0));
        assert!(!f.push(0.5, 3.0));
        assert!(!f.push(0.9, 4.0));
        assert!(f.push(1.2, 9.0));
        assert_eq!(
            f.closed(),
            &[Bucket {
                index: 0,
                t: 0.5,
                value: 3.0
            }]
        );
        assert_eq!(f.all().len(), 2);
    }

    #[test]
    fn merges_neighbours_when_full() {
        let mut f = FloorBuckets::new(1.0, 4);
        for (t, v) in [(0.0, 4.0), (1.0, 3.0), (2.0, 2.0), (3.0, 1.0)] {
            f.push(t, v);
        }
        assert_eq!(f.all().len(), 4);
        f.push(4.0, 0.5);
        assert_eq!(f.width(), 2.0);
        let values: Vec<f64> = f.all().iter().map(|b| b.value).collect();
        assert_eq!(values, vec![3.0, 1.0, 0.5]);
        let times: Vec<f64> = f.all().iter().map(|b| b.t).collect();
        assert_eq!(times, vec![1.0, 3.0, 4.0]);
    }

    #[test]
    fn a_gap_coarsens_as_often_as_needed() {
        let mut f = FloorBuckets::new(1.0, 4);
        f.push(0.0, 1.0);
        f.push(1000.0, 2.0);
        assert!(f.width() >= 250.0);
        assert_eq!(f.all().len(), 2);
    }

    #[test]
    fn stays_bounded_over_a_long_run() {
        let mut f = FloorBuckets::new(1.0, 128);
        let mut max_len = 0;
        for i in 0..2_000_000u64 {
            f.push(i as f64 * 0.01, (i % 977) as f64);
            max_len = max_len.max(f.all().len());
        }
        assert!(max_len <= 128);
        assert!(f.all().len() > 64);
    }

    #[test]
    fn odd_widths_fall_back_to_one_second() {
        assert_eq!(FloorBuckets::new(f64::NAN, 10).width(), 1.0);
        assert_eq!(FloorBuckets::new(-3.0, 10).width(), 1.0);
        assert_eq!(FloorBuckets::new(0.0, 10).width(), 1.0);
    }
}
