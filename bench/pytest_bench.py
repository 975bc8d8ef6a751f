"""bench/pytest.sh's measurements (see that script); run with the package's interpreter."""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import memwarden

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "crates" / "memwarden-py" / "tests" / "suites"
RESULTS = ROOT / "bench" / "results" / "pytest-leaks.md"

# pytest-memray has no switch for every test: this conftest puts its marker on each, with 1 KB
# per call stack (its docs' example is 1 MB for code looped 100 times; these tests run their
# code once). Its released versions have no warm-up runs.
MEMRAY_CONFTEST = """
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.limit_leaks("1 KB"))
"""

MODES = {
    "plain pytest": [],
    "memwarden --memwarden-leaks": ["--memwarden-leaks"],
    "pytest-memray limit_leaks": ["--memray", "-p", "no:memwarden"],
}


def build_extension(into: Path) -> None:
    include = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", f"-I{include}", str(SUITES / "leakyext.c"),
                    "-o", str(into / f"leakyext{suffix}")], check=True)


def run_suite(workdir: Path, suite: str, mode: str):
    """One pytest run: ({nodeid: outcome}, wall seconds)."""
    args = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
            f"test_{suite}.py", *MODES[mode]]
    if mode == "plain pytest":
        args += ["-p", "no:memwarden", "-p", "no:memray"]
    env = dict(os.environ, PYTHONPATH=str(workdir))
    start = time.perf_counter()
    out = subprocess.run(args, cwd=workdir / mode.split()[0], env=env, capture_output=True,
                         text=True, timeout=900)
    wall = time.perf_counter() - start
    outcomes = {}
    for line in out.stdout.splitlines():
        # pytest-memray reports its failures as "MEMORY PROBLEMS nodeid - ...".
        for word in ("PASSED", "FAILED", "ERROR", "MEMORY PROBLEMS"):
            if line.startswith(word + " "):
                nodeid = line[len(word) + 1:].split()[0]
                outcomes[nodeid] = "failed" if word != "PASSED" else "passed"
    if not outcomes:
        raise SystemExit(f"no outcome parsed from {mode} on {suite}:\n{out.stdout}\n{out.stderr}")
    return outcomes, wall


