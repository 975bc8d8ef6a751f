"""memwarden's pytest plugin: find the tests that leak, and cap a test's memory.

``pytest --memwarden-leaks`` (or ``@pytest.mark.memwarden_leaks`` on chosen tests) runs each
selected test repeatedly in the same process, as CPython's own ``regrtest -R 5:4`` does for
CPython's test suite: 5 warm-up runs that fill whatever caches the test fills, then 4 counted
runs. After every run (its fixtures torn down, garbage collected, the usual caches cleared,
freed heap returned to the OS) it measures

- the interpreter's allocated blocks (``sys.getallocatedblocks()``): Python objects kept;
- the process's open file descriptors and threads;
- the process's anonymous memory (resident minus file-backed pages, plus swap): memory kept
  by C code, which allocates outside the interpreter's blocks.

A test fails only when a resource grew on *every* counted run — CPython's rule, which lets a
cache fill, a collection happen late or an arena get reused without a false failure; so the
runs stop at the first counted run that leaves every resource where it was. Memory
must also have grown by at least ``--memwarden-min-memory`` (default 64 KiB) on each counted
run: below that, pages come and go with the allocator's bookkeeping. The failure says what
grew by how much on each run; the session ends with a summary of the tests that leak and of
what the repetitions cost.

``@pytest.mark.memwarden(limit="256MiB")`` fails a test whose anonymous memory rose more than
``limit`` above its level at the test's start, at its peak during the test: a native thread
samples it every millisecond (``interval=`` to change), without tracing allocations.
"""

from __future__ import annotations

import gc
import re
import sys
import time
import warnings
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pytest

from . import Watchdog, anon_bytes, format_bytes, parse_duration, parse_size, trim
from ._native import resource_counts

try:  # the protocol's building blocks, as pytest-rerunfailures uses them
    from _pytest.runner import CallInfo, runtestprotocol
except ImportError as e:  # pragma: no cover - a pytest without them cannot repeat a test
    raise ImportError(f"memwarden's pytest plugin needs pytest >= 7: {e}") from e

#: CPython's ``regrtest -R 5:4``: warm-up runs, then counted runs.
DEFAULT_RUNS = "5:4"
#: Growth of anonymous memory each counted run must reach to count: 16 pages.
DEFAULT_MIN_MEMORY = "64KiB"
#: How often ``@pytest.mark.memwarden(limit=...)`` samples memory during a test.
DEFAULT_LIMIT_INTERVAL = "1ms"
#: Slowest tests listed in the summary's cost of repetitions.
SLOWEST_SHOWN = 5

RESOURCES = ("blocks", "fds", "threads", "memory")

_state_key = pytest.StashKey["_Session"]()
_base_plan_key = pytest.StashKey["_Plan"]()


@dataclass
class _Plan:
    """How a test's leak check runs."""

    warmups: int
    runs: int
    min_memory: int


@dataclass
class _Finding:
    """A test found leaking: per resource, its growth on each counted run."""

    nodeid: str
    growth: Dict[str, List[int]]

    def describe(self) -> str:
        return "; ".join(_describe(r, g) for r, g in self.growth.items())


@dataclass
class _Session:
    """What the plugin keeps over a session."""

    default: Optional[_Plan]
    checked: int = 0
    leaks: List[_Finding] = field(default_factory=list)
    extra_cost: List[Tuple[float, str]] = field(default_factory=list)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memwarden", "memwarden: leaking tests and memory limits")
    group.addoption(
        "--memwarden-leaks",
        action="store_true",
        default=None,
        help="run every test repeatedly and fail those whose allocated blocks, descriptors, "
        "threads or memory grow on every counted run",
    )
    group.addoption(
        "--memwarden-runs",
        metavar="WARMUP:COUNTED",
        default=None,
        help=f"warm-up and counted runs of each checked test (default {DEFAULT_RUNS}, as "
        "CPython's regrtest -R)",
    )
    group.addoption(
        "--memwarden-min-memory",
        metavar="SIZE",
        default=None,
        help="growth of anonymous memory on every counted run that makes a leak "
        f"(default {DEFAULT_MIN_MEMORY})",
    )
    parser.addini("memwarden_leaks", "check every test for leaks (like --memwarden-leaks)",
                  type="bool", default=False)
    parser.addini("memwarden_runs", f"warm-up:counted runs (default {DEFAULT_RUNS})",
                  default=DEFAULT_RUNS)
    parser.addini("memwarden_min_memory",
                  f"memory growth per counted run that counts (default {DEFAULT_MIN_MEMORY})",
                  default=DEFAULT_MIN_MEMORY)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "memwarden_leaks(warmups=5, runs=4, min_memory='64KiB'): run this test repeatedly "
        "and fail it when a resource grows on every counted run",
    )
    config.addinivalue_line(
        "markers",
        "memwarden(limit='256MiB', interval='1ms'): fail this test when its memory rises "
        "more than limit above its level at the start",
    )
    runs = config.getoption("memwarden_runs") or config.getini("memwarden_runs")
    min_memory = config.getoption("memwarden_min_memory") or config.getini("memwarden_min_memory")
    enabled = config.getoption("memwarden_leaks") or config.getini("memwarden_leaks")
    try:
        warmups, counted = _parse_runs(runs)
        plan = _Plan(warmups, counted, parse_size(min_memory))
    except (ValueError, TypeError) as e:
        raise pytest.UsageError(f"memwarden: {e}") from None
    config.stash[_state_key] = _Session(default=plan if enabled else None)
    # The marker's own values start from the command line's.
    config.stash[_base_plan_key] = plan


