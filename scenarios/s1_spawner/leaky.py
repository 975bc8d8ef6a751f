#!/usr/bin/env python3
"""S1 spawner, leaky: a batch runner that starts a helper process ("proxy") per item and never
stops it.

The seed: a benchmark runner, 32 threads over 1,428 configs, each config starting a proxy core;
memory reached 97 % and the machine stopped answering. Here: too many worker threads (sized from
CPUs, not memory), each item starts a helper holding --helper-mib of memory, uses it, and
forgets it (the Popen object is kept, the helper is never told to stop nor reaped). The tree's
anonymous memory and process count climb as a staircase of helpers until the batch ends.

Helpers exit when the runner does (their stdin pipe closes), so a standalone run leaves nothing
behind; under `memwarden run` the tree is watched as a whole anyway.
"""

import argparse
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# The helper: allocates and touches N MiB, says "ready", answers "run" lines, exits on EOF.
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
    print(f"s1-leaky: {msg}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds of batch (default 15)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the number of workers, hence the item rate (default 1: "
                        "8 workers, 2 items/s)")
    p.add_argument("--helper-mib", type=int, default=8, help="memory each helper holds (default 8)")
    p.add_argument("--item-seconds", type=float, default=4.0,
                   help="how long one item runs on its helper, on average (default 4)")
    args = p.parse_args()

    # The bug, part 1: a worker count picked for speed, not from memory (the seed ran 32).
    workers = max(1, round(8 * args.scale))
    item_seconds = args.item_seconds
    log(f"{workers} workers, each item starts a {args.helper_mib} MiB helper and keeps it; "
        f"~{workers / item_seconds:.1f} items/s for {args.duration:g} s")

    proxies = []  # The bug, part 2: every helper is kept here and never stopped.
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration
    done = 0

    def run_item(n, rng):
        nonlocal done
        helper = subprocess.Popen(
            [sys.executable, "-c", HELPER, str(args.helper_mib)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        with lock:
            proxies.append(helper)
        helper.stdout.readline()  # "ready"
        helper.stdin.write(f"config-{n}\n")
        helper.stdin.flush()
        helper.stdout.readline()
        # The benchmark on this config: 0.5x to 1.5x the average time.
        seconds = item_seconds * rng.uniform(0.5, 1.5)
        time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))
        with lock:
            done += 1
        # ...and the helper is left running.

    def worker(w):
        rng = random.Random(w)  # the same run every time
        time.sleep(min(w * item_seconds / workers, args.duration))  # staggered start
        n = 0
        while time.monotonic() < deadline:
            run_item(n, rng)
            n += 1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(worker, w) for w in range(workers)]:
            f.result()

    alive = sum(1 for h in proxies if h.poll() is None)
    log(f"done: {done} items in {args.duration:g} s; {len(proxies)} helpers started, "
        f"{alive} still alive at exit (never stopped)")


if __name__ == "__main__":
    main()
