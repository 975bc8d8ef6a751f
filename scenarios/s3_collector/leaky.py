#!/usr/bin/env python3
"""S3 collector, leaky: per-symbol buffers that a periodic cleanup trims, and per-symbol
histories that nothing trims: a slow leak under a sawtooth.

The seed: a trading bot collecting ML features for 50 symbols went from 5 GB to 25 GB in 5 h;
its stop button freed nothing. Here, every cycle (50 ms) each of 50 symbols gets a 12 KiB
feature row in its buffer and a 2 KiB snapshot in its history. Every 40 cycles a cleanup trims
the buffers of the active symbols and returns the freed memory (gc + malloc_trim): the
sawtooth. But the histories keep every snapshot, and symbols that churn out (one every
cleanup) keep their buffers: the floor under the sawtooth rises ~2 MiB/s. SIGUSR1 (the stop
button) runs the same cleanup, so it frees the teeth and never the floor.
"""

import argparse
import ctypes
import gc
import math
import signal
import sys
import time
from array import array

MIB = 1 << 20
SYMBOLS = 50
ROW_DOUBLES = 1536  # 12 KiB feature row
SNAPSHOT_DOUBLES = 256  # 2 KiB history snapshot
CYCLE_S = 0.05
CLEANUP_EVERY = 40  # cycles
KEEP_ROWS = 4  # rows a cleanup leaves in each buffer


def log(msg):
    print(f"s3-leaky: {msg}", file=sys.stderr, flush=True)


def _libc_trim():
    """glibc's malloc_trim, or a no-op elsewhere: returns freed heap pages to the OS."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter is linked with
    except (OSError, AttributeError):
        return lambda: 0
    return lambda: trim(0)


malloc_trim = _libc_trim()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds of collecting (default 15)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the row and snapshot sizes, hence every rate (default 1)")
    args = p.parse_args()
    row_n = max(1, int(ROW_DOUBLES * args.scale))
    snap_n = max(1, int(SNAPSHOT_DOUBLES * args.scale))

    active = [f"SYM{i}" for i in range(SYMBOLS)]
    next_symbol = SYMBOLS
    buffers = {s: [] for s in active}  # trimmed by cleanup, for active symbols only
    histories = {s: [] for s in active}  # the leak: never trimmed
    cleanups = 0

    def cleanup():
        nonlocal cleanups
        for s in active:
            del buffers[s][:-KEEP_ROWS]
        gc.collect()
        malloc_trim()
        cleanups += 1

    signal.signal(signal.SIGUSR1, lambda *_: cleanup())
    log(f"{SYMBOLS} symbols, a {row_n * 8 // 1024} KiB row each per {CYCLE_S * 1000:.0f} ms cycle, "
        f"cleanup every {CLEANUP_EVERY} cycles; histories never trimmed; {args.duration:g} s")

    start = time.monotonic()
    cycle = 0
    while time.monotonic() - start < args.duration:
        t = time.monotonic() - start
        for i, s in enumerate(active):
            price = 100 + 10 * math.sin(t + i)
            buffers[s].append(array("d", (price,)) * row_n)
            histories[s].append((t, price, array("d", (price,)) * snap_n))
        cycle += 1
        if cycle % CLEANUP_EVERY == 0:
            cleanup()
            # Churn: a symbol is delisted, a new one listed. The old one's buffer and history
            # stay in the dicts: nobody deletes keys.
            active[cycle // CLEANUP_EVERY % SYMBOLS] = f"SYM{next_symbol}"
            buffers[f"SYM{next_symbol}"] = []
            histories[f"SYM{next_symbol}"] = []
            next_symbol += 1
        time.sleep(max(0.0, start + cycle * CYCLE_S - time.monotonic()))

    snapshots = sum(len(h) for h in histories.values())
    log(f"done: {cycle} cycles, {cleanups} cleanups; {len(histories)} symbols kept "
        f"({len(histories) - SYMBOLS} delisted), {snapshots} history snapshots "
        f"({snapshots * snap_n * 8 / MIB:.0f} MiB) never freed")


if __name__ == "__main__":
    main()
