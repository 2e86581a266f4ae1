"""Readings of CPU time and memory, from the kernel, and the arithmetic on them.

Linux only: CPU time of other processes comes from ``/proc/<pid>/stat`` and peak RSS from
``/proc/self/status`` (``VmHWM``), which ``/proc/self/clear_refs`` resets.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process and of its reaped children, in seconds.

    ``None`` for no pid, or one that has gone.
    """
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / _CLOCK_TICKS


def server_cpu_reader(pid: int | None) -> Callable[[], float]:
    """A reading of :func:`process_cpu_seconds` for ``pid`` on each call; ``nan`` when there
    is none (no pid, or the process has gone), so a difference of two readings is ``nan`` too."""

    def read() -> float:
        seconds = process_cpu_seconds(pid)
        return float("nan") if seconds is None else seconds

    return read


def timed(run: Callable[[], T], server_cpu: Callable[[], float]) -> tuple[T, dict[str, float]]:
    """Call ``run`` once: what it returned, and its wall seconds, this process's CPU seconds
    (every thread: clients run their own) and the server's (from ``server_cpu``)."""
    cpu0, server0, t0 = time.process_time(), server_cpu(), time.perf_counter()
    result = run()
    seconds = time.perf_counter() - t0
    return result, {
        "seconds": seconds,
        "client_cpu_s": time.process_time() - cpu0,
        "server_cpu_s": server_cpu() - server0,
    }


def _status_kib(name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{name} missing from /proc/self/status")


def current_rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """This process's peak RSS since it started or since :func:`reset_peak_rss`."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS; ``False`` where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU time of this process, its reaped children, and any other processes watched."""

    self_s: float
    children_s: float
    others: dict[str, float | None]

    @classmethod
    def take(cls, pids: dict[str, int | None]) -> CpuSnapshot:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            own.ru_utime + own.ru_stime,
            children.ru_utime + children.ru_stime,
            {name: process_cpu_seconds(pid) for name, pid in pids.items()},
        )

    def since(self, before: CpuSnapshot) -> dict[str, float | None]:
        """CPU seconds spent between ``before`` and this snapshot, by whom."""
        out: dict[str, float | None] = {
            "client_cpu_s": (self.self_s - before.self_s) + (self.children_s - before.children_s)
        }
        for name, now in self.others.items():
            then = before.others.get(name)
            out[f"{name}_cpu_s"] = None if now is None or then is None else now - then
        return out


def children_peak_rss_mib() -> float:
    """The largest peak RSS of any reaped child (e.g. a DataLoader worker), in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not ``None``; ``None`` if there are none."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    return float(statistics.median(present))


def median_run(runs: list[dict[str, object]]) -> dict[str, float | None]:
    """Field-by-field medians over runs (numeric fields only)."""
    keys: list[str] = []
    for run in runs:
        for key, value in run.items():
            if key not in keys and isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.append(key)
    out: dict[str, float | None] = {}
    for key in keys:
        values: list[float | None] = []
        for run in runs:
            value = run.get(key)
            values.append(float(value) if isinstance(value, (int, float)) else None)
        out[key] = median(values)
    return out
