#!/usr/bin/env bash
# The metrics endpoint's cost: `watch` of 2,000 sleeping children at 10 ms with and without
# `--metrics` (scraped every second), alternating; scrape latency, paced and back to back.
# Results in bench/results/metrics.md (see bench/metrics.py for the method).
#
#   bench/metrics.sh [--children N] [--duration S] [--repeats R] [--no-write]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$PWD/bench/out/metrics
mkdir -p "$OUT"
write=(--write "$PWD/bench/results/metrics.md")
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --children|--duration|--repeats) args+=("$1" "$2"); shift 2 ;;
        --no-write) write=(); shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "bench/metrics.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
# 2,000 held statm files and the tree's own: lift the descriptor limit where allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release -q -p memwarden-cli
gcc -O2 -Wall -o "$OUT/tree" bench/src/tree.c
gcc -O2 -Wall -o "$OUT/rusage" bench/src/rusage.c
python3 bench/metrics.py --bin "$PWD/target/release/memwarden" --tree "$OUT/tree" \
    --rusage "$OUT/rusage" --work "$OUT" --command "bench/metrics.sh $*" "${write[@]}" "${args[@]}"
