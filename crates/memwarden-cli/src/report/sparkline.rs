//! A sparkline of a series in Unicode blocks, `▁▂▃▄▅▆▇█`, scaled from zero to the series'
//! highest value (so a flat line reads flat and a leak reads as a ramp).

use super::timeline::{Series, Timeline};

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `width` characters of `series`, each the highest value of its slice of the run; a slice
/// without samples (sampling slower than the slices) repeats the one before. Empty when the
/// timeline is.
pub fn sparkline(timeline: &Timeline, series: Series, width: usize) -> String {
    let Some(top) = timeline.max(series).filter(|m| *m > 0.0) else {
        return if timeline.is_empty() {
            String::new()
        } else {
            BLOCKS[0].to_string().repeat(width)
        };
    };
    let mut last = ' ';
    timeline
        .coarser(width)
        .iter()
        .map(|c| {
            if let Some(span) = c.and_then(|c| c.span(series)) {
                let level = (span.max / top * BLOCKS.len() as f64).ceil() as usize;
                last = BLOCKS[level.clamp(1, BLOCKS.len()) - 1];
            }
            last
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Metric;
    use memwarden::sample::{Sample, TreeTotals};

    fn samples(values: &[u64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                t: i as f64,
                tree: TreeTotals {
                    anon_bytes: *v,
                    processes: 1,
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn a_ramp_rises_and_a_flat_line_stays_flat() {
        let ramp: Vec<u64> = (1..=80).collect();
        let tl = Timeline::of(Metric::Anon, &samples(&ramp), 1000);
        assert_eq!(sparkline(&tl, Series::Metric, 8), "▁▂▃▄▅▆▇█");
        let flat = Timeline::of(Metric::Anon, &samples(&[50; 40]), 1000);
        assert_eq!(sparkline(&flat, Series::Metric, 4), "████");
        let zero = Timeline::of(Metric::Anon, &samples(&[0; 4]), 1000);
        assert_eq!(sparkline(&zero, Series::Metric, 3), "▁▁▁");
        let none = Timeline::of(Metric::Anon, &[], 1000);
        assert_eq!(sparkline(&none, Series::Metric, 3), "");
    }

    #[test]
    fn few_samples_make_steps_not_gaps() {
        let tl = Timeline::of(Metric::Anon, &samples(&[10, 20, 40]), 1000);
        assert_eq!(sparkline(&tl, Series::Metric, 9), "▂▂▂▂▄▄▄▄█");
    }

    #[test]
    fn a_short_spike_is_kept() {
        let mut v = vec![10u64; 10_000];
        v[4321] = 80;
        let tl = Timeline::of(Metric::Anon, &samples(&v), 1000);
        let line = sparkline(&tl, Series::Metric, 20);
        assert_eq!(line.chars().filter(|c| *c == '█').count(), 1, "{line}");
        assert_eq!(line.chars().filter(|c| *c == '▁').count(), 19, "{line}");
    }
}
