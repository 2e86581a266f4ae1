"""Small objects from asyncio: s3torch's ``get_object_async`` against obstore's async API.

Standalone: starts its own SeaweedFS server, uploads ``--count`` objects of ``--size`` bytes,
then fetches them all from one asyncio task group with at most ``--in-flight`` requests at a
time, with each client as its users write it:

- s3torch: ``await client.get_object_async(bucket, key)``;
- obstore: ``result = await obstore.get_async(store, key)`` then ``await result.bytes_async()``.

Each fetch is repeated ``--runs`` times (after one unmeasured warm-up), alternating the order,
and the median is reported: objects/s, MiB/s, client CPU seconds (the whole process: both
clients run their own threads) per 1,000 objects, the server's CPU seconds, and the ratio
s3torch/obstore of objects/s. Every body is checked for its length.

    python benchmarks/async_small_objects.py                  # 2,000 x 64 KiB, 5 runs
    python benchmarks/async_small_objects.py --quick          # 500 objects, 3 runs
    python benchmarks/async_small_objects.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.measure import server_cpu_reader, timed
from harness.stores import obstore_store

BUCKET = "async-bench"


def start_server() -> Any:
    from s3torch.testing import LocalS3Server

    return LocalS3Server().start(timeout=60)


def s3torch_client(server: Any) -> Any:
    import s3torch

    return s3torch.S3Client(
        server.region,
        endpoint=server.endpoint,
        s3client_config=s3torch.S3ClientConfig(
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
            force_path_style=True,
        ),
    )


def fetchers(server: Any) -> dict[str, Callable[[str], Awaitable[int]]]:
    import obstore

    client = s3torch_client(server)
    store = obstore_store(server, BUCKET)

    async def with_s3torch(key: str) -> int:
        return len(await client.get_object_async(BUCKET, key))

    async def with_obstore(key: str) -> int:
        result = await obstore.get_async(store, key)
        return len(await result.bytes_async())

    return {"s3torch": with_s3torch, "obstore": with_obstore}


async def fetch_all(fetch: Callable[[str], Awaitable[int]], keys: list[str], limit: int) -> int:
    gate = asyncio.Semaphore(limit)
    total = 0

    async def one(key: str) -> None:
        nonlocal total
        async with gate:
            received = await fetch(key)
        total += received

    async with asyncio.TaskGroup() as group:
        for key in keys:
            group.create_task(one(key))
    return total


def measure(
    fetch: Callable[[str], Awaitable[int]],
    keys: list[str],
    limit: int,
    expected: int,
    cpu_of_server: Callable[[], float],
) -> dict[str, float]:
    received, figures = timed(lambda: asyncio.run(fetch_all(fetch, keys, limit)), cpu_of_server)
    if received != expected:
        raise AssertionError(f"received {received} bytes, expected {expected}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="500 objects, 3 runs")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    if args.quick:
        args.count, args.runs = 500, 3

    server = start_server()
    try:
        server.create_bucket(BUCKET)
        clients = fetchers(server)
        keys = [f"small/{i:06}" for i in range(args.count)]
        blob = os.urandom(args.size)

        async def upload() -> None:
            writer = s3torch_client(server)
            gate = asyncio.Semaphore(64)

            async def put(key: str) -> None:
                async with gate:
                    await writer.put_object_async(BUCKET, key, blob)

            await asyncio.gather(*(put(key) for key in keys))

        asyncio.run(upload())
        expected = args.count * args.size
        cpu_of_server = server_cpu_reader(server.pid)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
        warm_up = keys[: args.in_flight]
        for fetch in clients.values():  # connections, credentials
            measure(fetch, warm_up, args.in_flight, len(warm_up) * args.size, cpu_of_server)
        for run in range(args.runs):
            order = list(clients) if run % 2 == 0 else list(reversed(clients))
            for name in order:
                runs[name].append(
                    measure(clients[name], keys, args.in_flight, expected, cpu_of_server)
                )
    finally:
        server.stop()

    results: dict[str, Any] = {
        "count": args.count,
        "size": args.size,
        "in_flight": args.in_flight,
        "runs": args.runs,
    }
    print(
        f"{args.count} objects x {args.size} B, {args.in_flight} in flight, median of {args.runs}"
    )
    print(f"{'client':<9} {'obj/s':>9} {'MiB/s':>9} {'cpu s/1k obj':>13} {'server cpu s':>13}")
    for name, measured in runs.items():
        seconds = statistics.median(r["seconds"] for r in measured)
        summary = {
            "objects_per_s": args.count / seconds,
            "mib_per_s": expected / seconds / 2**20,
            "client_cpu_s_per_1000": statistics.median(r["client_cpu_s"] for r in measured)
            * 1000
            / args.count,
            "server_cpu_s": statistics.median(r["server_cpu_s"] for r in measured),
            "runs": measured,
        }
        results[name] = summary
        print(
            f"{name:<9} {summary['objects_per_s']:>9.0f} {summary['mib_per_s']:>9.1f} "
            f"{summary['client_cpu_s_per_1000']:>13.3f} {summary['server_cpu_s']:>13.3f}"
        )
    ratio = results["s3torch"]["objects_per_s"] / results["obstore"]["objects_per_s"]
    results["ratio_s3torch_over_obstore"] = ratio
    print(f"s3torch/obstore objects/s: {ratio:.2f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
