#!/usr/bin/env bash
# The cost of `memwarden run --heap` (results in bench/results/heap.md), side by side in one run:
#   1. wall time and CPU time on allocation-heavy real programs at the default sample interval:
#      GCC's compiler proper (cc1 -O0; heaptrack 1.4 aborts on -O1) on the preprocessed SQLite
#      amalgamation, the sqlite3 shell building and querying a million-row table with JSON
#      functions, scenario S4 at ten times its rate, and a loop of small malloc/free pairs (the
#      worst case per call); each plain, under `memwarden run` and under `memwarden run --heap`
#      in every round, under heaptrack in every third, in a shuffled order each round (medians,
#      with a bootstrap 95 % interval of the --heap overhead);
#   2. the interposer's memory per process: anonymous memory of a churning program with and
#      without it, after a short and a long run, and with its live-sample set full.
#
#   bench/heap.sh [--rounds N] [--quick] [--no-write]
#
# Needs: gcc, sqlite3 and heaptrack (Debian: apt-get install -y sqlite3 heaptrack), cargo.
# About 15 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/heap
rounds=9
write=1
long=100
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --quick) rounds=3; long=20; shift ;;
        --no-write) write=0; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "bench/heap.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for tool in gcc sqlite3 heaptrack python3; do
    command -v "$tool" >/dev/null || { echo "bench/heap.sh: $tool is missing (see --help)" >&2; exit 2; }
done

mkdir -p "$OUT"
echo "building (release)..." >&2
cargo build --release -q -p memwarden-cli -p s4-global-maps
gcc -O2 -Wall -o "$OUT/churn" bench/src/heap_churn.c
SQLITE_C=$(ls ~/.cargo/registry/src/*/libsqlite3-sys-*/sqlite3/sqlite3.c 2>/dev/null | head -1)
[ -n "$SQLITE_C" ] || { echo "bench/heap.sh: the SQLite amalgamation (crate libsqlite3-sys) is not in cargo's registry" >&2; exit 2; }
gcc -E "$SQLITE_C" -o "$OUT/sqlite3.i"
CC1=$(gcc -print-prog-name=cc1)
cat > "$OUT/db.sql" <<'SQL'
CREATE TABLE t AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000000)
  SELECT i AS id, i % 1000 AS k, hex(randomblob(24)) AS v FROM c;
CREATE INDEX t_v ON t(v);
SELECT count(*), sum(length(j)) FROM (SELECT k, json_group_array(json_object('id', id, 'v', v)) AS j FROM t GROUP BY k);
SELECT count(*) FROM t, json_each(json_array(t.v, t.k, t.id, lower(t.v)));
SELECT k, group_concat(v, ',') FROM t GROUP BY k ORDER BY 2 LIMIT 1;
SELECT count(DISTINCT substr(v, 1, 6)) FROM t;
SQL

MW=$ROOT/target/release/memwarden
S4=$ROOT/target/release/s4-leaky
export MW OUT CC1 S4
python3 - "$rounds" "$long" "$write" <<'PY'
import json, os, platform, random, resource, statistics, subprocess, sys, time

rounds, long_s, write = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
MW, OUT, CC1, S4 = (os.environ[k] for k in ("MW", "OUT", "CC1", "S4"))
db = os.path.join(OUT, "runs.db")
for f in (db, db + "-wal", db + "-shm"):
    if os.path.exists(f):
        os.remove(f)

def clean():
    for f in os.listdir(OUT):
        if f.startswith(("bench.sqlite", "heaptrack.")):
            os.remove(os.path.join(OUT, f))

WORKLOADS = {
    "cc1 -O0 sqlite3.c (GCC 12)": [CC1, "-quiet", "-fpreprocessed", "-O0", f"{OUT}/sqlite3.i", "-o", "/dev/null"],
    "sqlite3 shell (1M rows, index, JSON queries)": ["sqlite3", "-init", f"{OUT}/db.sql", ":memory:", ".quit"],
    "S4 leaky at 10x rate (10 s)": [S4, "--duration", "10", "--scale", "10"],
    "malloc/free loop, 50 M pairs of 16–528 B (worst case per call)": [f"{OUT}/churn", "50", "0", "528"],
}
CONFIGS = {
    "plain": lambda c: c,
    "memwarden run": lambda c: [MW, "run", "-q", "--db", db, "--"] + c,
    "memwarden run --heap": lambda c: [MW, "run", "-q", "--heap", "--db", db, "--"] + c,
    "heaptrack": lambda c: ["heaptrack", "-o", os.path.join(OUT, "heaptrack.out")] + c,
}

def measure(cmd):
    clean()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu

# heaptrack costs tens of percent: a few rounds tell its overhead; ours needs all of them.
shuffle = random.Random(1)
results = {}
for name, cmd in WORKLOADS.items():
    for config in CONFIGS:
        results[(name, config)] = []
    for r in range(rounds):
        configs = [c for c in CONFIGS if c != "heaptrack" or r % 3 == 0]
        shuffle.shuffle(configs)
        for config in configs:
            results[(name, config)].append(measure(CONFIGS[config](cmd)))
            print(f"{name} / {config} round {r + 1}: {results[(name, config)][-1][0]:.2f} s", file=sys.stderr)

def overhead_interval(name, i):
    """The --heap overhead (ratio of medians, %) and its bootstrap 95 % interval over the rounds."""
    ours = [x[i] for x in results[(name, "memwarden run --heap")]]
    base = [x[i] for x in results[(name, "memwarden run")]]
    draw = random.Random(2)
    boot = sorted(
        (statistics.median(draw.choices(ours, k=len(ours))) / statistics.median(draw.choices(base, k=len(base))) - 1) * 100
        for _ in range(2000))
    return (statistics.median(ours) / statistics.median(base) - 1) * 100, boot[50], boot[1949]

def med(name, config, i):
    return statistics.median(x[i] for x in results[(name, config)])

# Memory of the interposer: the churn program's anonymous memory with and without it.
def churn_anon(args, heap, extra=()):
    cmd = [MW, "run", "-q", "--db", db] + (["--heap", *extra] if heap else []) + ["--", os.path.join(OUT, "churn"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return int(out.split("rss_anon_kib ")[1])

memory = []
for label, args, extra in [
    ("churn, 10 M operations", ["10"], ()),
    (f"churn, {long_s} M operations", [str(long_s)], ()),
    ("churn + a 4 KiB leak every 200 operations, 10 M operations (156 MiB leaked), 4 KiB samples: the live set full",
     ["10", "200"], ("--heap-sample", "4KiB")),
]:
    without, with_ = churn_anon(args, False), churn_anon(args, True, extra)
    memory.append((label, without, with_))
    print(f"{label}: {without} KiB without, {with_} KiB with", file=sys.stderr)

lines = []
machine = f"{platform.node()}, {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}"
lines += ["# `run --heap`: overhead and memory", "",
          f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine} (shared with other "
          f"work: ratios within one run are what to read), by `bench/heap.sh --rounds {rounds}`.", "",
          f"Medians of {rounds} rounds in a shuffled order (heaptrack: every third round). *--heap overhead* "
          "is `memwarden run --heap` against `memwarden run` (what turning `--heap` on costs), with its bootstrap "
          "95 % interval over the rounds; heaptrack's is against the plain command. Targets: --heap overhead "
          "≤ 3 % wall at the default sample interval (512 KiB), at least 20× less than heaptrack's.", "",
          "| workload | plain | memwarden run | run --heap | heaptrack | --heap overhead, wall | --heap overhead, CPU | heaptrack overhead (wall / CPU) | ratio (wall / CPU) |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
NOISE = 0.5  # % below which an overhead is taken as this, for ratios: the rounds' noise is larger

def ratio(theirs, ours):
    if theirs <= NOISE:
        return "n/a"
    return f"{theirs / max(ours, NOISE):.0f}×" + (" (ours within noise)" if ours < NOISE else "")

def interval(o, lo, hi):
    return f"{o:+.1f} % ({lo:+.1f} … {hi:+.1f})"

for name in WORKLOADS:
    p, r, h, t = (med(name, c, 0) for c in CONFIGS)
    pc, rc, hc, tc = (med(name, c, 1) for c in CONFIGS)
    ho, hoc = overhead_interval(name, 0), overhead_interval(name, 1)
    to, toc = (t - p) / p * 100, (tc - pc) / pc * 100
    lines.append(f"| {name} | {p:.2f} s | {r:.2f} s | {h:.2f} s | {t:.2f} s | {interval(*ho)} | {interval(*hoc)} | "
                 f"{to:+.0f} % / {toc:+.0f} % | {ratio(to, ho[0])} / {ratio(toc, hoc[0])} |")
lines += ["", "S4 runs for a fixed time, so its wall time cannot grow much: its CPU overhead is the figure to read.", "",
          "## Interposer memory per process", "",
          "Anonymous memory (RssAnon) of `bench/src/heap_churn.c` at its end (the same allocations either way), "
          "under `memwarden run` with and without `--heap`; the difference is the interposer's (its filter, its live-sample set, the unwinder and "
          "its tables of the loaded objects). Target: ≤ 4 MiB whatever the run's length.", "",
          "| run | without | with --heap | interposer |", "|---|---:|---:|---:|"]
for label, without, with_ in memory:
    lines.append(f"| {label} | {without / 1024:.1f} MiB | {with_ / 1024:.1f} MiB | {(with_ - without) / 1024:.2f} MiB |")
text = "\n".join(lines) + "\n"
print(text)
if write:
    with open(os.path.join(os.getcwd(), "bench/results/heap.md"), "w") as f:
        f.write(text)
PY
