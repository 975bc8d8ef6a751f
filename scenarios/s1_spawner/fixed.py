#!/usr/bin/env python3
"""S1 spawner, fixed: the same batch, with concurrency sized from memory, chunks, every helper
stopped when its item ends, and a warning and an emergency stop on the runner's own tree.

What the seed's owners did by hand: fewer workers sized from RAM (~500 MB each), chunks of 50,
gc.collect() between chunks, warn at 85 %, emergency stop at 90 %, a cap on total work, an env
var to tune. Here the budget is S1_BUDGET_MIB (default 128) capped at half of MemAvailable; the
per-worker estimate S1_WORKER_MIB (default: helper size + 8 MiB for its interpreter); the chunk
S1_CHUNK items (default 20). The tree's anonymous memory stays near workers x estimate after a
warm-up of a second: flat, with a dip where a chunk drains before the next starts.

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


def mem_available():
    """MemAvailable from /proc/meminfo, bytes."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def anon_bytes(pid):
    """RssAnon + VmSwap of one process, bytes (0 once it is gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "VmSwap:")):
                    total += int(line.split()[1]) * 1024
    except OSError:
        return 0
    return total


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

    def tree_bytes(self):
        with self.lock:
            pids = list(self.live)
        return anon_bytes(os.getpid()) + sum(anon_bytes(p) for p in pids)


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
    budget = min(budget, mem_available() // 2)
    per_worker = int(float(os.environ.get("S1_WORKER_MIB", args.helper_mib + 8)) * MIB)
    chunk = max(1, int(os.environ.get("S1_CHUNK", 20)))
    helpers = Helpers()
    base = helpers.tree_bytes()
    # Size from memory: plan for 75 % of the budget, leaving room below the 85 % warning.
    workers = max(1, min(wanted, int((budget * 0.75 - base) // per_worker)))
    log(f"budget {budget / MIB:.0f} MiB, {per_worker / MIB:.0f} MiB per worker: {workers} "
        f"workers (of {wanted} wanted), chunks of {chunk}, each item's {args.helper_mib} MiB "
        f"helper stopped when it ends; warn at 85 %, stop at 90 %; {args.duration:g} s")

    deadline = time.monotonic() + args.duration
    stop = threading.Event()
    stats = {"items": 0, "warnings": 0, "peak": 0}
    stats_lock = threading.Lock()  # workers count items concurrently

    def monitor():
        warned = False
        while not stop.wait(0.1):
            used = helpers.tree_bytes()
            stats["peak"] = max(stats["peak"], used)
            if used >= 0.90 * budget:
                log(f"EMERGENCY: tree at {used / MIB:.0f} MiB >= 90 % of the budget; stopping")
                stop.set()
                helpers.stop_all()
            elif used >= 0.85 * budget and not warned:
                warned = True
                stats["warnings"] += 1
                log(f"warning: tree at {used / MIB:.0f} MiB >= 85 % of the budget")
            elif used < 0.80 * budget:
                warned = False

    def run_item(n, rng):
        if stop.is_set() or time.monotonic() >= deadline:
            return  # the cap on total work: no item starts after the deadline
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

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    rng = random.Random(0)
    n = 0
    chunks = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while time.monotonic() < deadline and not stop.is_set():
            items = range(n, n + chunk)
            list(pool.map(lambda i: run_item(i, random.Random(rng.random())), items))
            n += chunk
            chunks += 1
            helpers.stop_all()  # nothing of a chunk outlives it
            gc.collect()
    emergency = stop.is_set()
    stop.set()
    watcher.join()
    log(f"done: {stats['items']} items in {chunks} chunks with {workers} workers; peak tree "
        f"{stats['peak'] / MIB:.0f} MiB of a {budget / MIB:.0f} MiB budget; "
        f"{stats['warnings']} warnings; {'EMERGENCY STOP' if emergency else 'no emergency'}")
    sys.exit(3 if emergency else 0)


if __name__ == "__main__":
    main()
