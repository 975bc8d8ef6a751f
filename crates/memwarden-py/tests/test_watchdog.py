"""Watchdog: real readings of this process (and of a child tree), callbacks on the thread."""

import doctest
import os
import subprocess
import sys
import threading
import time

import pytest

import memwarden

DEADLINE = 30.0  # seconds: generous, the machine may be busy


def wait_for(what, done, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while not done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_the_package_docstrings_run():
    for module in (memwarden, memwarden.errors):
        failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failed == 0 and tried > 0, module


def test_readings_follow_real_memory():
    with memwarden.Watchdog(interval="5ms") as w:
        wait_for("a reading", lambda: w.latest is not None)
        before = w.latest.bytes
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(block[::4096])
        wait_for("the block to show", lambda: w.latest.bytes >= before + (48 << 20))
        assert w.peak.bytes >= w.latest.bytes
        assert w.running
    assert not w.running
    assert w.latest is None  # a stopped watchdog has no readings
    del block


def test_warn_and_limit_callbacks_get_readings_and_fire_once_per_crossing():
    warned, limited = [], []
    w = memwarden.Watchdog(warn=1, limit="1KiB", interval="2ms",
                           on_warn=warned.append, on_limit=limited.append)
    w.start()
    try:
        wait_for("both callbacks", lambda: warned and limited)
        time.sleep(0.05)  # many more readings, all above: no second call
        assert len(warned) == 1 and len(limited) == 1
        assert isinstance(warned[0], memwarden.Reading) and warned[0].bytes > 1024
        assert w.warn_bytes == 1 and w.limit_bytes == 1024
    finally:
        w.stop()


def test_callbacks_without_arguments_are_called_without():
    crossed = threading.Event()
    with memwarden.Watchdog(warn="1KiB", interval="2ms", on_warn=crossed.set):
        assert crossed.wait(DEADLINE)


def test_a_raising_callback_is_reported_and_watching_goes_on(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def broken(reading):
        raise RuntimeError("callback bug")

    with memwarden.Watchdog(warn=1, interval="2ms", on_warn=broken) as w:
        wait_for("the report", lambda: reported)
        first = w.latest.elapsed
        wait_for("later readings", lambda: w.latest.elapsed > first)
    assert isinstance(reported[0].exc_value, RuntimeError)


def test_stop_from_a_callback_does_not_deadlock():
    stopped = threading.Event()
    holder = {}

    def stop_it(reading):
        holder["w"].stop()
        stopped.set()

    holder["w"] = memwarden.Watchdog(warn=1, interval="2ms", on_warn=stop_it).start()
    assert stopped.wait(DEADLINE)
    wait_for("the stop", lambda: not holder["w"].running)


def test_sampling_goes_on_while_python_holds_the_gil():
    # With a switch interval of 100 s the main thread never hands the GIL over while it runs
    # pure Python: a block that is resident only during that stretch is seen only by a
    # sampler that does not need the GIL.
    old = sys.getswitchinterval()
    with memwarden.Watchdog(interval="1ms") as w:
        wait_for("a reading", lambda: w.latest is not None)
        base = w.peak.bytes
        sys.setswitchinterval(100)
        try:
            block = bytearray(128 << 20)
            block[::4096] = b"x" * len(block[::4096])
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                pass
            del block
        finally:
            sys.setswitchinterval(old)
        assert w.peak.bytes >= base + (100 << 20), (base, w.peak)


def test_a_tree_counts_its_children():
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; b = bytearray(96 << 20); b[::4096] = b'x' * len(b[::4096]); "
         "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with memwarden.Watchdog(tree=os.getpid(), interval="10ms") as tree, \
                memwarden.Watchdog(interval="10ms") as own:
            wait_for("readings", lambda: tree.latest and own.latest)
            wait_for("the child's memory", lambda: tree.latest.bytes >= own.latest.bytes + (90 << 20))
    finally:
        child.stdin.close()
        child.wait(DEADLINE)


def test_a_fast_leak_is_called():
    called = threading.Event()
    kept = []
    with memwarden.Watchdog(interval="50ms", on_leak=called.set, leak_after="20s") as w:
        end = time.monotonic() + 90
        while not called.is_set() and time.monotonic() < end:
            chunk = bytearray(1 << 20)
            chunk[::4096] = b"x" * len(chunk[::4096])
            kept.append(chunk)  # 10 MiB/s for as long as it takes
            time.sleep(0.1)
        assert called.is_set(), "no leak called"
        assert w.leak.growth_bytes_per_s > 1 << 20
        assert "floor rose" in w.leak.reason
    kept.clear()


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"warn": "12 parsecs"}, ValueError, "warn: '12 parsecs' is not a size like 512MiB"),
        ({"limit": -1}, ValueError, "limit: -1 is not"),
        ({"limit": True}, TypeError, "limit: expected"),
        ({"interval": "soon"}, ValueError, "interval: 'soon' is not a duration like 250ms"),
        ({"interval": 0}, ValueError, "interval must be above zero"),
        ({"on_warn": "cleanup"}, TypeError, "on_warn: expected a callable"),
        ({"rearm_below": 2.0}, ValueError, "re-arm fraction"),
    ],
)
def test_bad_settings_name_the_parameter_and_the_accepted_forms(kwargs, error, text):
    with pytest.raises(error, match=None) as e:
        memwarden.Watchdog(**kwargs).start()
    assert text in str(e.value)


def test_a_second_start_is_refused():
    with memwarden.Watchdog() as w:
        with pytest.raises(RuntimeError, match="already running"):
            w.start()


def test_the_reference_of_a_percentage_is_ram_or_the_cgroup_limit():
    ram = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo")
               if l.startswith("MemTotal:"))
    with memwarden.Watchdog(warn="50%") as w:
        assert 0 < w.warn_bytes <= ram // 2 + 1