def _parse_runs(text: str) -> Tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"runs {text!r} is not WARMUP:COUNTED, e.g. 5:4")
    warmups, counted = int(m[1]), int(m[2])
    if counted < 2:
        raise ValueError(f"runs {text!r}: at least 2 counted runs are needed to see growth "
                         "on every one")
    return warmups, counted


def _plan_for(item: pytest.Item) -> Optional[_Plan]:
    marker = item.get_closest_marker("memwarden_leaks")
    session = item.config.stash[_state_key]
    if marker is None:
        return session.default
    base = item.config.stash[_base_plan_key]
    kw = dict(marker.kwargs)
    try:
        warmups = int(kw.pop("warmups", base.warmups))
        runs = int(kw.pop("runs", base.runs))
        min_memory = parse_size(kw.pop("min_memory", base.min_memory))
        if kw:
            raise ValueError(f"unknown argument(s) {sorted(kw)}; accepted: warmups, runs, "
                             "min_memory")
        if warmups < 0 or runs < 2:
            raise ValueError("warmups must be >= 0 and runs >= 2")
    except (ValueError, TypeError) as e:
        raise pytest.UsageError(f"{item.nodeid}: memwarden_leaks: {e}") from None
    return _Plan(warmups, runs, min_memory)


class _Meter:
    """Measurements after each run, kept in preallocated arrays: storing them must not itself
    allocate objects that outlive a run, or every test would grow a block per run."""

    def __init__(self, runs: int) -> None:
        self.values = {name: array("q", [0] * (runs + 1)) for name in RESOURCES}
        self.seconds = array("d", [0.0] * runs)

    def measure(self, slot: int) -> None:
        _settle()
        blocks, fds, threads, memory = (self.values[name] for name in RESOURCES)
        blocks[slot] = sys.getallocatedblocks()
        fds[slot], threads[slot], memory[slot] = resource_counts()

    def growth(self, first: int, last: int) -> Dict[str, List[int]]:
        """Per resource, the change over each run from ``first`` to ``last`` (1-based)."""
        return {name: [v[i] - v[i - 1] for i in range(first, last + 1)]
                for name, v in self.values.items()}


def _settle() -> None:
    """Brings the process to a state comparable from run to run: caches that grow with what a
    test happens to touch are cleared (as regrtest does), cycles collected, freed heap memory
    returned to the OS."""
    sys._clear_type_cache()
    re.purge()
    typing = sys.modules.get("typing")
    for cleanup in getattr(typing, "_cleanups", ()):
        cleanup()
    gc.collect()
    trim()


def _leaks(growth: Dict[str, List[int]], min_memory: int) -> Dict[str, List[int]]:
    """The resources that grew on every counted run."""
    floor = {"memory": max(1, min_memory)}
    return {name: g for name, g in growth.items() if all(d >= floor.get(name, 1) for d in g)}


