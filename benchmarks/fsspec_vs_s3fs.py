"""s3torch.fsspec against s3fs, side by side on one local SeaweedFS server.

Two workloads, the ones the PyData stack does most through fsspec:

- ``parquet``: a full scan of one Parquet table (``pyarrow.parquet.read_table`` with the
  filesystem), about 48 MB by default.
- ``parquet_get``: the same table's bytes alone (``fs.cat_file``), to show how much of the
  scan is I/O: the script also times PyArrow decoding the table from memory, which bounds what
  any filesystem can gain on the scan.
- ``small``: ``fs.cat(list_of_paths)`` of 2,000 objects of 16 KiB.

Both filesystems read the same objects from the same server in the same process; each
measurement is repeated ``--runs`` times (after one unmeasured warm-up) alternating the order,
and the median is reported with the client's and the server's CPU time over it.

    python benchmarks/fsspec_vs_s3fs.py                  # default sizes, 3 runs
    python benchmarks/fsspec_vs_s3fs.py --quick          # small sizes, 3 runs
    python benchmarks/fsspec_vs_s3fs.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.measure import server_cpu_reader, timed

BUCKET = "fsspec-bench"


def start_server() -> Any:
    """The local S3 server (the one place that names its module)."""
    from s3torch.testing import LocalS3Server

    return LocalS3Server().start(timeout=60)


def filesystems(server: Any) -> dict[str, Any]:
    import s3fs

    from s3torch.fsspec import S3TorchFileSystem

    return {
        "s3torch": S3TorchFileSystem(
            region=server.region,
            endpoint_url=server.endpoint,
            key=server.access_key,
            secret=server.secret_key,
            skip_instance_cache=True,
        ),
        "s3fs": s3fs.S3FileSystem(
            key=server.access_key,
            secret=server.secret_key,
            endpoint_url=server.endpoint,
            client_kwargs={"region_name": server.region},
            skip_instance_cache=True,
            use_listings_cache=False,
        ),
    }


def write_data(fs: Any, rows: int, small_count: int, small_size: int) -> tuple[str, int, list[str]]:
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "a": rng.random(rows),
            "b": rng.integers(0, 1_000_000, rows),
            "c": rng.random(rows).astype(np.float32),
        }
    )
    parquet = f"{BUCKET}/scan/table.parquet"
    with fs.open(parquet, "wb") as f:
        pq.write_table(table, f, row_group_size=max(1, rows // 8), compression="snappy")
    size = int(fs.info(parquet)["size"])
    blob = rng.bytes(small_size)
    paths = [f"{BUCKET}/small/{i:05d}.bin" for i in range(small_count)]
    for path in paths:
        fs.pipe_file(path, blob)
    return parquet, size, paths


def measure(run: Callable[[], int], server_cpu: Callable[[], float]) -> dict[str, float]:
    count, figures = timed(run, server_cpu)
    return {**figures, "bytes": count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the Parquet table")
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--small-size", type=int, default=16 * 1024)
    parser.add_argument("--quick", action="store_true", help="a quarter of the sizes")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.rows, args.small_count = 3, args.rows // 4, args.small_count // 4

    server = start_server()
    try:
        server.create_bucket(BUCKET)
        fss = filesystems(server)
        parquet, parquet_size, paths = write_data(
            fss["s3torch"], args.rows, args.small_count, args.small_size
        )
        server_cpu = server_cpu_reader(server.pid)

        def scan(fs: Any) -> Callable[[], int]:
            def run() -> int:
                table = pq.read_table(parquet, filesystem=fs)
                assert table.num_rows == args.rows
                return parquet_size

            return run

        def whole(fs: Any) -> Callable[[], int]:
            def run() -> int:
                return len(fs.cat_file(parquet))

            return run

        def small(fs: Any) -> Callable[[], int]:
            def run() -> int:
                got = fs.cat(paths)
                assert len(got) == len(paths)
                return sum(len(v) for v in got.values())

            return run

        blob = fss["s3torch"].cat_file(parquet)
        decode_runs = []
        for _ in range(args.runs + 1):
            t0 = time.perf_counter()
            pq.read_table(pa.BufferReader(blob))
            decode_runs.append(time.perf_counter() - t0)
        decode_s = statistics.median(decode_runs[1:])
        workloads = {"parquet": scan, "parquet_get": whole, "small": small}
        results: dict[str, dict[str, list[dict[str, float]]]] = {}
        for workload, make in workloads.items():
            results[workload] = {name: [] for name in fss}
            for fs in fss.values():
                make(fs)()  # warm-up: connections, caches of the server
            for index in range(args.runs):
                order = list(fss) if index % 2 == 0 else list(reversed(fss))
                for name in order:
                    results[workload][name].append(measure(make(fss[name]), server_cpu))
    finally:
        server.stop()

    summary: dict[str, Any] = {
        "runs": args.runs,
        "parquet_bytes": parquet_size,
        "small": {"count": args.small_count, "size": args.small_size},
        "parquet_decode_from_memory_s": decode_s,
        "workloads": {},
    }
    print(
        f"{'workload':<10} {'client':<9} {'MB/s':>9} {'obj/s':>9} {'client cpu s':>13} "
        f"{'server cpu s':>13}"
    )
    for workload, by_client in results.items():
        medians: dict[str, dict[str, float]] = {}
        for name, runs in by_client.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            mb = runs[0]["bytes"] / 1e6
            medians[name] = {
                "seconds": seconds,
                "mb_per_s": mb / seconds,
                "objects_per_s": (args.small_count if workload == "small" else 1) / seconds,
                "client_cpu_s": statistics.median(r["client_cpu_s"] for r in runs),
                "server_cpu_s": statistics.median(r["server_cpu_s"] for r in runs),
                "all_seconds": [r["seconds"] for r in runs],
            }
            m = medians[name]
            print(
                f"{workload:<10} {name:<9} {m['mb_per_s']:>9.1f} {m['objects_per_s']:>9.1f} "
                f"{m['client_cpu_s']:>13.3f} {m['server_cpu_s']:>13.3f}"
            )
        ratio = medians["s3fs"]["seconds"] / medians["s3torch"]["seconds"]
        print(f"{workload:<10} s3torch / s3fs throughput: {ratio:.2f}x (target >= 3x)")
        summary["workloads"][workload] = {"clients": medians, "ratio_vs_s3fs": ratio}
    bound = summary["workloads"]["parquet"]["clients"]["s3fs"]["seconds"] / decode_s
    print(
        f"PyArrow decodes the table from memory in {decode_s:.3f} s: no filesystem can make the "
        f"scan more than {bound:.2f}x faster than s3fs's here"
    )
    summary["parquet_scan_bound_vs_s3fs"] = bound
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
