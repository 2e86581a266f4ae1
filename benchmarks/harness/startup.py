"""How long s3torch takes to start: ``import s3torch``, ``s3torch --version``, ``s3torch ls``.

Each figure is the median wall time of a fresh interpreter running the command, as a user
would at a shell, after one warm-up run (so the files are in the page cache: these are warm
starts), with the median CPU time (user + system) beside it: on a loaded machine the wall
time grows, the CPU time much less. ``ls`` runs against a local SeaweedFS server with a
bucket of a few objects.

Run it on its own::

    PYTHONPATH=python python -m benchmarks.harness.startup [--runs 7] [--json]

or call :func:`measure_startup` and read the dict it returns.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

TARGETS_S = {
    "import s3torch": 0.3,
    "s3torch --version": 0.5,
    "s3torch ls": 0.6,
}
"""The most each command may take (issue 16); the report says whether each is met."""

_BUCKET = "startup"
_OBJECTS = 20


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_command(
    argv: Sequence[str], env: Mapping[str, str], runs: int
) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each timed run of ``argv``."""
    times = []
    for attempt in range(runs + 1):
        cpu = _children_cpu_s()
        start = time.perf_counter()
        result = subprocess.run(list(argv), env=dict(env), capture_output=True, timeout=120)
        elapsed = time.perf_counter() - start
        cpu = _children_cpu_s() - cpu
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited with {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        if attempt:  # the first run only warms the page cache
            times.append((elapsed, cpu))
    return times


def _summary(runs: list[tuple[float, float]], target: float | None) -> dict[str, Any]:
    times = [wall for wall, _ in runs]
    median = statistics.median(times)
    row: dict[str, Any] = {
        "median_s": round(median, 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        # CPU time of the command (user + system): what a busy machine does not inflate.
        "cpu_median_s": round(statistics.median(cpu for _, cpu in runs), 4),
        "runs": len(times),
    }
    if target is not None:
        row["target_s"] = target
        row["meets_target"] = median <= target
    return row


def measure_startup(runs: int = 5, python: str = sys.executable) -> dict[str, Any]:
    """Median wall times of the start-up commands, in seconds, with their targets.

    Starts (and stops) a local S3 server for ``s3torch ls``. ``python`` is the interpreter
    that runs the commands; it must import the s3torch to measure (set ``PYTHONPATH`` to
    measure a checkout).
    """
    # The server module is found where the package keeps it; one place to change if it moves.
    from s3torch.testing import LocalS3Server

    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    results: dict[str, Any] = {
        "python": [python, "-c", "pass"],
        "import s3torch": [python, "-c", "import s3torch"],
        "import s3torch + a dataset (torch)": [
            python,
            "-c",
            "import s3torch; s3torch.S3MapDataset",
        ],
        "s3torch --version": [python, "-m", "s3torch", "--version"],
    }
    figures: dict[str, Any] = {}
    for name, argv in results.items():
        # Importing torch takes seconds a run: a few runs say enough about it.
        count = min(runs, 3) if "torch" in name else runs
        figures[name] = _summary(_time_command(argv, env, count), TARGETS_S.get(name))
    with LocalS3Server() as server:
        server.create_bucket(_BUCKET)
        env.update(
            AWS_ENDPOINT_URL=server.endpoint,
            AWS_ACCESS_KEY_ID=server.access_key,
            AWS_SECRET_ACCESS_KEY=server.secret_key,
            AWS_REGION=server.region,
        )
        for index in range(_OBJECTS):
            status, _, _ = server.request(
                "PUT", f"/{_BUCKET}/data/{index:04}.bin", body=b"x" * 1024
            )
            if status != 200:
                raise RuntimeError(f"uploading a test object failed: HTTP {status}")
        ls = [python, "-m", "s3torch", "ls", f"s3://{_BUCKET}/data/"]
        figures["s3torch ls"] = _summary(_time_command(ls, env, runs), TARGETS_S["s3torch ls"])
        buckets = [python, "-m", "s3torch", "ls"]
        figures["s3torch ls (buckets)"] = _summary(_time_command(buckets, env, runs), None)
    return figures


def _print_table(figures: Mapping[str, Mapping[str, Any]]) -> None:
    width = max(len(name) for name in figures)
    print(f"{'command':<{width}}  median s  min s   max s   CPU s   target")
    for name, row in figures.items():
        target = ""
        if "target_s" in row:
            verdict = "met" if row["meets_target"] else "MISSED"
            target = f"<= {row['target_s']:.1f} {verdict}"
        print(
            f"{name:<{width}}  {row['median_s']:8.3f}  {row['min_s']:6.3f}  "
            f"{row['max_s']:6.3f}  {row['cpu_median_s']:6.3f}  {target}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit with 1 when a figure misses its target"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    figures = measure_startup(args.runs)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print_table(figures)
    # A missed target is a result to report, as in the other benchmarks; it fails only when asked,
    # so that one slow figure on a busy machine does not stop the rest of `make bench`.
    missed = not all(row.get("meets_target", True) for row in figures.values())
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
