#!/usr/bin/env python3
"""S1 spawner, fixed: the same batch, with concurrency bounded by memory, chunks, every helper
stopped when its item ends, and a warning and an emergency stop on the runner's own tree.

What the seed's owners did by hand: fewer workers sized from RAM (~500 MB each), chunks of 50,
gc.collect() between chunks, warn at 85 %, emergency stop at 90 %, a cap on total work, an env
var to tune. Here memwarden does the measuring and the bounding (`pip install
./crates/memwarden-py`): a `memwarden.MemoryGate` admits an item only while its estimate fits
in 75 % of the budget S1_BUDGET_MIB (default 128) and the machine keeps 10 % of its RAM
available; a `memwarden.Watchdog` on the runner's whole tree warns at 85 % and stops everything
at 90 %. The per-item estimate is S1_WORKER_MIB (default: helper size + 8 MiB for its
interpreter); the chunk S1_CHUNK items (default 20). The tree's anonymous memory stays near
admitted items x estimate after a warm-up of a second: flat, with a dip where a chunk drains.

Exit status: 0 when the batch completes, 3 after an emergency stop.
"""

import argparse
import gc
import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import memwarden
except ImportError:
    sys.exit("s1-fixed needs the memwarden package: pip install ./crates/memwarden-py")

MIB = 1 << 20

# The same helper as the leaky variant: allocates and touches N MiB, answers lines, exits on EOF.
HELPER = r"""
import sys
block = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
print("ready", flush=True)
for line in sys.stdin:
    print("done " + line.strip(), flush=True)
"""


def log(msg):
    print(f"s1-fixed: {msg}", file=sys.stderr, flush=True)


class Helpers:
    """The live helpers, so that they can be measured and stopped together."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live = {}

    def start(self, helper_mib):
        h = subprocess.Popen([sys.executable, "-c", HELPER, str(helper_mib)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        with self.lock:
            self.live[h.pid] = h
        return h

    def stop(self, h):
        """Closes the helper's stdin (it exits), then reaps it; kills it if it lingers."""
        with self.lock:
            self.live.pop(h.pid, None)
        try:
            h.stdin.close()
        except OSError:
            pass
        try:
            h.wait(timeout=5)
        except subprocess.TimeoutExpired:
            h.kill()
            h.wait()
        h.stdout.close()

    def stop_all(self):
        with self.lock:
            helpers = list(self.live.values())
        for h in helpers:
            self.stop(h)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=15.0,
                   help="seconds of batch: no item starts after this (default 15)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the wanted workers and the budget (default 1)")
    p.add_argument("--helper-mib", type=int, default=8, help="memory each helper holds (default 8)")
    p.add_argument("--item-seconds", type=float, default=4.0,
                   help="how long one item runs on its helper, on average (default 4)")
    args = p.parse_args()

    wanted = max(1, round(8 * args.scale))
    budget = int(float(os.environ.get("S1_BUDGET_MIB", 128)) * args.scale * MIB)
    per_item = int(float(os.environ.get("S1_WORKER_MIB", args.helper_mib + 8)) * MIB)
    chunk = max(1, int(os.environ.get("S1_CHUNK", 20)))
    helpers = Helpers()
    # Admit items within 75 % of the budget (less the runner itself), below the 85 % warning.
    gate = memwarden.MemoryGate(max(per_item, int(budget * 0.75) - memwarden.anon_bytes()),
                                system_floor="10%")
    workers = min(wanted, gate.budget // per_item)
    log(f"budget {budget / MIB:.0f} MiB, {per_item / MIB:.0f} MiB per item: at most {workers} "
        f"items at once (of {wanted} threads), chunks of {chunk}, each item's "
        f"{args.helper_mib} MiB helper stopped when it ends; warn at 85 %, stop at 90 %; "
        f"{args.duration:g} s")

    deadline = time.monotonic() + args.duration
    stop = threading.Event()
    stats = {"items": 0, "warnings": 0}
    stats_lock = threading.Lock()  # workers count items concurrently

    def warn(reading):
        stats["warnings"] += 1
        log(f"warning: tree at {reading.bytes / MIB:.0f} MiB >= 85 % of the budget")

    def emergency(reading):
        log(f"EMERGENCY: tree at {reading.bytes / MIB:.0f} MiB >= 90 % of the budget; stopping")
        stop.set()
        gate.emergency_stop()
        helpers.stop_all()

    def run_item(n, rng):
        if stop.is_set() or time.monotonic() >= deadline:
            return  # the cap on total work: no item starts after the deadline
        try:
            with gate.admit(per_item):
                run_admitted(n, rng)
        except memwarden.GateStopped:
            pass  # an emergency stop refuses what waits

    def run_admitted(n, rng):
        h = helpers.start(args.helper_mib)
        try:
            h.stdout.readline()  # "ready"
            h.stdin.write(f"config-{n}\n")
            h.stdin.flush()
            h.stdout.readline()
            seconds = args.item_seconds * rng.uniform(0.5, 1.5)
            if not stop.wait(max(0.0, min(seconds, deadline - time.monotonic()))):
                with stats_lock:
                    stats["items"] += 1
        except (OSError, ValueError):
            pass  # stopped under us by an emergency stop
        finally:
            helpers.stop(h)

    watchdog = memwarden.Watchdog(tree=os.getpid(), interval="100ms", warn=int(budget * 0.85),
                                  limit=int(budget * 0.90), on_warn=warn, on_limit=emergency)
    watchdog.start()
    rng = random.Random(0)
    n = 0
    chunks = 0
    with ThreadPoolExecutor(max_workers=wanted) as pool:
        while time.monotonic() < deadline and not stop.is_set():
            items = range(n, n + chunk)
            list(pool.map(lambda i: run_item(i, random.Random(rng.random())), items))
            n += chunk
            chunks += 1
            helpers.stop_all()  # nothing of a chunk outlives it
            gc.collect()
    stopped = stop.is_set()
    peak = watchdog.peak.bytes if watchdog.peak else 0
    watchdog.stop()
    log(f"done: {stats['items']} items in {chunks} chunks, at most {workers} at once; peak tree "
        f"{peak / MIB:.0f} MiB of a {budget / MIB:.0f} MiB budget; "
        f"{stats['warnings']} warnings; {'EMERGENCY STOP' if stopped else 'no emergency'}")
    sys.exit(3 if stopped else 0)


if __name__ == "__main__":
    main()
