"""The machine a benchmark ran on, in one line, for the results files."""

import os
import platform


def describe():
    """`2 × AMD EPYC …, 24 GiB RAM, Linux 6.18…, load average 0.5 0.4 0.3 at the start`."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = next(int(l.split()[1]) * 1024 for l in f if l.startswith("MemTotal:"))
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return f"{os.cpu_count()} × {model}, {mem / 2**30:.0f} GiB RAM, Linux {platform.release()}, " \
           f"load average {load} at the start"
