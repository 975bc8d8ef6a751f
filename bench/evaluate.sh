#!/bin/sh
# Scores the leak detector against S4's rule and a least-squares slope (as specified, and each
# tuned to make no more wrong calls than the detector) on a labeled corpus: seeded synthetic
# shapes, the real traces in ../shared/traces, the scenarios' recorded traces when
# scenarios/traces exists, and any DIR of labeled CSVs given. Measures the detector's
# throughput and writes bench/results/detector-eval.md.
#
#   bench/evaluate.sh [DIR...]
#
# A DIR holds CSV traces (t_seconds,bytes) and a labels.csv (file,leak|ok[,leak_start_s[,rate]],
# or columns named by a header row); `cargo run --release -p memwarden --example evaluate --
# --dump DIR` writes the synthetic corpus in that layout.
set -eu
cd "$(dirname "$0")/.."
if [ -d scenarios/traces ]; then
    set -- scenarios/traces "$@"
fi
exec cargo run --release --quiet -p memwarden --example evaluate -- \
    --out bench/results/detector-eval.md "$@"
