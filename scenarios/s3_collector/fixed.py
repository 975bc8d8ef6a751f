#!/usr/bin/env python3
"""S3 collector, fixed: bounded per-symbol buffers that flush, bounded histories, delisted
symbols dropped, and a real cleanup on SIGUSR1 or when memory passes a ceiling.

What the seed's owners did: smaller per-symbol buffers, cleanup every 100 cycles, cleanup when
RSS passed 4 GB, explicit clears + GC on stop. Here the buffers are `deque(maxlen=...)` flushed
into a small aggregate every 40 cycles, the histories `deque(maxlen=50)`; a delisted symbol's
entries are deleted; SIGUSR1 (what `memwarden run --on-warn signal:USR1` sends) clears every
cache, collects and trims; so does crossing --max-mib, which a `memwarden.Watchdog` watches
from its own thread (`pip install ./crates/memwarden-py`), and `memwarden.trim()` returns the
freed heap to the OS. Same load as the leaky variant: the same sawtooth, on a floor that is
flat once the histories are full (~3 s).
"""

import argparse
import gc
import math
import signal
import sys
import time
from array import array
from collections import deque

try:
    import memwarden
except ImportError:
    sys.exit("s3-fixed needs the memwarden package: pip install ./crates/memwarden-py")

MIB = 1 << 20
SYMBOLS = 50
ROW_DOUBLES = 1536  # 12 KiB feature row
SNAPSHOT_DOUBLES = 256  # 2 KiB history snapshot
CYCLE_S = 0.05
FLUSH_EVERY = 40  # cycles
HISTORY = 50  # snapshots kept per symbol


def log(msg):
    print(f"s3-fixed: {msg}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds of collecting (default 15)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the row and snapshot sizes, hence every rate (default 1)")
    p.add_argument("--max-mib", type=float, default=256.0,
                   help="clean everything when this process's memory passes it (default 256)")
    args = p.parse_args()
    row_n = max(1, int(ROW_DOUBLES * args.scale))
    snap_n = max(1, int(SNAPSHOT_DOUBLES * args.scale))

    active = [f"SYM{i}" for i in range(SYMBOLS)]
    next_symbol = SYMBOLS
    buffers = {s: deque(maxlen=FLUSH_EVERY) for s in active}
    histories = {s: deque(maxlen=HISTORY) for s in active}
    aggregates = {}  # what a flush keeps of a buffer: (rows, mean price)
    counts = {"flushes": 0, "signals": 0, "ceiling": 0}
    requested = []  # set by the signal handler and the watchdog; the cleanup runs in the loop

    def flush():
        for s, rows in buffers.items():
            if rows:
                n, mean = aggregates.get(s, (0, 0.0))
                mean = (mean * n + sum(r[0] for r in rows)) / (n + len(rows))
                aggregates[s] = (n + len(rows), mean)
                rows.clear()
        gc.collect()
        memwarden.trim()
        counts["flushes"] += 1

    def clean_everything(why):
        before = memwarden.anon_bytes()
        flush()
        for h in histories.values():
            h.clear()
        aggregates.clear()
        gc.collect()
        memwarden.trim()
        log(f"{why}: caches cleared, {(before - memwarden.anon_bytes()) / MIB:.1f} MiB returned")

    signal.signal(signal.SIGUSR1, lambda *_: requested.append("SIGUSR1"))
    # Once per crossing (re-armed below 90 % of it): a cleanup that works is not repeated.
    watchdog = memwarden.Watchdog(warn=int(args.max_mib * MIB), interval="100ms",
                                  on_warn=lambda: requested.append("ceiling"))
    watchdog.start()
    log(f"{SYMBOLS} symbols, a {row_n * 8 // 1024} KiB row each per {CYCLE_S * 1000:.0f} ms cycle, "
        f"buffers flushed every {FLUSH_EVERY} cycles, histories of {HISTORY}; SIGUSR1 cleans; "
        f"{args.duration:g} s")

    start = time.monotonic()
    cycle = 0
    while time.monotonic() - start < args.duration:
        t = time.monotonic() - start
        for i, s in enumerate(active):
            price = 100 + 10 * math.sin(t + i)
            buffers[s].append(array("d", (price,)) * row_n)
            histories[s].append((t, price, array("d", (price,)) * snap_n))
        cycle += 1
        if cycle % FLUSH_EVERY == 0:
            flush()
            # Churn: a symbol is delisted, a new one listed; the old one's entries go too.
            old = active[cycle // FLUSH_EVERY % SYMBOLS]
            new = f"SYM{next_symbol}"
            next_symbol += 1
            active[cycle // FLUSH_EVERY % SYMBOLS] = new
            for d in (buffers, histories, aggregates):
                d.pop(old, None)
            buffers[new] = deque(maxlen=FLUSH_EVERY)
            histories[new] = deque(maxlen=HISTORY)
        while requested:
            why = requested.pop()
            counts["signals" if why == "SIGUSR1" else "ceiling"] += 1
            clean_everything(why if why == "SIGUSR1" else f"memory above {args.max_mib:g} MiB")
        time.sleep(max(0.0, start + cycle * CYCLE_S - time.monotonic()))

    watchdog.stop()
    snapshots = sum(len(h) for h in histories.values())
    log(f"done: {cycle} cycles, {counts['flushes']} flushes, {counts['signals']} SIGUSR1 "
        f"cleanups, {counts['ceiling']} ceiling cleanups; {len(histories)} symbols held, "
        f"{snapshots} history snapshots ({snapshots * snap_n * 8 / MIB:.1f} MiB)")


if __name__ == "__main__":
    main()
