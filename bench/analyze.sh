#!/usr/bin/env bash
# `memwarden analyze`: resident memory and speed on a synthetic trace of N points (10 M by
# default), this tree measured beside a baseline commit built from the same repository, in
# the same run, alternating; then hostile inputs (a device of zeros, a 100 MB line, a FIFO).
# Results go to bench/results/analyze.md (see bench/analyze.py for the method).
#
#   bench/analyze.sh [--baseline REF] [--points N] [--repeats R] [--no-write]
#
#   --baseline REF   the commit to compare with (default a88c2f2, the last one that read a
#                    trace whole before judging it)
#   --points N       points in the synthetic trace (default 10000000, 287 MiB of CSV)
#   --repeats R      runs of each build, alternating (default 5)
#   --no-write       print the results, leave bench/results/analyze.md alone
#
# Needs: Linux, Rust (cargo), gcc, python3, git. The baseline's first build takes a few
# minutes; it is kept in bench/out/analyze/ for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/analyze
baseline=a88c2f2
points=10000000
repeats=5
write=1
while [ $# -gt 0 ]; do
    case $1 in
        --baseline) baseline=$2; shift 2 ;;
        --points) points=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --no-write) write=0; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench/analyze.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
rev=$(git rev-parse --short "$baseline")
base_src=$OUT/baseline-$rev
echo "building this tree (release)..." >&2
cargo build --release -q -p memwarden-cli
if [ ! -x "$base_src/target/release/memwarden" ]; then
    echo "building the baseline $rev (release, once)..." >&2
    rm -rf "$base_src"
    mkdir -p "$base_src"
    git archive "$rev" | tar -x -C "$base_src"
    (cd "$base_src" && cargo build --release -q -p memwarden-cli)
fi
gcc -O2 -Wall -o "$OUT/gentrace" bench/src/gentrace.c
gcc -O2 -Wall -o "$OUT/rusage" bench/src/rusage.c
write_args=()
[ "$write" = 1 ] && write_args=(--write "$ROOT/bench/results/analyze.md")
python3 bench/analyze.py --new "$ROOT/target/release/memwarden" \
    --baseline "$base_src/target/release/memwarden" --baseline-rev "$rev" \
    --gentrace "$OUT/gentrace" --rusage "$OUT/rusage" --work "$OUT" \
    --points "$points" --repeats "$repeats" --command "bench/analyze.sh $*" "${write_args[@]}"
