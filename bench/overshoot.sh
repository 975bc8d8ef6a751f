#!/usr/bin/env bash
# Overshoot past --limit against the allocation rate: how far past the limit a program gets
# that allocates 1 MiB at a time at 0.5, 1 or 2 GiB/s, or 32 MiB chunks as fast as it can
# with 1 and 2 threads — in kernel-limit mode (the run's own cgroup; needs root) and polled
# mode (--no-cgroup), for this tree beside a baseline commit, in the same run, alternating.
#
# The allocator (bench/src/alloc.c) records its own resident size after every chunk, so its
# true peak is known to one chunk though it is killed: that, not memwarden's own samples, is
# what a polled limit's overshoot is measured on. A kernel limit is on the cgroup's charge: its
# peak, as the kernel recorded it, is read from the run's events. memwarden's own CPU time per
# run (wait4) is the cost of sampling faster near the limit.
#
#   bench/overshoot.sh [--runs N] [--limit MIB] [--baseline REF] [--write FILE]
#
# Defaults: 5 runs, 400 MiB (the size of the integration test's hog), baseline a88c2f2 (before
# the limit stopped the tree with SIGSTOP first and sampled faster near it). It prints one
# Markdown table on stdout; --write also saves it under a heading with the machine and date.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/overshoot
runs=5
limit=400
baseline=a88c2f2
write=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --write) write=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "bench/overshoot.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
cargo build --release -q -p memwarden-cli
rev=$(git rev-parse --short "$baseline")
base_src=$OUT/baseline-$rev
if [ ! -x "$base_src/target/release/memwarden" ]; then
    echo "building the baseline $rev (release, once)..." >&2
    rm -rf "$base_src" && mkdir -p "$base_src"
    git archive "$rev" | tar -x -C "$base_src"
    (cd "$base_src" && cargo build --release -q -p memwarden-cli)
fi
gcc -O2 -Wall -pthread -o "$OUT/alloc" bench/src/alloc.c
gcc -O2 -Wall -o "$OUT/rusage" bench/src/rusage.c
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# One run: prints "overshoot_pct memwarden_cpu_s".
one_run() {
    local bin=$1 mode=$2 rate=$3 threads=$4 chunk=$5 n=$6
    local tag="$mode-$rate-$threads-$n-$RANDOM"
    local flags=()
    [ "$mode" = polled ] && flags+=(--no-cgroup)
    "$OUT/rusage" "$WORK/usage-$tag" "$bin" --db "$WORK/bench.db" run -q --limit "${limit}MiB" \
        --grace 1s "${flags[@]}" --json "$WORK/run-$tag.json" -- \
        "$OUT/alloc" "$rate" "$threads" "$chunk" "$WORK/peak-$tag" 2>/dev/null || true
    python3 - "$WORK/run-$tag.json" "$WORK/peak-$tag" "$limit" "$mode" "$WORK/usage-$tag" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
limit = int(sys.argv[3]) << 20
if sys.argv[4] == "kernel":
    peak = max(int(m.group(1)) for e in r["events"]
               for m in [re.search(r"peak charge for the run's cgroup: .* \((\d+) bytes", e["detail"])] if m)
else:
    peak = int(open(sys.argv[2]).read().strip() or 0)
assert r["stopped_by"] == "limit", r["stopped_by"]
cpu = float(re.search(r"cpu_s=([0-9.]+)", open(sys.argv[5]).read()).group(1))
print(f"{(peak - limit) / limit * 100:.2f} {cpu:.3f}")
PY
}

summary() {
    python3 -c '
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
o = sorted(r[0] for r in rows); c = [r[1] for r in rows]
print(f"{statistics.median(o):+.2f} / {max(o):+.2f} | {statistics.median(c):.2f} s")'
}

modes=(polled)
[ "$(id -u)" = 0 ] && modes=(kernel polled)
table="| mode | allocator | baseline $rev: overshoot % median / max | its CPU | this tree: overshoot % median / max | its CPU |
|---|---|---|---|---|---|"
for mode in "${modes[@]}"; do
    for spec in "512 1 1" "1024 1 1" "2048 1 1" "0 1 32" "0 2 32"; do
        read -r rate threads chunk <<<"$spec"
        label="$((rate / 1024)).$(( (rate % 1024) * 10 / 1024 )) GiB/s, 1 MiB steps"
        [ "$rate" = 0 ] && label="as fast as it can, $threads thread(s), 32 MiB chunks"
        base="" new=""
        for n in $(seq "$runs"); do
            base+=$(one_run "$base_src/target/release/memwarden" "$mode" "$rate" "$threads" "$chunk" "$n")$'\n'
            new+=$(one_run "$ROOT/target/release/memwarden" "$mode" "$rate" "$threads" "$chunk" "$n")$'\n'
        done
        b=$(printf '%s' "$base" | summary) a=$(printf '%s' "$new" | summary)
        table+=$'\n'"| $mode | $label | ${b% |*} | ${b#*| } | ${a% |*} | ${a#*| } |"
    done
done
echo "$table"
if [ -n "$write" ]; then
    {
        echo "## \`bench/overshoot.sh --runs $runs --limit $limit\`"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1 /proc/loadavg) at the end; limit $limit MiB, $runs runs of each."
        echo
        echo "$table"
        echo
    } >>"$write"
fi
