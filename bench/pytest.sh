#!/usr/bin/env bash
# The pytest plugin and the Watchdog, measured side by side in one run; writes
# bench/results/pytest-leaks.md.
#   1. The same leaking and non-leaking tests (crates/memwarden-py/tests/suites) under
#      `pytest --memwarden-leaks` and under pytest-memray's `limit_leaks` (from PyPI), each
#      suite REPEATS times (default 20): leaks found by each, results that changed between
#      repetitions (flaky), and wall time against plain pytest.
#   2. The Watchdog's CPU in a Python program at a 100 ms interval: the watchdog thread's own
#      CPU time over a minute, as a share of one core (target <= 0.5 %).
#
#   bench/pytest.sh [--repeats N] [--watch-seconds S]
#
# Needs what crates/memwarden-py/ci.sh needs (Rust, python3); builds the package into an
# environment of its own (target/memwarden-py/bench-venv), with pytest-memray beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(MEMWARDEN_PY_VENV=$PWD/target/memwarden-py/bench-venv crates/memwarden-py/ci.sh --install)
"$py" -m pip install -q --disable-pip-version-check 'pytest-memray>=1.7'
exec "$py" bench/pytest_bench.py "$@"
