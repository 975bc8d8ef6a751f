#!/bin/sh
# Scores the leak detector's two verdicts on a labeled corpus and writes
# bench/results/detector-eval.md: the final verdict (the whole run judged once it has ended)
# by run length, rate and noise; the live verdict (during the run) against S4's rule and a
# least-squares slope, as specified and tuned to make no more wrong calls, with its latency
# against wrong calls over its knobs; and the detector's throughput.
#
# The corpus: seeded synthetic shapes, the real programs' traces of bench/corpus/real (whole
# and cut to their first minute and two), the scenarios' recorded traces in scenarios/traces
# (as recorded, and thinned to one sample a second), and any DIR of labeled CSVs given.
#
#   bench/evaluate.sh [DIR...]
#
# A DIR holds CSV traces (t_seconds,bytes) and a labels.csv whose header names its columns:
# file, label (leak, plateau, or anything else for a trace that does not leak), and optionally
# leak_start_s, rate_bytes_per_s, rise_end_s (when a plateau stopped rising);
# `cargo run --release -p memwarden --example evaluate -- --dump DIR` writes the synthetic
# corpus in that layout. It takes about three minutes on two cores, the criterion benchmarks of
# the detector included.
set -eu
cd "$(dirname "$0")/.."
# The detector's criterion figures, which the report quotes.
cargo bench --quiet -p memwarden --bench hot_paths -- detector >/dev/null
exec cargo run --release --quiet -p memwarden --example evaluate -- \
    --out bench/results/detector-eval.md "$@"
