#!/usr/bin/env bash
# Overshoot past --limit for a program allocating at ~1 GiB/s, in kernel-limit mode (the run's
# own cgroup; needs root) and polled mode (--no-cgroup), plus a flat-out allocator for scale.
#
# The allocator records its own resident size after every 1 MiB it touches (one pwrite of
# /proc/self/statm's figure to a file), so its true peak is known to 1 MiB even though it is
# killed: that, not memwarden's own samples, is what the overshoot is measured on. In kernel
# mode the limit is on the cgroup's charge: its peak, as the kernel recorded it, is read from
# the run's events.
#
#   bench/overshoot.sh [RUNS] [LIMIT_MIB] [RATE_MIB_S]      (defaults: 5, 1024, 1024)
#
# Other scripts may call it: it prints one table on stdout, nothing else there.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-5}
LIMIT_MIB=${2:-1024}
RATE_MIB_S=${3:-1024}

cargo build --release -q -p memwarden-cli
BIN=$PWD/target/release/memwarden
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Allocates 1 MiB at a time at RATE MiB/s (0: as fast as it can), forever; after each step
# writes its resident bytes to PEAKFILE.
cat >"$WORK/alloc.py" <<'EOF'
import os, sys, time
rate = float(sys.argv[1]) * (1 << 20)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
page = os.sysconf("SC_PAGE_SIZE")
statm = os.open("/proc/self/statm", os.O_RDONLY)
chunks = []
start = time.monotonic()
while True:
    chunks.append(bytearray(1 << 20))
    rss = int(os.pread(statm, 64, 0).split()[1]) * page
    os.pwrite(fd, b"%020d" % rss, 0)
    if rate > 0:
        ahead = len(chunks) * (1 << 20) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
EOF

# One run: prints "overshoot_pct stop_s" for the mode ("kernel" or "polled") and rate.
one_run() {
    local mode=$1 rate=$2 n=$3
    local peak="$WORK/peak-$mode-$rate-$n" json="$WORK/run-$mode-$rate-$n.json"
    local flags=()
    [ "$mode" = polled ] && flags+=(--no-cgroup)
    "$BIN" --db "$WORK/bench.db" run -q --limit "${LIMIT_MIB}MiB" --grace 1s "${flags[@]}" \
        --json "$json" -- "$PYTHON" "$WORK/alloc.py" "$rate" "$peak" 2>/dev/null || true
    python3 - "$json" "$peak" "$LIMIT_MIB" "$mode" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
limit = int(sys.argv[3]) << 20
if sys.argv[4] == "kernel":
    # A kernel limit is on the cgroup's charge: its peak, as the kernel recorded it. (The
    # allocator's resident size may be a few MiB more: file pages of the interpreter that were
    # charged to another group first.)
    peak = 0
    for e in r["events"]:
        m = re.search(r"peak charge for the run's cgroup: .* \((\d+) bytes", e["detail"])
        if m:
            peak = int(m.group(1))
    assert peak > 0, r["events"]
else:
    # A polled limit is on the tree's resident memory: the allocator's own last record.
    peak = int(open(sys.argv[2]).read().strip() or 0)
assert r["stopped_by"] == "limit", r["stopped_by"]
at = {e["kind"]: e["at_s"] for e in reversed(r["events"])}
trigger = min(at.get(k, float("inf")) for k in ("limit", "oom-kill"))
stopped = max(e["at_s"] for e in r["events"] if e["kind"] in ("stop", "exit"))
print(f"{(peak - limit) / limit * 100:.2f} {stopped - trigger:.3f}")
EOF
}

summary() {
    python3 -c '
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
o = sorted(r[0] for r in rows); s = sorted(r[1] for r in rows)
print(f"{min(o):+.2f} / {statistics.median(o):+.2f} / {max(o):+.2f} | {statistics.median(s):.3f} s")'
}

modes=(polled)
if [ "$(id -u)" = 0 ]; then
    modes=(kernel polled)
else
    echo "note: not root, so no kernel-limit runs" >&2
fi

echo "limit ${LIMIT_MIB} MiB, ${RUNS} runs each; overshoot % of the limit (min / median / max), median trigger→tree gone"
echo
echo "| mode | allocator | overshoot % min / median / max | stop time |"
echo "|---|---|---|---|"
for mode in "${modes[@]}"; do
    for rate in "$RATE_MIB_S" 0; do
        label="${rate} MiB/s"
        [ "$rate" = 0 ] && label="as fast as it can"
        line=$(for n in $(seq "$RUNS"); do one_run "$mode" "$rate" "$n"; done | summary)
        echo "| $mode | $label | ${line% |*} | ${line#*| } |"
    done
done
