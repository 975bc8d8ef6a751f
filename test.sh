#!/usr/bin/env bash
# Every test of the repository, from nothing on a Debian machine with Rust and Python 3.
# It installs what the tests of real components need, then runs them:
#   - Chromium (Debian's package), which renders the HTML report;
#   - tmux, the terminal `top`'s live view is driven in;
#   - Prometheus and promtool, unpacked from Debian's package into target/tools (no service
#     is installed or started), which scrape a live run and check the alerting rules;
#   - the Python package (built with maturin into a venv under target/memwarden-py), whose
#     pytest suite runs first and whose interpreter the fixed Python scenarios use.
# Installing needs root or sudo the first time; later runs find everything in place.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_update() {
    [ -n "$apt_updated" ] || as_root apt-get update -qq >/dev/null
    apt_updated=1
}

if [ ! -x /usr/bin/chromium ]; then
    echo "test.sh: installing Chromium (Debian's chromium package) for the HTML report's tests"
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if ! command -v tmux >/dev/null; then
    echo "test.sh: installing tmux, the real terminal the live view of top is driven in"
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
fi

tools="$PWD/target/tools"
if [ ! -x "$tools/prometheus/usr/bin/prometheus" ]; then
    echo "test.sh: unpacking Prometheus (Debian's prometheus package) into target/tools"
    apt_update
    mkdir -p "$tools/download"
    (cd "$tools/download" && apt-get download -qq prometheus >/dev/null)
    dpkg -x "$tools"/download/prometheus_*.deb "$tools/prometheus"
fi
export MEMWARDEN_PROMETHEUS_DIR="$tools/prometheus/usr/bin"

crates/memwarden-py/ci.sh
cargo test --workspace --all-features --no-fail-fast