def compare(repeats: int):
    work = Path(tempfile.mkdtemp(prefix="memwarden-bench-"))
    try:
        build_extension(work)
        for mode in MODES:
            d = work / mode.split()[0]
            d.mkdir(exist_ok=True)
            for suite in ("leaking", "clean"):
                shutil.copy(SUITES / f"{suite}.py", d / f"test_{suite}.py")
            if mode.startswith("pytest-memray"):
                (d / "conftest.py").write_text(MEMRAY_CONFTEST)
            (d / "pytest.ini").write_text("[pytest]\n")
        results = {}
        for suite in ("leaking", "clean"):
            for rep in range(repeats):
                for mode in MODES:  # interleaved, so a busy spell hits every mode alike
                    outcomes, wall = run_suite(work, suite, mode)
                    r = results.setdefault((suite, mode), {"walls": [], "outcomes": defaultdict(list)})
                    r["walls"].append(wall)
                    for nodeid, o in outcomes.items():
                        r["outcomes"][nodeid].append(o)
                print(f"  {suite} round {rep + 1}/{repeats}", file=sys.stderr, flush=True)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def watchdog_cpu(seconds: float):
    """CPU seconds of the watchdog thread over `seconds` of an idle program, and of the whole
    process with and without a watchdog."""
    def thread_cpu(name: str) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        for tid in os.listdir("/proc/self/task"):
            try:
                if Path(f"/proc/self/task/{tid}/comm").read_text().strip() == name:
                    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                    return (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass
        raise RuntimeError(f"no thread named {name}")

    def process_cpu() -> float:
        t = os.times()
        return t.user + t.system

    idle_start = process_cpu()
    time.sleep(seconds)
    idle = process_cpu() - idle_start
    with memwarden.Watchdog(interval="100ms", warn="1TiB", limit="2TiB",
                            on_warn=lambda: None, on_leak=lambda: None):
        start, thread_start = process_cpu(), None
        time.sleep(0.5)
        thread_start = thread_cpu("memwarden-watch")
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        thread = thread_cpu("memwarden-watch") - thread_start
        watched = process_cpu() - start
    return thread, elapsed, idle, watched


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.machine())
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
    return (f"{cpu}, {os.cpu_count()} CPUs, {mem / (1 << 20):.0f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--watch-seconds", type=float, default=60.0)
    args = p.parse_args()
    started = datetime.now(timezone.utc)
    import importlib.metadata as md
    versions = {n: md.version(n) for n in ("pytest", "pytest-memray", "memray")}
    results = compare(args.repeats)
    thread, elapsed, idle, watched = watchdog_cpu(args.watch_seconds)

    lines = [
        "# The pytest plugin and the Watchdog, measured",
        "",
        f"Run by `bench/pytest.sh --repeats {args.repeats} --watch-seconds "
        f"{args.watch_seconds:g}` on {started:%Y-%m-%d %H:%M} UTC; machine: {machine()}; "
        f"pytest {versions['pytest']}, pytest-memray {versions['pytest-memray']} "
        f"(memray {versions['memray']}). Each suite ran {args.repeats} times in each mode, the "
        "modes interleaved. The machine is shared (2 cores, other builds running): times are "
        "medians and ratios to plain pytest measured in the same rounds.",
        "",
        "Suites: `crates/memwarden-py/tests/suites/leaking.py` (6 tests, each leaking one "
        "resource: a module-level cache, a list of closures, a C extension's malloc, file "
        "descriptors, sockets, threads) and `clean.py` (16 tests that allocate, open and start "
        "a lot and keep nothing: a cache filled during warm-up, a bounded lru_cache, collected "
        "cycles, a 64 MiB temporary, a C extension that frees, files, threads, an event loop, "
        "output, logging and warnings, new regexes, module fixtures, parametrized tests). "
        "memwarden: defaults (5 warm-up + 4 counted runs). pytest-memray: "
        "`limit_leaks(\"1 KB\")` on every test (one run: its released versions have no warm-up).",
        "",
        "| mode | leaks found (of 6) | false failures (of 16) | flaky tests | median wall, leaking suite | median wall, clean suite | cost vs plain (clean) |",
        "|---|---|---|---|---|---|---|",
    ]

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    plain_clean = median(results[("clean", "plain pytest")]["walls"])
    summary = {}
    for mode in MODES:
        leaking, clean = results[("leaking", mode)], results[("clean", mode)]
        def always(r, outcome):
            return sum(1 for os_ in r["outcomes"].values() if set(os_) == {outcome})
        flaky = [n for r in (leaking, clean) for n, os_ in r["outcomes"].items() if len(set(os_)) > 1]
        found = always(leaking, "failed")
        false = sum(1 for os_ in clean["outcomes"].values() if "failed" in os_)
        wl, wc = median(leaking["walls"]), median(clean["walls"])
        summary[mode] = (found, false, flaky, wc)
        lines.append(
            f"| {mode} | {found if mode != 'plain pytest' else '-'} | "
            f"{false if mode != 'plain pytest' else '-'} | {len(flaky)}"
            f"{' (' + ', '.join(sorted(n.split('::')[1] for n in flaky)) + ')' if flaky else ''} | "
            f"{wl:.2f} s | {wc:.2f} s | {wc / plain_clean:.2f}x |"
        )
    lines += ["", "Per test, how often it failed over the repetitions:", "",
              "| test | memwarden | pytest-memray |", "|---|---|---|"]
    for suite in ("leaking", "clean"):
        names = sorted(results[(suite, "plain pytest")]["outcomes"])
        for n in names:
            cells = []
            for mode in ("memwarden --memwarden-leaks", "pytest-memray limit_leaks"):
                os_ = results[(suite, mode)]["outcomes"].get(n, [])
                cells.append(f"{os_.count('failed')}/{len(os_)}")
            lines.append(f"| {n} | {cells[0]} | {cells[1]} |")
    mw, mr = summary["memwarden --memwarden-leaks"], summary["pytest-memray limit_leaks"]
    share = 100 * thread / elapsed
    lines += [
        "",
        "Targets: memwarden finds at least as many leaks "
        f"({mw[0]} vs {mr[0]}: {'met' if mw[0] >= mr[0] else 'NOT met'}), no flaky result "
        f"({len(mw[2])} flaky: {'met' if not mw[2] else 'NOT met'}), and a lower wall-time cost "
        f"(clean suite {mw[3]:.2f} s vs {mr[3]:.2f} s: "
        f"{'met' if mw[3] < mr[3] else 'NOT met'}).",
        "",
        "## Watchdog overhead",
        "",
        f"An idle Python program with a `memwarden.Watchdog(interval=\"100ms\")` (warn, limit and "
        f"leak callbacks set, none firing) for {elapsed:.0f} s: the `memwarden-watch` thread used "
        f"{thread * 1000:.0f} ms of CPU, **{share:.3f} % of one core** (target <= 0.5 %: "
        f"{'met' if share <= 0.5 else 'NOT met'}). The whole process used {watched * 1000:.0f} ms "
        f"with the watchdog and {idle * 1000:.0f} ms without it over the same time "
        "(clock ticks of 10 ms: the thread's own figure is the precise one).",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
