#!/usr/bin/env python3
"""S2 pipeline, fixed: the same producer and consumers, through bounded queues with blocking
`put(timeout=...)` (backpressure) and a stop event.

What the seed's owners did: `maxsize` on the queues, a blocking `put` with a timeout, a stop
event, and an emergency shutdown (a 4 GB `RLIMIT_AS` and a timeout around every run). The
producer now runs at the consumers' pace: at most --maxsize items wait per queue, so the tree's
anonymous memory is flat after start-up. The emergency limit is a `memwarden.Watchdog` on the
whole tree (producer and consumers; `pip install ./crates/memwarden-py`): past --limit-mib it
sets the stop event, every stage ends within its timeout, and the run exits 3. Unlike
`RLIMIT_AS`, it counts the memory really used, by every process, and stops cleanly.
"""

import argparse
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import time

try:
    import memwarden
except ImportError:
    sys.exit("s2-fixed needs the memwarden package: pip install ./crates/memwarden-py")

KIB = 1 << 10
MIB = 1 << 20


def log(msg):
    print(f"s2-fixed: {msg}", file=sys.stderr, flush=True)


def consume(queue, per_item_s, done, stop):
    """Takes items until the stop event is set; never blocks for longer than 0.2 s."""
    while not stop.is_set():
        try:
            item = queue.get(timeout=0.2)
        except queue_mod.Empty:
            continue
        time.sleep(per_item_s)  # the solver's work on this item
        _ = item[0] + item[-1]
        with done.get_lock():
            done.value += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=12.0, help="seconds of producing (default 12)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the production rate (default 1)")
    p.add_argument("--rate", type=float, default=150.0,
                   help="items the producer would make per second (default 150)")
    p.add_argument("--item-kib", type=int, default=64, help="size of one item (default 64)")
    p.add_argument("--consumers", type=int, default=2, help="consumer processes (default 2)")
    p.add_argument("--maxsize", type=int, default=8, help="bound of each queue (default 8)")
    p.add_argument("--put-timeout", type=float, default=1.0,
                   help="seconds a put may block before the producer checks for a stop (default 1)")
    p.add_argument("--limit-mib", type=float, default=512.0,
                   help="emergency stop when the whole tree's memory passes this (default 512)")
    args = p.parse_args()
    rate = args.rate * args.scale
    per_item_s = 1 / 30
    size = args.item_kib * KIB

    ctx = mp.get_context("spawn")
    done = ctx.Value("q", 0)
    stop = ctx.Event()
    queues = [ctx.Queue(maxsize=args.maxsize) for _ in range(args.consumers)]
    consumers = [ctx.Process(target=consume, args=(q, per_item_s, done, stop), daemon=True)
                 for q in queues]
    for c in consumers:
        c.start()
    log(f"producing up to {rate:g} items/s of {args.item_kib} KiB into {len(queues)} queues of "
        f"{args.maxsize}, blocking put (timeout {args.put_timeout:g} s); consumers take "
        f"~{len(queues) / per_item_s:.0f} items/s; {args.duration:g} s")

    def emergency(reading):
        log(f"EMERGENCY: tree at {reading.bytes / MIB:.0f} MiB >= {args.limit_mib:g} MiB; "
            "stopping every stage")
        stop.set()

    watchdog = memwarden.Watchdog(tree=os.getpid(), limit=int(args.limit_mib * MIB),
                                  interval="100ms", on_limit=emergency)
    watchdog.start()
    start = time.monotonic()
    produced = 0
    waits = 0  # puts that found their queue full for a whole timeout
    while time.monotonic() - start < args.duration and not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while produced < due and time.monotonic() - start < args.duration:
            item = bytes([produced % 251 + 1]) * size  # a fresh work item
            q = queues[produced % len(queues)]
            put = False
            while not put:
                try:
                    q.put(item, timeout=args.put_timeout)  # backpressure: waits for room
                    put = True
                except queue_mod.Full:
                    waits += 1
                    if stop.is_set() or time.monotonic() - start >= args.duration:
                        break
            if not put:
                break
            produced += 1
        time.sleep(0.01)

    emergency_stop = stop.is_set()
    stop.set()  # every stage ends within its next timeout
    for c in consumers:
        c.join(timeout=5)
        if c.is_alive():
            c.terminate()
            c.join()
    left = sum(q.qsize() for q in queues)
    for q in queues:
        q.cancel_join_thread()  # at most maxsize items each; consumers are gone
    log(f"done: {produced} produced, {done.value} consumed in {args.duration:g} s "
        f"({produced / args.duration:.0f}/s, the consumers' pace); {left} items left queued "
        f"(at most {args.maxsize} per queue); {waits} puts waited a full timeout; peak tree "
        f"{watchdog.peak.bytes / MIB:.0f} MiB")
    watchdog.stop()
    sys.exit(3 if emergency_stop else 0)


if __name__ == "__main__":
    main()
