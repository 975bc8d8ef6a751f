#!/usr/bin/env python3
"""S2 pipeline, leaky: a producer outruns its consumer processes through unbounded
multiprocessing queues.

The seed: a multi-process solver, one producer feeding worker queues; the producer was faster
than the consumers and the queues had no bound. Here the producer makes --rate items/s of
--item-kib each; two consumers take ~30 items/s each. `Queue.put` never blocks: what the pipe
cannot take waits in the queue's buffer inside the producer, so the producer's anonymous memory
climbs as a line at (produced - consumed) x item size (~5.6 MiB/s by default) for as long as it
runs. At the end the backlog is abandoned and the consumers are stopped.
"""

import argparse
import multiprocessing as mp
import sys
import time

KIB = 1 << 10
MIB = 1 << 20


def log(msg):
    print(f"s2-leaky: {msg}", file=sys.stderr, flush=True)


def consume(queue, per_item_s, done):
    """Takes items one by one; each takes `per_item_s` to process."""
    while True:
        item = queue.get()
        if item is None:
            return
        time.sleep(per_item_s)  # the solver's work on this item
        _ = item[0] + item[-1]
        with done.get_lock():
            done.value += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=12.0, help="seconds of producing (default 12)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplies the production rate (default 1)")
    p.add_argument("--rate", type=float, default=150.0, help="items produced per second (default 150)")
    p.add_argument("--item-kib", type=int, default=64, help="size of one item (default 64)")
    p.add_argument("--consumers", type=int, default=2, help="consumer processes (default 2)")
    args = p.parse_args()
    rate = args.rate * args.scale
    per_item_s = 1 / 30
    size = args.item_kib * KIB

    ctx = mp.get_context("spawn")
    done = ctx.Value("q", 0)
    queues = [ctx.Queue() for _ in range(args.consumers)]  # the bug: no maxsize
    consumers = [ctx.Process(target=consume, args=(q, per_item_s, done), daemon=True)
                 for q in queues]
    for c in consumers:
        c.start()
    log(f"producing {rate:g} items/s of {args.item_kib} KiB into {len(queues)} unbounded queues; "
        f"consumers take ~{len(queues) / per_item_s:.0f} items/s; {args.duration:g} s")

    start = time.monotonic()
    produced = 0
    tick = 0.01
    while time.monotonic() - start < args.duration:
        due = int((time.monotonic() - start) * rate)
        while produced < due:
            item = bytes([produced % 251 + 1]) * size  # a fresh work item
            queues[produced % len(queues)].put(item)  # never blocks: the backlog piles up here
            produced += 1
        time.sleep(tick)

    backlog = sum(q.qsize() for q in queues)
    for c in consumers:
        c.terminate()
    for q in queues:
        q.cancel_join_thread()  # or exiting would wait for the whole backlog to drain
    for c in consumers:
        c.join()
    log(f"done: {produced} produced, {done.value} consumed in {args.duration:g} s; "
        f"{backlog} items ({backlog * size / MIB:.0f} MiB) abandoned in the queues")


if __name__ == "__main__":
    main()
