#!/usr/bin/env python3
"""The measurements behind BENCHMARKS.md; bench/run.sh builds everything and calls this.

Every figure of CPU time comes from the kernel's accounting of the measured process itself
(wait4's rusage, taken by bench/src/rusage.c: user + system time, all its threads), divided by samples x processes, where
the samples are counted from what the tool wrote (memwarden's JSON report, psrecord's log,
mprof's .dat, the floors' own count) and the processes are the tree's (parent + children).
Tools are measured one after another on the same tree, in an order that rotates every round,
so a busy neighbour weighs on all of them alike; ratios are taken within a round, and the
median over rounds is reported.

Standard library only (the venv holds psrecord and mprof, which are run as programs).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024
TOOLS = ["memwarden", "naive floor", "held floor", "psrecord", "mprof"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


RUSAGE = None  # bench/src/rusage.c, set in main()


def run_measured(argv, stop_after=None, stop_signal=signal.SIGINT, poll=None):
    """Runs argv under the rusage launcher to its end (or sends stop_signal after stop_after
    seconds) and returns (status, cpu_s, maxrss_kib, wall_s, stdout). `poll(pid, elapsed)` is
    called every 0.2 s while it runs, with the measured process's PID."""
    out = tempfile.TemporaryFile()
    result = tempfile.NamedTemporaryFile(delete=False)
    result.close()
    for path in (result.name, result.name + ".pid"):
        if os.path.exists(path):
            os.unlink(path)
    start = time.monotonic()
    p = subprocess.Popen([RUSAGE, result.name] + argv, stdout=out, stderr=subprocess.DEVNULL)
    signalled = False
    pid = None
    while p.poll() is None:
        elapsed = time.monotonic() - start
        if stop_after is not None and not signalled and elapsed >= stop_after:
            os.kill(p.pid, stop_signal)  # forwarded by the launcher
            signalled = True
        if poll:
            if pid is None and os.path.exists(result.name + ".pid"):
                with open(result.name + ".pid") as f:
                    text = f.read().strip()
                if text.startswith("pid="):
                    pid = int(text[4:])
            if pid is not None:
                poll(pid, elapsed)
        time.sleep(0.05 if stop_after is not None else 0.2)
    wall = time.monotonic() - start
    with open(result.name) as f:
        fields = dict(kv.split("=") for kv in f.read().split())
    for path in (result.name, result.name + ".pid"):
        if os.path.exists(path):
            os.unlink(path)
    out.seek(0)
    return (int(fields["status"]), float(fields["cpu_s"]), int(fields["maxrss_kib"]), wall,
            out.read().decode())


class Tree:
    """A parent with n sleeping children (bench/src/tree.c), for the length of a with-block."""

    def __init__(self, exe, n, workdir, spawn_per_s=0):
        self.exe, self.n, self.workdir, self.spawn = exe, n, workdir, spawn_per_s

    def __enter__(self):
        self.pidfile = os.path.join(self.workdir, f"tree-{self.n}.pids")
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        argv = [self.exe, str(self.n), self.pidfile]
        if self.spawn:
            argv.append(str(self.spawn))
        self.proc = subprocess.Popen(argv)
        deadline = time.monotonic() + 120
        while not os.path.exists(self.pidfile):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the tree of {self.n} children did not start")
            time.sleep(0.05)
        with open(self.pidfile) as f:
            self.pids = [int(x) for x in f.read().split()]
        self.root = self.pids[0]
        time.sleep(0.5)  # let the children settle into pause()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


# --- one measurement per tool --------------------------------------------------------------