def _describe(resource: str, growth: List[int]) -> str:
    if resource == "memory":
        each = ", ".join("+" + format_bytes(d) for d in growth)
        return f"anonymous memory {each}"
    return f"{resource} " + ", ".join(f"+{d}" for d in growth)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Optional[bool]:
    plan = _plan_for(item)
    if plan is None:
        return None
    session = item.config.stash[_state_key]
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports, caught, finding, extra = _repeat(item, plan)
    # What the next test does not share (module, class fixtures) is torn down once, after the
    # last run; an error there is reported as the test's teardown, as pytest would.
    final = CallInfo.from_call(
        lambda: item.session._setupstate.teardown_exact(nextitem),
        when="teardown",
        reraise=(pytest.exit.Exception, KeyboardInterrupt),
    )
    if final.excinfo is not None:
        failed = item.ihook.pytest_runtest_makereport(item=item, call=final)
        reports = [r for r in reports if r.when != "teardown"] + [failed]
    for w in caught:  # the last run's warnings, to pytest's own record
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    session.checked += 1
    session.extra_cost.append((extra, item.nodeid))
    if finding is not None:
        session.leaks.append(finding)
        call = next((r for r in reports if r.when == "call"), None)
        if call is not None:
            call.outcome = "failed"
            call.longrepr = (
                f"memwarden: leak: grew on each of {plan.runs} counted runs (after "
                f"{plan.warmups} warm-up runs): {finding.describe()}"
            )
    for rep in reports:
        item.ihook.pytest_runtest_logreport(report=rep)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _repeat(item: pytest.Item, plan: _Plan) -> Tuple[list, list, Optional[_Finding], float]:
    """Runs the test up to warm-up + counted times, keeping the fixtures of its module and
    session between runs. Stops early when a run does not pass, and as soon as a counted run
    leaves every resource where it was: the test can no longer have grown on every counted
    run, so the verdict is the one all the runs would give. Returns the last run's reports
    and warnings, the leak found (if any) and the extra time the repetitions took."""
    total = plan.warmups + plan.runs
    meter = _Meter(total)
    # Sections (captured output) and user properties accumulate on the item run after run;
    # every report has its own copy, so the item's lists are cut back after each run.
    sections, properties = len(item._report_sections), len(item.user_properties)
    # Torn down to the test's parent, so function fixtures go and module fixtures stay.
    keep = item.parent
    finalizers = _FinalizerLists(item)
    reports: list = []
    caught: list = []
    done = 0
    # What exists before the test (pytest, the modules, earlier tests; garbage too, which then
    # stays put) is set aside from the collector meanwhile: each measurement's collection
    # walks only what the test made.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        if plan.warmups == 0:
            meter.measure(0)
        for i in range(total):
            start = time.perf_counter()
            reports = caught = []  # the previous run's go before this one is measured
            with warnings.catch_warnings(record=True) as caught:
                reports = runtestprotocol(item, log=False, nextitem=keep)  # type: ignore[arg-type]
            meter.seconds[i] = time.perf_counter() - start
            del item._report_sections[sections:], item.user_properties[properties:]
            finalizers.trim(first_run=i == 0)
            done = i + 1
            if not all(r.passed for r in reports) or any(hasattr(r, "wasxfail") for r in reports):
                break
            if done >= plan.warmups:  # the last warm-up run is the first counted run's baseline
                meter.measure(done)
            if done > plan.warmups and not _leaks(meter.growth(plan.warmups + 1, done),
                                                   plan.min_memory):
                break
    finally:
        if freeze:
            gc.unfreeze()
    runs = sorted(meter.seconds[:done])
    extra = sum(runs) - runs[len(runs) // 2] if runs else 0.0
    finding = None
    if done == total:
        leaked = _leaks(meter.growth(plan.warmups + 1, total), plan.min_memory)
        if leaked:
            finding = _Finding(item.nodeid, leaked)
    return reports, caught, finding, extra


class _FinalizerLists:
    """pytest makes a module or session fixture remember, on every use, to finish the function
    fixture that used it (a list that grows until the module or session ends). Once that
    function fixture has finished, the entry does nothing: it is dropped, or every test using
    such a fixture (``tmp_path`` uses the session's ``tmp_path_factory``) would look leaking."""

    def __init__(self, item: pytest.Item) -> None:
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) or {}
        self.defs = [d for ds in defs.values() for d in ds
                     if getattr(d, "scope", "function") != "function"
                     and isinstance(getattr(d, "_finalizers", None), list)]
        self.kept: List[int] = []

    def trim(self, first_run: bool) -> None:
        # After the first run every shared fixture exists, with its own teardown in the list.
        if first_run:
            self.kept = [len(d._finalizers) for d in self.defs]
            return
        for d, n in zip(self.defs, self.kept):
            del d._finalizers[n:]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    marker = item.get_closest_marker("memwarden")
    if marker is None:
        return (yield)
    try:
        limit = parse_size(marker.kwargs["limit"])
        interval = parse_duration(marker.kwargs.get("interval", DEFAULT_LIMIT_INTERVAL))
    except KeyError:
        pytest.fail("memwarden(limit=SIZE, interval=DURATION): limit is required, e.g. "
                    "@pytest.mark.memwarden(limit=\"256MiB\")", pytrace=False)
    except (ValueError, TypeError) as e:
        pytest.fail(f"memwarden(limit=SIZE, interval=DURATION): {e}", pytrace=False)
    start = anon_bytes()
    watchdog = Watchdog(interval=interval).start()
    try:
        result = yield
        peak = max(r.bytes for r in (watchdog.peak, watchdog.latest) if r is not None)
    finally:
        watchdog.stop()
    peak = max(peak, anon_bytes())
    if peak - start > limit:
        pytest.fail(
            f"memwarden: memory rose {format_bytes(peak - start)} above its level at the "
            f"start of the test ({format_bytes(start)}), over the limit of "
            f"{format_bytes(limit)} (peak {format_bytes(peak)}, sampled every "
            f"{interval * 1000:g} ms)",
            pytrace=False,
        )
    return result


def pytest_terminal_summary(terminalreporter: Any) -> None:
    session = terminalreporter.config.stash.get(_state_key, None)
    if session is None or not session.checked:
        return
    tr = terminalreporter
    tr.section("memwarden")
    if session.leaks:
        tr.line(f"{len(session.leaks)} of {session.checked} checked tests leak:", red=True)
        for f in session.leaks:
            tr.line(f"  {f.nodeid}: {f.describe()}")
    else:
        tr.line(f"no leak in {session.checked} checked tests")
    total = sum(cost for cost, _ in session.extra_cost)
    slowest = sorted(session.extra_cost, reverse=True)[:SLOWEST_SHOWN]
    tr.line(f"repetitions cost {total:.2f}s in all; the slowest:")
    for cost, nodeid in slowest:
        tr.line(f"  {cost:8.2f}s  {nodeid}")
