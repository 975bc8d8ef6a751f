#!/usr/bin/env python3
"""`memwarden analyze` measured: this tree beside a baseline build, in the same run.

Method. bench/src/gentrace.c writes a synthetic trace of N points (a saw over a slowly rising
floor, one point every 10 ms, `t_seconds,rss_bytes,anon_bytes`). Each build runs
`memwarden analyze --format json TRACE` under bench/src/rusage.c, which reports the kernel's
own account of the process (wait4: peak resident memory, user + system CPU); wall time is taken
around it. The builds alternate, the order swapping every round, so a busy neighbour weighs on
both alike; ratios are taken within a round and their median reported. Samples per second are
the samples the report counts, over the wall time, end to end (start, read, parse, judge,
report). Then hostile inputs: a device of zeros (this tree only: the baseline reads it until the
machine's memory is gone), a 100 MB line after a header, and the trace through a FIFO.

Standard library only; bench/analyze.sh builds everything and calls this.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time

from machine import describe as describe_machine

MIB = 1024 * 1024


def measure(rusage, argv, timeout=600):
    """Runs argv under the rusage launcher; returns status, cpu_s, rss_mib, wall_s, stdout,
    stderr."""
    with tempfile.NamedTemporaryFile(delete=False) as r:
        result = r.name
    start = time.monotonic()
    p = subprocess.run([rusage, result] + argv, capture_output=True, timeout=timeout)
    wall = time.monotonic() - start
    with open(result) as f:
        fields = dict(kv.split("=") for kv in f.read().split())
    for path in (result, result + ".pid"):
        if os.path.exists(path):
            os.unlink(path)
    return dict(status=int(fields["status"]), cpu=float(fields["cpu_s"]),
                rss=int(fields["maxrss_kib"]) / 1024, wall=wall, out=p.stdout, err=p.stderr)


def analyze(rusage, binary, trace):
    m = measure(rusage, [binary, "analyze", "--format", "json", trace])
    if m["status"] != 0:
        raise SystemExit(f"{binary} analyze failed ({m['status']}): {m['err'][:300]!r}")
    report = json.loads(m["out"])
    m["samples"] = report["samples"]
    m["verdict"] = report["verdict"]["kind"]
    m["rate"] = report["samples"] / m["wall"]
    m["cpu_rate"] = report["samples"] / m["cpu"]
    return m


def hostile(a, work):
    rows = []
    # A device of zeros: the baseline is not run on it (it grew to the machine's memory).
    m = measure(a.rusage, [a.new, "analyze", "/dev/zero"], timeout=60)
    rows.append(("`/dev/zero`", "not run (reads until the machine's memory is gone)",
                 f"exit {m['status']} in {m['wall'] * 1000:.0f} ms, {m['rss']:.1f} MiB, "
                 f"{len(m['err'])} bytes on stderr"))
    line = os.path.join(work, "line.csv")
    with open(line, "wb") as f:
        f.write(b"t_seconds,rss_bytes\n")
        chunk = b"7" * MIB
        for _ in range(100):
            f.write(chunk)
        f.write(b"\n0,5\n")
    cells = []
    for binary in (a.baseline, a.new):
        m = measure(a.rusage, [binary, "analyze", line])
        cells.append(f"exit {m['status']} in {m['wall'] * 1000:.0f} ms, {m['rss']:.1f} MiB, "
                     f"{len(m['err']):,} bytes on stderr")
    rows.append(("a 100 MB line after a header", cells[0], cells[1]))
    fifo = os.path.join(work, "trace.fifo")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)

    def feed():
        with open(a.trace_path, "rb") as src, open(fifo, "wb") as dst:
            while True:
                block = src.read(1 << 20)
                if not block:
                    break
                dst.write(block)

    writer = threading.Thread(target=feed)
    writer.start()
    m = analyze(a.rusage, a.new, fifo)
    writer.join()
    os.unlink(fifo)
    rows.append((f"the {m['samples']:,}-point trace through a FIFO", "(as the file)",
                 f"{m['rss']:.1f} MiB, {m['rate'] / 1e6:.2f} M samples/s"))
    os.unlink(line)
    return rows


def main():
    ap = argparse.ArgumentParser()
    for arg in ("--new", "--baseline", "--baseline-rev", "--gentrace", "--rusage", "--work",
                "--command"):
        ap.add_argument(arg, required=True)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write")
    a = ap.parse_args()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    host = describe_machine()
    a.trace_path = os.path.join(a.work, f"trace-{a.points}.csv")
    if not os.path.exists(a.trace_path):
        subprocess.run([a.gentrace, str(a.points), a.trace_path], check=True)
    size = os.path.getsize(a.trace_path) / MIB
    runs = {"baseline": [], "new": []}
    for i in range(a.repeats):
        order = ["baseline", "new"] if i % 2 == 0 else ["new", "baseline"]
        for which in order:
            binary = a.baseline if which == "baseline" else a.new
            m = analyze(a.rusage, binary, a.trace_path)
            runs[which].append(m)
            print(f"  round {i + 1} {which}: {m['rate'] / 1e6:.2f} M samples/s, "
                  f"{m['rss']:.1f} MiB, {m['verdict']}", flush=True)
    med = lambda which, k: statistics.median(m[k] for m in runs[which])
    speed = statistics.median(n["rate"] / b["rate"] for n, b in zip(runs["new"], runs["baseline"]))
    cpu_speed = statistics.median(
        n["cpu_rate"] / b["cpu_rate"] for n, b in zip(runs["new"], runs["baseline"]))
    memory = statistics.median(n["rss"] / b["rss"] for n, b in zip(runs["new"], runs["baseline"]))
    rows = hostile(a, a.work)

    new_rss, new_rate = med("new", "rss"), med("new", "rate")
    L = ["# `memwarden analyze`: memory and speed (bench/analyze.sh)", ""]
    L.append(f"Measured {when} on {host}, release builds, `{a.command.strip()}`.")
    L.append("")
    L.append(__doc__.split("Method. ", 1)[1].split("\n\nStandard library")[0].replace("\n", " "))
    L.append("")
    L.append(f"The trace: {a.points:,} points, {size:.0f} MiB of CSV. {a.repeats} runs of each "
             f"build; medians.")
    L.append("")
    L.append("| build | peak resident | samples/s end to end | samples per CPU second | wall | CPU "
             "| verdict |")
    L.append("|---|---|---|---|---|---|---|")
    for which, name in (("baseline", f"baseline `{a.baseline_rev}` (reads the whole trace first)"),
                        ("new", "this tree (streams)")):
        L.append(f"| {name} | {med(which, 'rss'):.1f} MiB | {med(which, 'rate') / 1e6:.2f} M | "
                 f"{med(which, 'cpu_rate') / 1e6:.2f} M | "
                 f"{med(which, 'wall'):.2f} s | {med(which, 'cpu'):.2f} s | "
                 f"{runs[which][0]['verdict']} |")
    L.append("")
    L.append(f"Within a round, this tree against the baseline: **{memory:.3f}×** the memory "
             f"(1/{1 / memory:.0f}), **{speed:.2f}×** the speed end to end, **{cpu_speed:.2f}×** "
             f"per CPU second (wall time on a shared machine follows its load; CPU time much "
             f"less).")
    L.append("")
    ok = lambda c: "met" if c else "NOT met"
    L.append(f"Target ≤ 32 MiB resident for 10 M points: {ok(new_rss <= 32)} "
             f"({new_rss:.1f} MiB). Target ≥ 3 M samples/s: {ok(new_rate >= 3e6)} "
             f"({new_rate / 1e6:.2f} M/s).")
    L.append("")
    L.append("Hostile inputs (one run each):")
    L.append("")
    L.append(f"| input | baseline `{a.baseline_rev}` | this tree |")
    L.append("|---|---|---|")
    for name, base, new in rows:
        L.append(f"| {name} | {base} | {new} |")
    L.append("")
    text = "\n".join(L)
    print(text)
    if a.write:
        os.makedirs(os.path.dirname(a.write), exist_ok=True)
        with open(a.write, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