def measure_memwarden(a, tree, duration, work):
    db = os.path.join(work, "watch.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    report = os.path.join(work, "watch.json")
    argv = [a.bin, "--db", db, "watch", "-q", "--interval", "10ms",
            "--duration", f"{duration}s", "--json", report, str(tree.root)]
    hwm = [0]

    def poll(pid, _elapsed):
        hwm[0] = max(hwm[0], read_status(pid).get("VmHWM", 0))

    status, cpu, maxrss, wall, _ = run_measured(argv, poll=poll)
    # The kernel's ru_maxrss comes from per-CPU counters that may lag by up to a batch of pages
    # per CPU; /proc's VmHWM is exact. The larger of the two is reported.
    maxrss = max(maxrss, hwm[0])
    if status != 0:
        raise SystemExit(f"memwarden watch failed with status {status}: {' '.join(argv)}")
    with open(report) as f:
        r = json.load(f)
    return dict(cpu_s=cpu, samples=r["samples"], processes=r["processes"]["max_alive"],
                wall_s=wall, maxrss_kib=maxrss)


def measure_floor(a, mode, tree, duration, work):
    argv = [a.floor, mode, "10", str(duration), tree.pidfile]
    status, cpu, maxrss, wall, out = run_measured(argv)
    if status != 0:
        raise SystemExit(f"floor {mode} failed with status {status}")
    fields = dict(kv.split("=") for kv in out.split())
    return dict(cpu_s=cpu, samples=int(fields["samples"]), processes=int(fields["processes"]),
                wall_s=wall, maxrss_kib=maxrss)


def measure_psrecord(a, tree, duration, work):
    logf = os.path.join(work, "psrecord.log")
    if os.path.exists(logf):
        os.unlink(logf)
    argv = [os.path.join(a.venv, "bin", "psrecord"), str(tree.root), "--include-children",
            "--interval", "0.01", "--duration", str(duration), "--log", logf]
    status, cpu, maxrss, wall, _ = run_measured(argv)
    with open(logf) as f:
        samples = sum(1 for line in f if line.strip() and not line.startswith("#"))
    return dict(cpu_s=cpu, samples=samples, processes=len(tree.pids), wall_s=wall,
                maxrss_kib=maxrss)


def measure_mprof(a, tree, duration, work):
    # `mprof attach` counts its timeout in samples (timeout / interval) and sleeps a whole
    # interval after each, so it cannot be told a wall-clock duration: it is interrupted
    # (SIGINT, which closes its file) after the same time the others run.
    dat = os.path.join(work, "mprof.dat")
    if os.path.exists(dat):
        os.unlink(dat)
    argv = [os.path.join(a.venv, "bin", "mprof"), "attach", "--include-children",
            "--interval", "0.01", "--timeout", "100000", "-o", dat, str(tree.root)]
    status, cpu, maxrss, wall, _ = run_measured(argv, stop_after=duration)
    with open(dat) as f:
        samples = sum(1 for line in f if re.match(r"MEM \S+ \S+$", line))
    return dict(cpu_s=cpu, samples=samples, processes=len(tree.pids), wall_s=wall,
                maxrss_kib=maxrss)


def measure(a, tool, tree, duration, work):
    if tool == "memwarden":
        return measure_memwarden(a, tree, duration, work)
    if tool == "naive floor":
        return measure_floor(a, "naive", tree, duration, work)
    if tool == "held floor":
        return measure_floor(a, "held", tree, duration, work)
    if tool == "psrecord":
        return measure_psrecord(a, tree, duration, work)
    return measure_mprof(a, tree, duration, work)


def per_ps_us(m):
    return m["cpu_s"] / (m["samples"] * m["processes"]) * 1e6 if m["samples"] else float("nan")


def sampling(a, work):
    """Returns {size: {"duration": d, "rounds": [{tool: measurement}]}}."""
    results = {}
    for n in a.sizes:
        duration = a.duration_500 if n == 500 else a.duration
        with Tree(a.tree, n, work) as tree:
            rounds = []
            for r in range(a.repeats):
                order = TOOLS[r % len(TOOLS):] + TOOLS[:r % len(TOOLS)]
                row = {}
                for tool in order:
                    row[tool] = measure(a, tool, tree, duration, work)
                    m = row[tool]
                    log(f"  {n:>5} children, round {r + 1}: {tool:<12} {m['samples']:>5} samples "
                        f"{m['cpu_s']:7.3f} s CPU  {per_ps_us(m):8.2f} us/process-sample")
                rounds.append(row)
            results[n] = dict(duration=duration, processes=len(tree.pids), rounds=rounds)
    return results


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def summarize_sampling(results):
    """Per size and tool: medians of the per-round figures, and of the per-round ratios."""
    out = {}
    for n, res in results.items():
        rounds = res["rounds"]
        s = {}
        for tool in TOOLS:
            ms = [r[tool] for r in rounds]
            s[tool] = dict(
                us=med([per_ps_us(m) for m in ms]),
                samples=med([m["samples"] for m in ms]),
                cpu_s=med([m["cpu_s"] for m in ms]),
                wall_s=med([m["wall_s"] for m in ms]),
                maxrss_kib=max(m["maxrss_kib"] for m in ms),
                processes=ms[0]["processes"],
                to_naive=med([per_ps_us(r[tool]) / per_ps_us(r["naive floor"]) for r in rounds]),
                to_held=med([per_ps_us(r[tool]) / per_ps_us(r["held floor"]) for r in rounds]),
                vs_memwarden=med([per_ps_us(r[tool]) / per_ps_us(r["memwarden"]) for r in rounds]),
                # CPU per sample, for the marginal cost of one more process
                per_sample_us=med([m["cpu_s"] / m["samples"] * 1e6 for m in ms if m["samples"]]),
            )
        out[n] = dict(duration=res["duration"], tools=s)
    return out


def marginal(summary, tool):
    """Extra CPU per sample for each extra process, between the two largest trees (the
    fixed per-sample cost falls out)."""
    sizes = sorted(summary)
    if len(sizes) < 2:
        return float("nan")
    lo, hi = sizes[-2], sizes[-1]
    a, b = summary[lo]["tools"][tool], summary[hi]["tools"][tool]
    return (b["per_sample_us"] - a["per_sample_us"]) / (b["processes"] - a["processes"])


# --- footprint and soak ----------------------------------------------------------------------


def read_status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    fields[k] = int(v.split()[0])
    except OSError:
        pass
    return fields


def soak(a, work):
    """memwarden watching a 2,000-child tree with churn, its VmRSS read every few seconds."""
    minutes = a.soak_minutes
    db = os.path.join(work, "soak.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    report = os.path.join(work, "soak.json")
    series = []
    last = [-1e9]

    def poll(pid, elapsed):
        if elapsed - last[0] >= a.soak_every:
            last[0] = elapsed
            st = read_status(pid)
            if "VmRSS" in st:
                series.append((elapsed, st["VmRSS"], st.get("RssAnon", 0), st.get("VmHWM", 0)))

    with Tree(a.tree, a.soak_children, work, spawn_per_s=a.soak_spawn) as tree:
        argv = [a.bin, "--db", db, "watch", "-q", "--interval", "10ms",
                "--duration", f"{int(minutes * 60)}s", "--json", report, str(tree.root)]
        status, cpu, maxrss, wall, _ = run_measured(argv, poll=poll)
    if status != 0:
        raise SystemExit(f"the soak's memwarden watch failed with status {status}")
    with open(report) as f:
        r = json.load(f)
    maxrss = max([maxrss] + [hwm for _, _, _, hwm in series])  # as in measure_memwarden
    return dict(minutes=minutes, wall_s=wall, cpu_s=cpu, samples=r["samples"],
                seen=r["processes"]["seen"], max_alive=r["processes"]["max_alive"],
                maxrss_kib=maxrss, series=series,
                db_bytes=os.path.getsize(db) if os.path.exists(db) else 0)


def flatness(series, warmup_s):
    """RSS after warm-up, KiB: first, last and highest reading, the growth over the soak's
    second half, and the least-squares trend over that half in KiB/h."""
    pts = [(t, rss) for t, rss, _, _ in series if t >= warmup_s] or [(t, rss) for t, rss, _, _ in series]
    if not pts:
        return dict(first=0, last=0, max=0, second_half=0, slope_kib_h=0.0)
    half_t = series[-1][0] / 2
    at_half = next((r for t, r in pts if t >= half_t), pts[-1][1])
    half = [(t, r) for t, r in pts if t >= half_t] or pts
    n = len(half)
    mt = sum(t for t, _ in half) / n
    mr = sum(r for _, r in half) / n
    var = sum((t - mt) ** 2 for t, _ in half)
    slope = sum((t - mt) * (r - mr) for t, r in half) / var if var else 0.0
    return dict(first=pts[0][1], last=pts[-1][1], max=max(r for _, r in pts),
                second_half=pts[-1][1] - at_half, slope_kib_h=slope * 3600)


# --- analyze --------------------------------------------------------------------------------


def analyze(a, work):
    trace = os.path.join(work, "trace.csv")
    stamp = trace + ".points"
    made = open(stamp).read() if os.path.exists(stamp) and os.path.exists(trace) else ""
    if made != str(a.points):
        subprocess.run([a.gentrace, str(a.points), trace], check=True)
        with open(stamp, "w") as f:
            f.write(str(a.points))
    runs = []
    for _ in range(a.repeats):
        status, cpu, maxrss, wall, out = run_measured([a.bin, "analyze", "--format", "json", trace])
        if status not in (0, 1):
            raise SystemExit(f"memwarden analyze failed with status {status}")
        r = json.loads(out)
        if isinstance(r, list):
            r = r[0]
        runs.append(dict(wall_s=wall, cpu_s=cpu, samples=r["samples"], maxrss_kib=maxrss,
                         verdict=r["verdict"]["kind"]))
        log(f"  analyze: {r['samples']} samples in {wall:.2f} s ({r['samples'] / wall / 1e6:.2f} M/s)")
    return dict(points=a.points, bytes=os.path.getsize(trace), runs=runs,
                rate=med([r["samples"] / r["wall_s"] for r in runs]),
                wall_s=med([r["wall_s"] for r in runs]),
                cpu_s=med([r["cpu_s"] for r in runs]),
                maxrss_kib=max(r["maxrss_kib"] for r in runs), verdict=runs[0]["verdict"])


# --- overshoot, store, micro-benchmarks ------------------------------------------------------


def overshoot(a):
    if a.overshoot_runs <= 0:
        return None
    p = subprocess.run(["bash", os.path.join(a.root, "bench", "overshoot.sh"),
                        "--runs", str(a.overshoot_runs), "--limit", "1024"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        return dict(error=p.stderr.strip()[-2000:], table="")
    rows = {}
    for line in p.stdout.splitlines():
        # | mode | allocator | baseline median / max | its CPU | this tree median / max | its CPU |
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("kernel", "polled"):
            median, worst = (float(x) for x in cells[4].split(" / "))
            rows[(cells[0], cells[1])] = (median, worst)
    return dict(table=p.stdout.strip(), rows=rows, note=p.stderr.strip())


def store(a, work):
    db = os.path.join(work, "store-day.db")
    p = subprocess.run([a.store_day, db, "--hours", str(a.store_hours), "--interval", "1"],
                       stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(p.stdout)


def criterion_results(a):
    """Mean and its interval of every criterion benchmark under target/criterion."""
    base = os.path.join(a.root, "target", "criterion")
    out = []
    for dirpath, _, files in os.walk(base):
        if os.path.basename(dirpath) == "new" and "estimates.json" in files and "benchmark.json" in files:
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                meta = json.load(f)
            with open(os.path.join(dirpath, "estimates.json")) as f:
                est = json.load(f)
            mean = est["mean"]
            out.append(dict(id=meta["full_id"], ns=mean["point_estimate"],
                            lo=mean["confidence_interval"]["lower_bound"],
                            hi=mean["confidence_interval"]["upper_bound"],
                            throughput=meta.get("throughput")))
    return sorted(out, key=lambda r: r["id"])


# --- the machine and the report -------------------------------------------------------------


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return dict(cpu=model, nproc=os.cpu_count(), mem_gib=mem / 2**30,
                kernel=platform.release(), load=load,
                rustc=subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip(),
                python=platform.python_version())


def fmt(x, digits=2):
    if x != x:
        return "—"
    return f"{x:,.{digits}f}"


def verdict_line(name, met, figure):
    return (name, "met" if met else "NOT MET", figure)


def build_report(a, m, samp, foot, ana, over, sto, crit, started, finished):
    summ = summarize_sampling(samp) if samp else {}
    verdicts = []
    L = []
    L.append("# Benchmarks")
    L.append("")
    L.append("Produced by `bench/run.sh` (it wrote this file); the targets are the README's. "
             "Every figure is measured, on the machine below, in one run of the script.")
    L.append("")
    L.append(f"- **Date:** {started:%Y-%m-%d %H:%M} – {finished:%H:%M} UTC")
    L.append(f"- **Command:** `{a.command}`")
    L.append(f"- **Machine:** {m['cpu']}, {m['nproc']} CPUs (`nproc`), {m['mem_gib']:.1f} GiB RAM, "
             f"Linux {m['kernel']}; {m['rustc']}; Python {m['python']}; psrecord and "
             f"memory_profiler (mprof) from PyPI in a private venv. Load average at the start: "
             f"{a.load_at_start}, at the end: {m['load']} (the machine is shared).")
    L.append("")

    if summ:
        L.append("## 1. Sampling cost per process per sample")
        L.append("")
        L.append(f"A parent with N sleeping children (`bench/src/tree.c`), watched at a 10 ms interval "
                 f"by each tool in turn for {a.duration} s ({a.duration_500} s for 500 children), "
                 f"{a.repeats} rounds in a rotating order; the table gives medians over the rounds. "
                 "CPU is the tool's own user + system time from the kernel (wait4's rusage through a small launcher, `bench/src/rusage.c`; all its "
                 "threads, start-up and exit included); the cost is that CPU divided by samples x "
                 "processes (the parent and its children). The ratios are taken within each round "
                 "(same tree, same minute) and their median reported.")
        L.append("")
        L.append("- **naive floor** (`bench/src/floor.c naive`): open, read, close `/proc/PID/stat` and "
                 "`/proc/PID/statm` of every process every sample — what a simple sampler does.")
        L.append("- **held floor** (`floor.c held`): one `pread` at offset 0 of each process's "
                 "already-open `/proc/PID/statm` per sample.")
        L.append("- **memwarden**: `memwarden watch --interval 10ms --duration Ds --json F ROOT` "
                 "(release build, default options: its store, detector and report included).")
        L.append("- **psrecord**: `psrecord ROOT --include-children --interval 0.01 --duration D --log F`; "
                 "samples are the log's lines.")
        L.append("- **mprof**: `mprof attach --include-children --interval 0.01 -o F ROOT`, interrupted "
                 "after D s (its timeout counts samples, not seconds); samples are the `MEM` lines.")
        L.append("")
        L.append("| children | tool | samples | CPU s | µs per process-sample | × naive floor | × held floor | × memwarden |")
        L.append("|---:|---|---:|---:|---:|---:|---:|---:|")
        for n, s in summ.items():
            for tool in TOOLS:
                t = s["tools"][tool]
                name = f"**{tool}**" if tool == "memwarden" else tool
                L.append(f"| {n:,} | {name} | {t['samples']:,.0f} | {fmt(t['cpu_s'], 3)} | {fmt(t['us'])} "
                         f"| {fmt(t['to_naive'])} | {fmt(t['to_held'])} | {fmt(t['vs_memwarden'], 1)} |")
        L.append("")
        sizes = sorted(summ)
        if len(sizes) >= 2:
            L.append(f"Marginal cost of one more process per sample (CPU per sample between the "
                     f"{sizes[-2]:,}- and {sizes[-1]:,}-children trees, so fixed per-sample costs "
                     "fall out): " + ", ".join(f"{tool} {fmt(marginal(summ, tool))} µs" for tool in TOOLS) + ".")
            L.append("")
        for n in sizes:
            mw = summ[n]["tools"]["memwarden"]
            if n >= 500:
                verdicts.append(verdict_line(
                    f"sampling, {n:,} children: ≤ 1.5× the naive floor (acceptance)",
                    mw["to_naive"] <= 1.5, f"{fmt(mw['to_naive'])}× ({fmt(mw['us'])} µs per process-sample, "
                    f"{mw['samples']:,.0f} samples)"))
                verdicts.append(verdict_line(
                    f"sampling, {n:,} children: ≤ 2× the held floor (aim)",
                    mw["to_held"] <= 2.0, f"{fmt(mw['to_held'])}×"))
        if 500 in summ:
            mw = summ[500]["tools"]["memwarden"]
            need = 20 * summ[500]["duration"]  # 200 in 10 s: a 10 ms interval kept to within 2x
            verdicts.append(verdict_line(
                f"sampling, 500 children: ≥ {need:,.0f} samples in {summ[500]['duration']:g} s",
                mw["samples"] >= need, f"{mw['samples']:,.0f}"))
        if any(n < 500 for n in sizes):
            small = [n for n in sizes if n < 500]
            L.append("On the smallest trees the per-sample work that does not depend on the tree "
                     "dominates memwarden's figure: the machine's `/proc/meminfo` and PSI, the "
                     "fork check, four detectors, the store's insert and its writer thread; "
                     f"ratios for {', '.join(str(x) for x in small)} children measure that, not "
                     "the per-process path.")
            L.append("")

    if foot or summ:
        L.append("## 2. memwarden's own memory")
        L.append("")
        big = max(summ) if summ else None
        if big is not None:
            kib = summ[big]["tools"]["memwarden"]["maxrss_kib"]
            L.append(f"Peak resident size while watching {big:,} children at 10 ms, over the rounds "
                     f"above: **{kib / 1024:.1f} MiB** (the larger of the kernel's max RSS from wait4 "
                     "and the highest VmHWM read from /proc while it ran: the former comes from "
                     "per-CPU counters that may lag by a batch of pages per CPU).")
            L.append("")
            verdicts.append(verdict_line(f"footprint watching {big:,} children ≤ 10 MiB",
                                         kib <= 10 * 1024, f"{kib / 1024:.1f} MiB"))
        if foot:
            warmup = min(60.0, foot["minutes"] * 60 * 0.2)
            fl = flatness(foot["series"], warmup)
            L.append(f"Soak: `memwarden watch --interval 10ms` for **{foot['minutes']:g} minutes** "
                     f"({foot['samples']:,} samples) of a parent with {a.soak_children:,} sleeping children "
                     f"that also starts {a.soak_spawn:g} short-lived children a second (each lives 200 ms): "
                     f"{foot['seen']:,} processes seen in all. VmRSS read every {a.soak_every:g} s:")
            L.append("")
            L.append("| minute | VmRSS MiB | RssAnon MiB | VmHWM MiB |")
            L.append("|---:|---:|---:|---:|")
            shown = set()
            for t, rss, anon, hwm in foot["series"]:
                minute = int(t // 60)
                if minute in shown and t != foot["series"][-1][0]:
                    continue
                shown.add(minute)
                L.append(f"| {t / 60:.1f} | {rss / 1024:.2f} | {anon / 1024:.2f} | {hwm / 1024:.2f} |")
            L.append("")
            L.append(f"After the first {warmup:g} s VmRSS went from {fl['first'] / 1024:.2f} to {fl['last'] / 1024:.2f} MiB "
                     f"(highest {fl['max'] / 1024:.2f} MiB; {fl['second_half']:+d} KiB over the second half; "
                     f"least-squares trend over the second half {fl['slope_kib_h']:+.0f} KiB/h); "
                     f"peak over the whole soak {foot['maxrss_kib'] / 1024:.2f} MiB; "
                     f"CPU {foot['cpu_s']:.1f} s; its database {foot['db_bytes'] / MIB:.1f} MiB.")
            L.append("")
            # Flat: the second half adds at most 128 KiB (32 pages: code paths first run late,
            # allocator rounding), nothing that grows with time.
            flat = fl["second_half"] <= 128
            verdicts.append(verdict_line(
                f"soak {foot['minutes']:g} min at 10 ms: ≤ 10 MiB and flat",
                foot["maxrss_kib"] <= 10 * 1024 and flat,
                f"max {foot['maxrss_kib'] / 1024:.2f} MiB, {fl['second_half']:+d} KiB over the second half"))

    if ana:
        L.append("## 3. Analysis throughput")
        L.append("")
        L.append(f"`memwarden analyze --format json trace.csv` on a synthetic trace of "
                 f"{ana['points']:,} points ({ana['bytes'] / MIB:.0f} MiB of CSV, `bench/src/gentrace.c`: "
                 "a saw over a slowly rising floor, one point every 10 ms), end to end (read, parse, "
                 f"detect, report), median of {len(ana['runs'])}: **{ana['rate'] / 1e6:.2f} M samples/s** "
                 f"({ana['wall_s']:.2f} s wall, {ana['cpu_s']:.2f} s CPU, peak RSS {ana['maxrss_kib'] / 1024:.0f} MiB; "
                 f"verdict `{ana['verdict']}`).")
        L.append("")
        verdicts.append(verdict_line("analyze ≥ 1 M samples/s", ana["rate"] >= 1e6,
                                     f"{ana['rate'] / 1e6:.2f} M/s"))

    if over is not None:
        L.append("## 4. Overshoot past `--limit`")
        L.append("")
        if over.get("error"):
            L.append(f"`bench/overshoot.sh` failed: {over['error']}")
            verdicts.append(verdict_line("overshoot", False, "the script failed"))
        else:
            L.append(f"`bench/overshoot.sh --runs {a.overshoot_runs} --limit 1024` (see its header and "
                     "`bench/results/overshoot.md` for the method):")
            L.append("")
            L.extend(over["table"].splitlines())
            L.append("")
            if over.get("note"):
                L.append(f"({over['note']})")
                L.append("")
            kern = [v for (mode, _), v in over["rows"].items() if mode == "kernel"]
            poll = [v for (mode, _), v in over["rows"].items() if mode == "polled"]
            if kern:
                worst = max(v[1] for v in kern)
                verdicts.append(verdict_line("overshoot, kernel limit: zero", worst <= 0.1,
                                             f"max {worst:+.2f} %"))
            if poll:
                worst = max(v[1] for v in poll)
                verdicts.append(verdict_line("overshoot, polled limit: ≤ 5 %", worst <= 5.0,
                                             f"max {worst:+.2f} %"))

    if sto:
        L.append("## 5. Store size")
        L.append("")
        rows = sto["rows"]
        L.append(f"A {sto['hours']:g}-hour run at a 1 s interval, simulated through the real store "
                 "(`crates/memwarden-cli/examples/store_day.rs`: the writer thread, its batches and its "
                 "folding, fed what `run` sends for a ten-process tree — a sample a second, the ten "
                 "largest processes' rows once a second, their summaries every ten seconds):")
        L.append("")
        L.append("| table | rows |")
        L.append("|---|---:|")
        for k in ("samples", "process_samples", "processes", "events"):
            L.append(f"| {k} | {rows[k]:,} |")
        L.append("")
        L.append(f"Database file: **{sto['db_bytes'] / MIB:.2f} MiB** ({sto['page_count']:,} pages of "
                 f"{sto['page_size']} bytes, {sto['freelist_count']} free) for {sto['samples_sent']:,} samples; "
                 f"the writer's CPU: {sto['cpu_s']:.2f} s ({sto['cpu_s'] / sto['records_sent'] * 1e6:.1f} µs per record).")
        L.append("")
        per_day = 86400 / (sto["hours"] * 3600)
        verdicts.append(verdict_line(
            f"store, {sto['hours']:g} h at 1 s: samples < 20,000 rows a day",
            rows["samples"] * per_day < 20000, f"{rows['samples']:,} rows"))
        verdicts.append(verdict_line(
            f"store, {sto['hours']:g} h at 1 s: database ≤ {a.store_bound_mib:g} MiB a day",
            sto["db_bytes"] * per_day <= a.store_bound_mib * MIB, f"{sto['db_bytes'] / MIB:.2f} MiB"))

    if crit:
        L.append("## 6. Micro-benchmarks (criterion)")
        L.append("")
        L.append("`cargo bench -p memwarden --bench hot_paths` and `cargo bench -p memwarden-cli --bench store` "
                 "(mean and its 95 % interval):")
        L.append("")
        L.append("| benchmark | mean | interval |")
        L.append("|---|---:|---:|")
        for c in crit:
            def t(ns):
                return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"
            L.append(f"| `{c['id']}` | {t(c['ns'])} | {t(c['lo'])} – {t(c['hi'])} |")
        L.append("")

    L.append("## Verdicts")
    L.append("")
    L.append("| target | verdict | figure |")
    L.append("|---|---|---|")
    for name, v, fig in verdicts:
        L.append(f"| {name} | {v} | {fig} |")
    L.append("")
    return L, verdicts, summ


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--gentrace", required=True)
    ap.add_argument("--rusage", required=True)
    ap.add_argument("--store-day", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--sizes", default="1,50,500,2000")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--duration-500", type=float, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--soak-minutes", type=float, default=5)
    ap.add_argument("--soak-every", type=float, default=5)
    ap.add_argument("--soak-children", type=int, default=2000)
    ap.add_argument("--soak-spawn", type=float, default=5)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--overshoot-runs", type=int, default=5)
    ap.add_argument("--store-hours", type=float, default=24)
    ap.add_argument("--store-bound-mib", type=float, default=8)
    ap.add_argument("--only", default="sampling,soak,analyze,overshoot,store,micro")
    ap.add_argument("--write", default="")
    ap.add_argument("--notes", default="", help="a Markdown file appended to the report as is")
    ap.add_argument("--command", default="bench/run.sh")
    a = ap.parse_args()
    a.sizes = [int(x) for x in a.sizes.split(",") if x]
    global RUSAGE
    RUSAGE = a.rusage
    only = set(a.only.split(","))
    os.makedirs(a.work, exist_ok=True)
    with open("/proc/loadavg") as f:
        a.load_at_start = " ".join(f.read().split()[:3])
    started = datetime.datetime.now(datetime.timezone.utc)

    samp = foot = ana = over = sto = None
    crit = []
    if "sampling" in only:
        log("sampling cost (this takes a while)...")
        samp = sampling(a, a.work)
    if "soak" in only and a.soak_minutes > 0:
        log(f"soak: {a.soak_minutes:g} minutes...")
        foot = soak(a, a.work)
    if "analyze" in only:
        log("analyze throughput...")
        ana = analyze(a, a.work)
    if "overshoot" in only:
        log("overshoot (bench/overshoot.sh)...")
        over = overshoot(a)
    if "store" in only:
        log(f"store: {a.store_hours:g} hours at 1 s...")
        sto = store(a, a.work)
    if "micro" in only:
        crit = criterion_results(a)
    finished = datetime.datetime.now(datetime.timezone.utc)

    lines, verdicts, _ = build_report(a, machine(), samp, foot, ana, over, sto, crit, started, finished)
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(dict(sampling={str(k): v for k, v in (samp or {}).items()}, soak=foot,
                       analyze=ana, overshoot=over and {k: v for k, v in over.items() if k != "rows"},
                       store=sto, criterion=crit), f, indent=1, default=str)
    if a.write:
        text = "\n".join(lines)
        if a.notes and os.path.exists(a.notes):
            with open(a.notes) as f:
                text += "\n" + f.read()
        with open(a.write, "w") as f:
            f.write(text)
        log(f"wrote {a.write}")
    print()
    for name, v, fig in verdicts:
        print(f"{v:>8}  {name}: {fig}")
    return 0 if all(v == "met" for _, v, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
