#!/usr/bin/env bash
# The cost of `memwarden top` beside procps `top -b -d 1` and prometheus-process-exporter
# (scraped every second), on 2,000 processes in 500 commands, and memwarden's own memory over a
# soak with processes coming and going. Writes bench/results/top.md (machine and date in it).
#
#   bench/top.sh [--seconds S] [--soak-minutes M] [--quick]
#
#   --seconds S        how long each tool samples (default 60)
#   --soak-minutes M   the soak (default 10, the recorded run's)
#   --quick            a smoke test: 10 s each, a 2-minute soak, results in bench/out/top.md
#
# Needs Linux, cargo, gcc, python3; as root it installs procps and prometheus-process-exporter
# with apt-get when they are missing. About 15 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
soak=10
out=bench/results/top.md
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --soak-minutes) soak=$2; shift 2 ;;
        --quick) seconds=10; soak=2; out=bench/out/top.md; shift ;;
        *) echo "bench/top.sh: unknown option $1 (see the header of this script)" >&2; exit 2 ;;
    esac
done
if ! command -v prometheus-process-exporter >/dev/null || ! command -v top >/dev/null; then
    apt-get install -y procps prometheus-process-exporter >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y procps prometheus-process-exporter >/dev/null; }
fi
mkdir -p bench/out
cargo build --release -p memwarden-cli >&2
gcc -O2 -o bench/out/rusage bench/src/rusage.c
gcc -O2 -o bench/out/floor bench/src/floor.c
# 2,000 processes and a held descriptor for each.
ulimit -n "$(ulimit -Hn)"
python3 bench/top.py --memwarden target/release/memwarden --rusage bench/out/rusage \
    --floor bench/out/floor \
    --seconds "$seconds" --soak-minutes "$soak" --out "$out" --command "bench/top.sh $*"
