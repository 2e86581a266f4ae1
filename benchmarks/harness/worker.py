"""One measured run of one client on one workload, in a process of its own.

``python -m harness.worker SPEC.json RESULT.json``: prepares the workload (untimed), then takes
readings around the timed part only:

- wall time (``perf_counter``);
- client CPU: user + system time of this process (all its threads, the CRT's included) and of
  its reaped children (DataLoader workers);
- server and proxy CPU: from ``/proc/<pid>/stat`` of their processes;
- memory: RSS before, and peak RSS during (``VmHWM``, reset just before the timed part), plus
  the largest peak of any child process.

The result, or why there is none (``n/a`` for an API s3torch lacks, ``error`` with a traceback),
goes to ``RESULT.json``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import measure, workloads
from .spec import MIB, WORKLOADS_BY_ID


def rates(unit: str, items: int, nbytes: int, wall_s: float) -> float:
    """The headline figure: items per second, or MiB per second for a ``MiB/s`` unit."""
    if unit == "MiB/s":
        return nbytes / MIB / wall_s
    return items / wall_s


def measure_run(spec: dict[str, Any]) -> dict[str, Any]:
    ctx = workloads.Context.from_spec(spec)
    unit = WORKLOADS_BY_ID[ctx.workload].unit
    pids = {name: pid for name, pid in spec.get("pids", {}).items()}
    try:
        timed = workloads.prepare(ctx)
    except workloads.Unavailable as missing:
        return {"status": "n/a", "note": str(missing)}

    gc.collect()
    peak_reset = measure.reset_peak_rss()
    rss_before = measure.current_rss_mib()
    before = measure.CpuSnapshot.take(pids)
    started = time.perf_counter()
    if spec.get("max_run_s"):
        ctx.deadline = started + float(spec["max_run_s"])
    measured = timed()
    wall_s = time.perf_counter() - started
    after = measure.CpuSnapshot.take(pids)
    peak = measure.peak_rss_mib()
    children_peak = measure.children_peak_rss_mib()

    measured = workloads.finish(ctx, measured)
    items, nbytes = int(measured.pop("items")), int(measured.pop("bytes"))
    cpu = after.since(before)
    client_cpu = cpu["client_cpu_s"]
    assert client_cpu is not None
    gib = nbytes / 2**30
    result: dict[str, Any] = {
        "status": "ok",
        "wall_s": wall_s,
        "rate": rates(unit, items, nbytes, wall_s),
        "items": items,
        "bytes": nbytes,
        **cpu,
        "client_cores": client_cpu / wall_s,
        "client_cpu_s_per_gib": client_cpu / gib if gib else None,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "rss_growth_mib": peak - rss_before if peak_reset else None,
        "children_peak_rss_mib": children_peak or None,
    }
    for name in pids:
        used = cpu.get(f"{name}_cpu_s")
        result[f"{name}_cores"] = None if used is None else used / wall_s
    result.update(measured)  # extra figures (first key, pages, ...)
    return result


def run_files(spec_path: Path, result_path: Path) -> None:
    """Run the spec in ``spec_path``; write the result to ``result_path``."""
    spec = json.loads(spec_path.read_text())
    try:
        result = measure_run(spec)
    except BaseException as err:  # report, never hang the runner
        result = {
            "status": "error",
            "note": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc()[-4000:],
        }
    result_path.write_text(json.dumps(result))


def main() -> None:
    run_files(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: some clients take seconds to shut their threads down, and
    # nothing is left to do.
    os._exit(0)


if __name__ == "__main__":
    main()
