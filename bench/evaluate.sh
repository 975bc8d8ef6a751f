#!/bin/sh
# Scores the leak detector against S4's rule and a least-squares slope on a labeled corpus
# (seeded synthetic shapes, the real traces in ../shared/traces, and any DIR of labeled CSVs
# given), measures its throughput, and writes bench/results/detector-eval.md.
#
#   bench/evaluate.sh [DIR...]
#
# A DIR holds CSV traces (t_seconds,bytes) and a labels.csv (file,leak|ok[,leak_start_s]);
# `cargo run --release -p memwarden --example evaluate -- --dump DIR` writes the synthetic
# corpus in that layout.
set -eu
cd "$(dirname "$0")/.."
exec cargo run --release --quiet -p memwarden --example evaluate -- \
    --out bench/results/detector-eval.md "$@"
