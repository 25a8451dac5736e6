"""What processes cost, from /proc: CPU seconds of a process tree, memory, busy cores."""

from __future__ import annotations

import math
import os


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def proc_cpu_seconds(pids: list[int]) -> float:
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tck  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def proc_tree(pid: int) -> list[int]:
    """pid and its descendants."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    out.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def proc_mem(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) of pid and, summed, of its process tree."""
    res: dict[str, int] = {}
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                        key, val = line.split(":", 1)
                        kib = int(val.split()[0])
                        if p == pid:
                            res[key.lower() + "_kib"] = kib
                        res["tree_" + key.lower() + "_kib"] = (
                            res.get("tree_" + key.lower() + "_kib", 0) + kib
                        )
        except OSError:
            pass
    return res


def proc_cpu_by_pid(pids: list[int]) -> dict[int, float]:
    return {p: proc_cpu_seconds([p]) for p in pids}


def core_busy_seconds(cpus: str | None) -> float | None:
    """Busy time (all but idle and iowait) of the given cores, from /proc/stat."""
    if cpus is None:
        return None
    wanted = {f"cpu{c}" for c in cpus.split(",")}
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in wanted:
                    vals = [int(x) for x in parts[1:]]
                    total += (sum(vals[:8]) - vals[3] - vals[4]) / tck
    except OSError:
        return None
    return total
