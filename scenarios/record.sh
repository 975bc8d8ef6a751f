#!/usr/bin/env bash
# Records every scenario variant under `memwarden run` and exports its samples as a labeled
# trace: scenarios/traces/<scenario>-<variant>.csv, columns
#   t_seconds,rss_bytes,anon_bytes,threads,fds,processes
# (the tree's sums, one row per sample while the command ran; the teardown of leftovers after
# it exited is left out), plus scenarios/traces/labels.csv (leaky = leak, fixed = not a leak).
#
# Usage: scenarios/record.sh [NAME...] [-- SCENARIO-ARGS...]
#   NAME        e.g. s3_collector-leaky (default: all ten variants)
#   SCENARIO-ARGS  passed to every variant, e.g. -- --duration 60 --scale 2
# Env: MEMWARDEN (default: the workspace's debug build, built here), OUT (default
# scenarios/traces), INTERVAL (default 200ms), PYTHON (default python3), TAG (appended to the
# file names: TAG=60s writes s3_collector-leaky-60s.csv).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${OUT:-$here/traces}"
interval="${INTERVAL:-200ms}"
# The real interpreter, not a version manager's shim (whose shell would join the tree).
python="$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')"

names=()
extra=()
while (($#)); do
    if [[ $1 == -- ]]; then
        shift
        extra=("$@")
        break
    fi
    names+=("$1")
    shift
done
all=(s1_spawner-leaky s1_spawner-fixed s2_pipeline-leaky s2_pipeline-fixed
    s3_collector-leaky s3_collector-fixed s4_global_maps-leaky s4_global_maps-fixed
    s5_tasks-leaky s5_tasks-fixed)
((${#names[@]})) || names=("${all[@]}")

bin="${CARGO_TARGET_DIR:-$root/target}/debug"
if [[ -z ${MEMWARDEN:-} ]]; then
    (cd "$root" && cargo build --quiet -p memwarden-cli -p s4-global-maps -p s5-tasks)
    MEMWARDEN="$bin/memwarden"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

for name in "${names[@]}"; do
    scenario="${name%-*}"
    variant="${name##*-}"
    case "$scenario" in
        s1_* | s2_* | s3_*) cmd=("$python" "$here/$scenario/$variant.py") ;;
        s4_* | s5_*) cmd=("$bin/${scenario%%_*}-$variant") ;;
        *)
            echo "record.sh: unknown scenario variant '$name'" >&2
            exit 2
            ;;
    esac
    file="$name${TAG:+-$TAG}"
    echo "record.sh: $file" >&2
    "$MEMWARDEN" run --db "$tmp/runs.db" --interval "$interval" --label "$file" \
        --json "$tmp/$name.json" -- "${cmd[@]}" "${extra[@]}"
    "$MEMWARDEN" report --db "$tmp/runs.db" "$file" --format csv -o "$tmp/$name.csv"
    "$python" - "$tmp/$name.json" "$tmp/$name.csv" "$out/$file.csv" <<'EOF'
import csv, json, sys
report, samples, out = sys.argv[1:]
# Only while the command ran: the teardown of its leftovers after the exit is left out.
ended = min((e["at_s"] for e in json.load(open(report))["events"] if e["kind"] == "exit"),
            default=float("inf"))
cols = ["rss_bytes", "anon_bytes", "threads", "fds", "processes"]
n = 0
with open(samples) as f, open(out, "w") as w:
    w.write("t_seconds," + ",".join(cols) + "\n")
    for row in csv.DictReader(f):
        t = float(row["t_seconds"])
        if int(row["processes"]) > 0 and t <= ended:
            w.write(f"{t:.3f}," + ",".join(row[c] for c in cols) + "\n")
            n += 1
print(f"record.sh: {n} samples -> {out}", file=sys.stderr)
EOF
done

# What each trace in the directory is, for the detector's evaluation.
{
    echo "file,scenario,variant,label,leaks"
    for csv in "$out"/s*_*-*.csv; do
        file="$(basename "$csv")"
        IFS=- read -r scenario variant _ <<<"${file%.csv}"
        case "$scenario-$variant" in
            s1_*-leaky) label=leak leaks="memory processes" ;;
            s5_*-leaky) label=leak leaks="threads fds memory" ;;
            *-leaky) label=leak leaks=memory ;;
            *) label=not-leak leaks=none ;;
        esac
        echo "$file,$scenario,$variant,$label,$leaks"
    done
} >"$out/labels.csv"
