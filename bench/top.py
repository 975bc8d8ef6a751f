#!/usr/bin/env python3
"""The cost of `memwarden top`, side by side in one run with procps `top -b -d 1` and Debian's
`prometheus-process-exporter` scraped every second, on a machine made to hold 2,000 processes
in 500 commands; then memwarden's own memory over a soak with processes coming and going.
Writes bench/results/top.md. Run through bench/top.sh, which builds what it needs.

    bench/top.py --memwarden BIN --rusage BIN [--seconds S] [--soak-minutes M] [--out FILE]
"""

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from machine import describe as describe_machine

GROUPS = 500
PER_GROUP = 4


def log(msg):
    print(f"top bench: {msg}", file=sys.stderr, flush=True)


def machine_processes():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def cpu_seconds(pid):
    """utime + stime of a live process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Population:
    """GROUPS commands (links to sleep named by letters only, so each is its own shape),
    PER_GROUP processes each."""

    def __init__(self, total_groups=GROUPS):
        self.dir = tempfile.mkdtemp(prefix="mw-top-bench-")
        sleep = shutil.which("sleep")
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.names = []
        for combo in itertools.islice(itertools.product(letters, repeat=3), total_groups):
            name = "svc" + "".join(combo)
            os.symlink(sleep, os.path.join(self.dir, name))
            self.names.append(name)
        self.procs = []

    def start(self, name):
        p = subprocess.Popen([os.path.join(self.dir, name), "100000"])
        self.procs.append((name, p))
        return p

    def fill(self):
        for name in self.names:
            for _ in range(PER_GROUP):
                self.start(name)

    def churn(self, n):
        """Stops n random processes and starts n new ones (of the same commands)."""
        for _ in range(n):
            i = random.randrange(len(self.procs))
            name, p = self.procs.pop(i)
            p.kill()
            p.wait()
            self.start(name)

    def stop(self):
        for _, p in self.procs:
            p.kill()
        for _, p in self.procs:
            p.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def measured(rusage, result, argv, stdout=subprocess.DEVNULL):
    """Runs argv under the rusage launcher; returns (cpu_s, maxrss_kib, its stdout file)."""
    subprocess.run([rusage, result] + argv, stdout=stdout, check=True)
    fields = dict(kv.split("=") for kv in open(result).read().split())
    return float(fields["cpu_s"]), int(fields["maxrss_kib"])


def bench_memwarden(args, work, seconds):
    out = os.path.join(work, "top.json")
    with open(out, "w") as f:
        cpu, maxrss = measured(
            args.rusage,
            os.path.join(work, "mw.rusage"),
            [args.memwarden, "top", "--by", "command", "--interval", "1s",
             "--duration", f"{seconds}s", "--format", "json"],
            stdout=f,
        )
    report = json.load(open(out))
    return {
        "cpu_s": cpu,
        "maxrss_kib": maxrss,
        "samples": report["samples"],
        "processes": report["processes"],
        "groups": len(report["groups"]),
    }


def bench_procps(args, work, seconds):
    n = seconds
    procs = machine_processes()
    cpu, maxrss = measured(
        args.rusage,
        os.path.join(work, "top.rusage"),
        ["top", "-b", "-d", "1", "-n", str(n), "-w", "512"],
    )
    return {"cpu_s": cpu, "maxrss_kib": maxrss, "samples": n, "processes": procs}


def bench_floor(args, work, seconds):
    """The held floor: one pread of an already-open statm per process per sample, nothing
    else (bench/src/floor.c), over the population's processes."""
    pids = os.path.join(work, "pids")
    with open(pids, "w") as f:
        f.write("\n".join(str(p.pid) for _, p in POPULATION.procs) + "\n")
    out = subprocess.run([args.floor, "held", "1000", str(seconds), pids],
                         capture_output=True, text=True, check=True).stdout
    fields = dict(kv.split("=") for kv in out.split())
    return {"cpu_s": float(fields["cpu_s"]), "maxrss_kib": 0,
            "samples": int(fields["samples"]), "processes": int(fields["processes"])}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bench_exporter(args, work, seconds):
    config = os.path.join(work, "process-exporter.yml")
    with open(config, "w") as f:
        f.write('process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n      - ".+"\n')
    port = free_port()
    # Its cheapest settings (no smaps, no per-thread series): the fairest floor for memwarden,
    # which reads neither.
    p = subprocess.Popen(
        ["prometheus-process-exporter", "-config.path", config,
         "-web.listen-address", f"127.0.0.1:{port}", "-gather-smaps=false", "-threads=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url).read()
            break
        except OSError:
            if time.time() > deadline:
                p.kill()
                raise
            time.sleep(0.2)
    procs = machine_processes()
    before = cpu_seconds(p.pid)
    next_at = time.monotonic()
    for _ in range(seconds):
        urllib.request.urlopen(url).read()
        next_at += 1
        time.sleep(max(0, next_at - time.monotonic()))
    cpu = cpu_seconds(p.pid) - before
    rss = rss_kib(p.pid)
    p.terminate()
    p.wait()
    return {"cpu_s": cpu, "maxrss_kib": rss, "samples": seconds, "processes": procs}


def soak(args, work, population, minutes):
    """memwarden over `minutes` while processes come and go: its resident memory every 10 s."""
    p = subprocess.Popen(
        [args.memwarden, "top", "--by", "command", "--interval", "1s",
         "--duration", f"{minutes * 60}s", "--format", "json"],
        stdout=subprocess.DEVNULL)
    start = time.monotonic()
    readings = []
    transient = []
    extra = Population(total_groups=GROUPS + 10)
    extra_names = extra.names[GROUPS:]
    tick = 0
    while p.poll() is None:
        time.sleep(1)
        tick += 1
        population.churn(5)
        # Every 30 s, ten processes of ten commands not seen for a while; gone 30 s later.
        if tick % 30 == 0:
            for q in transient:
                q.kill()
                q.wait()
            transient = [extra.start(n) for n in extra_names]
        if tick % 10 == 0 and p.poll() is None:
            try:
                readings.append(
                    (round(time.monotonic() - start), rss_kib(p.pid), cpu_seconds(p.pid)))
            except OSError:
                pass
    extra.stop()
    return readings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memwarden", required=True)
    ap.add_argument("--rusage", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--soak-minutes", type=int, default=10)
    ap.add_argument("--out", default="bench/results/top.md")
    ap.add_argument("--command", default="bench/top.sh")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    global POPULATION
    work = tempfile.mkdtemp(prefix="mw-top-bench-work-")
    population = POPULATION = Population()
    try:
        log(f"starting {GROUPS * PER_GROUP} processes in {GROUPS} commands")
        population.fill()
        time.sleep(2)
        log(f"{machine_processes()} processes on the machine")
        results = {}
        for name, run in [("memwarden top", bench_memwarden), ("procps top -b -d 1", bench_procps),
                          ("prometheus-process-exporter, scraped every 1 s", bench_exporter),
                          ("held floor: one pread of a held statm", bench_floor)]:
            log(f"{name}: {args.seconds} s")
            results[name] = run(args, work, args.seconds)
            log(f"{name}: {results[name]}")
        log(f"soak: {args.soak_minutes} min")
        readings = soak(args, work, population, args.soak_minutes)
    finally:
        population.stop()
    write(args, results, readings)


def write(args, results, readings):
    mw = results["memwarden top"]
    per = {k: v["cpu_s"] / (v["samples"] * v["processes"]) * 1e6 for k, v in results.items()}
    lines = [
        "# `memwarden top`: cost and memory",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{args.command}` on "
        f"{describe_machine()}, with {mw['processes']} processes on the machine in {mw['groups']} groups "
        f"(by command), every tool sampling every second for {args.seconds} s, one after "
        "another on the same processes. CPU is what the kernel accounted to each (user + "
        "system); per process-sample is that divided by samples × processes.",
        "",
        "| tool | CPU s | % of one core | µs per process-sample | vs memwarden | peak resident |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        pct = r["cpu_s"] / args.seconds * 100
        ratio = per[name] / per["memwarden top"]
        rss = f"{r['maxrss_kib'] / 1024:.1f} MiB" if r["maxrss_kib"] else "-"
        lines.append(
            f"| {name} | {r['cpu_s']:.2f} | {pct:.2f} % | {per[name]:.2f} | {ratio:.2f}× | "
            f"{rss} |")
    mw_pct = mw["cpu_s"] / args.seconds * 100
    top_ratio = per["memwarden top"] / per["procps top -b -d 1"]
    exp_name = "prometheus-process-exporter, scraped every 1 s"
    exp_ratio = per["memwarden top"] / per[exp_name]
    ok = lambda b: "met" if b else "NOT met"
    lines += [
        "",
        "Targets:",
        f"- ≤ 1 % of one core over the first {args.seconds} s (start-up included): "
        f"{mw_pct:.2f} % — {ok(mw_pct <= 1.0)}",
        f"- at most half procps top's CPU per process-sample: {top_ratio:.2f} — {ok(top_ratio <= 0.5)}",
        f"- at most half process-exporter's: {exp_ratio:.2f} — {ok(exp_ratio <= 0.5)}",
    ]
    if readings:
        kib = [r for _, r, _ in readings]
        # Gone groups are kept 5 minutes: until then the transient ones add up; after, each
        # one that comes replaces one forgotten, and memory must stay flat.
        settled = [r for t, r, _ in readings if t >= 360] or kib
        (t_end, _, cpu_end) = readings[-1]
        mid = readings[len(readings) // 2]
        soak_pct = cpu_end / t_end * 100
        late_pct = (cpu_end - mid[2]) / (t_end - mid[0]) * 100 if t_end > mid[0] else soak_pct
        half = len(settled) // 2
        peak = max(kib)
        lines += [
            f"- own memory ≤ 16 MiB for {mw['processes']} processes in {mw['groups']} groups: "
            f"peak {peak / 1024:.1f} MiB — {ok(peak <= 16 * 1024)}",
            f"- flat over the soak once gone groups are forgotten (from minute 6): "
            f"{min(settled) / 1024:.1f}–{max(settled) / 1024:.1f} MiB; mean of the first half "
            f"{sum(settled[:half] or settled) / max(1, len(settled[:half] or settled)) / 1024:.2f} MiB, "
            f"of the second {sum(settled[half:]) / max(1, len(settled[half:])) / 1024:.2f} MiB",
            f"- CPU over the soak (a host agent's life: processes coming and going, the "
            f"detectors' looks growing rarer as the floor's buckets widen): {soak_pct:.2f} % of "
            f"one core over its {t_end} s, {late_pct:.2f} % over its second half — "
            f"{ok(late_pct <= 1.0)} (≤ 1 %)",
            "",
            f"Soak: {args.soak_minutes} min of `memwarden top --by command` while, every second, 5 "
            "processes were stopped and 5 started, and every 30 s ten processes of ten more "
            "commands started and went 30 s later (groups that come and go: forgotten 5 min "
            "after they go, so up to 510 groups at once). Resident memory every 10 s (s: MiB):",
            "",
            ", ".join(f"{t}: {r / 1024:.1f}" for t, r, _ in readings),
        ]
    lines += [
        "",
        "The held floor (bench/src/floor.c) reads only the 2,000 processes' statm, through "
        "descriptors opened beforehand, with nothing else: what any sampler of their memory "
        "pays at the least, on this machine at this time. memwarden also lists /proc every "
        "two seconds (a machine where processes start all the time), reads each new process's "
        "stat, cmdline and statm, each process's status every 30 s and counts its descriptors every 60 s (the size of fd/ on Linux 6.2 and later), and "
        "judges every group with four detectors.",
        "",
        "process-exporter ran with `-gather-smaps=false -threads=false` (its cheapest; memwarden "
        "reads no smaps either) and a config grouping every process by its name. procps top ran "
        "as `top -b -d 1 -n N -w 512` with its output discarded.",
        "",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
