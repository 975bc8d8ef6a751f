#!/usr/bin/env bash
# Builds the memwarden Python package from this repository into its own virtual environment
# and runs its pytest suite. Idempotent: the package is rebuilt only when its sources (or the
# library's) changed, so a second run goes straight to the tests. Quiet on success: one
# closing line (pytest's); on failure, the whole log.
#
#   crates/memwarden-py/ci.sh            build if needed, then test
#   crates/memwarden-py/ci.sh --install  build if needed, then print the environment's python
#
# Needs Rust (cargo) and python3; on Debian, as root, it installs python3-venv and python3-dev
# (the C extension the tests build needs Python.h) when they are missing.
# MEMWARDEN_PY_VENV overrides where the environment lives (default target/memwarden-py/venv);
# PYTHON, the interpreter it is made from (default python3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$root/target/memwarden-py
venv=${MEMWARDEN_PY_VENV:-$work/venv}
mkdir -p "$work"
log=$work/ci.log
: >"$log"

# One build at a time (the scenario tests may call this while a CI script does).
exec 9>"$work/lock"
flock 9

fail() {
    cat "$log" >&2
    echo "memwarden-py/ci.sh: $*" >&2
    exit 1
}
quiet() { "$@" >>"$log" 2>&1 || fail "failed: $*"; }

apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        quiet apt-get update -qq
        quiet apt-get install -y -qq "$@"
    else
        fail "missing $*: install it (e.g. apt-get install $*)"
    fi
}

python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" >>"$log" 2>&1 || {
        apt_install python3-venv
        rm -rf "$venv"
        quiet "$python" -m venv "$venv"
    }
fi
py=$venv/bin/python
include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || apt_install python3-dev
if ! "$py" -c 'import pytest' 2>/dev/null || [ ! -x "$venv/bin/maturin" ]; then
    quiet "$py" -m pip install -q --disable-pip-version-check 'maturin>=1.9.4,<2' 'pytest>=7'
fi

# What the package is built from: its own files and the library's.
stamp=$(cd "$root" && find Cargo.lock crates/memwarden/Cargo.toml crates/memwarden/src \
    "crates/memwarden-py/Cargo.toml" "crates/memwarden-py/pyproject.toml" \
    "crates/memwarden-py/README.md" crates/memwarden-py/src crates/memwarden-py/python \
    -type f -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.memwarden-stamp" 2>/dev/null)" != "$stamp" ]; then
    # Its own target directory: this may run inside `cargo test`, which holds the main one.
    PATH=$venv/bin:$PATH CARGO_TARGET_DIR=$work/cargo \
        quiet "$py" -m pip install -q --disable-pip-version-check --no-build-isolation \
        --force-reinstall --no-deps "$here"
    echo "$stamp" >"$venv/.memwarden-stamp"
fi

if [ "${1:-}" = "--install" ]; then
    echo "$py"
    exit 0
fi

cd "$here"
"$py" -m pytest -q -p no:cacheprovider tests >>"$log" 2>&1 || fail "the pytest suite failed"
echo "memwarden-py: $(tail -n 1 "$log" | tr -d '=' | sed 's/^ *//')"
