#!/usr/bin/env bash
# memwarden's benchmarks, side by side in one run (results and targets in BENCHMARKS.md):
#   1. sampling cost per process per sample on trees of 1, 50, 500 and 2,000 sleeping children,
#      for memwarden, psrecord, mprof and two floors (naive open/read/close of stat + statm;
#      one pread of a held statm), with ratios;
#   2. memwarden's own memory while watching 2,000 processes, and over a soak;
#   3. `analyze` throughput on a synthetic trace of 10 M points;
#   4. overshoot past --limit (bench/overshoot.sh, kernel and polled modes);
#   5. the store's size for a 24-hour run at 1 s;
#   6. criterion micro-benchmarks of the hot paths.
# It prints a one-line verdict per target and rewrites BENCHMARKS.md (with bench/NOTES.md).
#
#   bench/run.sh [--soak-minutes M] [--repeats R] [--only LIST] [--quick] [--no-write]
#
#   --soak-minutes M   soak length (default 5; the committed BENCHMARKS.md says what it used)
#   --repeats R        rounds of each sampling measurement, and analyze runs (default 3)
#   --only LIST        comma-separated subset of sampling,soak,analyze,overshoot,store,micro
#   --quick            a smoke test: 2 s runs, one round, 1 M points, 1-minute soak, 2 overshoot runs
#   --no-write         print the verdicts, leave BENCHMARKS.md alone (results in bench/out/)
#
# Needs: Linux, Rust (cargo), gcc, python3 with venv (Debian: python3-venv). Root lets the
# overshoot script measure the kernel-limit mode too and lifts the descriptor limit for the
# 2,000-process tree. About 20 minutes with the defaults, most of it the sampling rounds and
# the soak; the first build takes a few minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
VENV=$ROOT/bench/.venv
COMMAND="bench/run.sh $*"

args=()
write=1
micro=1
quick=0
only=sampling,soak,analyze,overshoot,store,micro
while [ $# -gt 0 ]; do
    case $1 in
        --soak-minutes) args+=(--soak-minutes "$2"); shift 2 ;;
        --repeats) args+=(--repeats "$2"); shift 2 ;;
        --only) only=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --no-write) write=0; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$quick" = 1 ]; then
    args=(--duration 2 --duration-500 2 --repeats 1 --points 1000000 --soak-minutes 1
          --overshoot-runs 2 "${args[@]}")
fi
case ,$only, in *,micro,*) ;; *) micro=0 ;; esac

mkdir -p "$OUT"
echo "building (release)..." >&2
cargo build --release -q -p memwarden-cli
cargo build --release -q -p memwarden-cli --example store_day
gcc -O2 -Wall -o "$OUT/tree" bench/src/tree.c
gcc -O2 -Wall -o "$OUT/floor" bench/src/floor.c
gcc -O2 -Wall -o "$OUT/gentrace" bench/src/gentrace.c
gcc -O2 -Wall -o "$OUT/rusage" bench/src/rusage.c

if [ ! -x "$VENV/bin/psrecord" ] || [ ! -x "$VENV/bin/mprof" ]; then
    echo "installing psrecord and memory_profiler into bench/.venv..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check psrecord memory_profiler
fi

# 2,000 held statm files and more: lift the soft descriptor limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$micro" = 1 ]; then
    echo "micro-benchmarks (criterion)..." >&2
    rm -rf target/criterion
    crit=(--warm-up-time 1 --measurement-time 3 --noplot)
    [ "$quick" = 1 ] && crit=(--warm-up-time 0.5 --measurement-time 1 --noplot)
    cargo bench -q -p memwarden --bench hot_paths -- "${crit[@]}" >&2
    cargo bench -q -p memwarden-cli --bench store -- "${crit[@]}" >&2
fi

write_args=()
[ "$write" = 1 ] && write_args=(--write "$ROOT/BENCHMARKS.md" --notes "$ROOT/bench/NOTES.md")
status=0
python3 bench/bench.py --root "$ROOT" --bin "$ROOT/target/release/memwarden" \
    --tree "$OUT/tree" --floor "$OUT/floor" --gentrace "$OUT/gentrace" --rusage "$OUT/rusage" \
    --store-day "$ROOT/target/release/examples/store_day" --venv "$VENV" --work "$OUT" \
    --only "$only" --command "$COMMAND" "${args[@]}" "${write_args[@]}" || status=$?
exit $status
