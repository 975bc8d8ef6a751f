//! One threshold with hysteresis: fire once per crossing, re-arm only after a clear drop.
//!
//! Without hysteresis a reading that hovers around the threshold (a sawtooth, a GC'd runtime)
//! would fire on every sample; a cleanup callback then runs in a loop. Re-arming below a
//! fraction of the threshold (90 % by default) means a new crossing needs a real drop first.

/// A threshold that fires when a reading reaches it, then stays quiet until a reading falls
/// below its re-arm level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alarm {
    threshold: u64,
    rearm: u64,
    armed: bool,
}

impl Alarm {
    /// An armed alarm at `threshold` bytes that re-arms below `rearm_fraction × threshold`.
    pub(crate) fn new(threshold: u64, rearm_fraction: f64) -> Self {
        let rearm = (threshold as f64 * rearm_fraction).floor() as u64;
        Alarm {
            threshold,
            rearm: rearm.min(threshold),
            armed: true,
        }
    }

    /// The threshold, bytes.
    pub(crate) fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Takes a reading; true when this reading is a new crossing (the callback should run).
    pub(crate) fn update(&mut self, bytes: u64) -> bool {
        if self.armed && bytes >= self.threshold {
            self.armed = false;
            return true;
        }
        if !self.armed && bytes < self.rearm {
            self.armed = true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_per_crossing() {
        let mut a = Alarm::new(1000, 0.9);
        let fired: Vec<bool> = [500, 1000, 1200, 950, 1001, 899, 950, 1000, 10]
            .iter()
            .map(|&b| a.update(b))
            .collect();
        // 950 and 1001 are inside the hysteresis band: no re-fire until 899 re-arms.
        assert_eq!(
            fired,
            [false, true, false, false, false, false, false, true, false]
        );
    }

    #[test]
    fn a_full_fraction_rearms_just_below() {
        let mut a = Alarm::new(100, 1.0);
        assert!(a.update(100));
        assert!(!a.update(100));
        assert!(!a.update(99));
        assert!(a.update(100));
        assert_eq!(a.threshold(), 100);
    }
}
