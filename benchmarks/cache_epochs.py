"""W9: epoch 2 with the local cache (``cache_dir=``/``cache_size=``), and what the stall
metrics cost.

Standalone: starts its own SeaweedFS server (``s3torch._local_server``) and, unless
``--delay-ms 0``, the harness's delay proxy in front of it (``--delay-ms 5`` each way: a 10 ms
round trip), uploads ``--count`` objects of ``--size`` bytes, and reports as JSON:

- ``whole``: samples/s of a shuffled epoch 1 (cache empty, filling it) and epoch 2 (the cache
  holds the whole dataset), and their ratio (target >= 3x);
- ``connector``: samples/s of two epochs of s3torchconnector 1.5's ``S3IterableDataset`` over
  the same objects through the same proxy (it has no cache, so its epoch 2 costs what its
  epoch 1 did), and the ratio of s3torch's cached epoch 2 to its epoch 2;
- ``half``: the fraction of bytes fetched again from S3 in epochs 2 and 3 when the dataset is
  twice the cache (target <= 55%), measured from ``dataset.metrics()``, against what an LRU
  cache of the same size fetches in the same epoch orders (simulated);
- ``stalls``: the cost of timing each sample against the time a sample takes in a tight loop
  over cached data (target <= 1%).

Run: ``PYTHONPATH=python:benchmarks python benchmarks/cache_epochs.py [--count N] [--json F]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import s3torch
from harness.proxy import DelayProxy
from s3torch import S3ClientConfig, S3IterableDataset
from s3torch._datasets import metrics as metrics_module
from s3torch._datasets.sharding import epoch_order
from s3torch.testing import LocalS3Server

SEED = 11


def lru_refetched(sizes: list[int], capacity: int, orders: list[list[int]]) -> float:
    """Bytes an LRU cache of ``capacity`` fetches in every order after the first, over the
    bytes read then."""
    held: collections.OrderedDict[int, int] = collections.OrderedDict()
    used = fetched = total = 0
    for n, order in enumerate(orders):
        for i in order:
            if n:
                total += sizes[i]
            if i in held:
                held.move_to_end(i)
                continue
            if n:
                fetched += sizes[i]
            held[i] = sizes[i]
            used += sizes[i]
            while used > capacity:
                used -= held.popitem(last=False)[1]
    return fetched / total


def read(reader: Any) -> int:
    return len(reader.read())


def epoch(dataset: S3IterableDataset, number: int) -> tuple[float, dict[str, float]]:
    """Samples/s of one epoch, and the metrics it added."""
    dataset.set_epoch(number)
    before = dataset.metrics()
    start = time.perf_counter()
    count = sum(1 for _ in dataset)
    seconds = time.perf_counter() - start
    after = dataset.metrics()
    return count / seconds, {
        k: after[k] - before.get(k, 0) for k in after if k.startswith("cache.")
    }


def connector_epochs(
    uri: str,
    region: str,
    endpoint: str,
    keys: tuple[str, str],
    expected: int,
    max_epoch_s: float = 5.0,
) -> list[float]:
    """Samples/s of two epochs of s3torchconnector's S3IterableDataset (listing included).

    It fetches one object at a time, at a steady rate (72 and 68 samples/s a whole epoch in the
    run of 2026-12-04, 28 s each): an epoch stops after ``max_epoch_s`` (0: never), as
    ``make bench`` stops such loops, and its rate is the samples read over that time."""
    import os

    # It reads credentials from the default chain only.
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = keys
    from s3torchconnector import S3ClientConfig as ConnectorConfig
    from s3torchconnector import S3IterableDataset as ConnectorDataset

    dataset = ConnectorDataset.from_prefix(
        uri,
        region=region,
        endpoint=endpoint,
        transform=read,
        s3client_config=ConnectorConfig(force_path_style=True),
    )
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        stop = start + max_epoch_s if max_epoch_s else float("inf")
        count = 0
        for _ in dataset:
            count += 1
            if time.perf_counter() >= stop:
                break
        rates.append(count / (time.perf_counter() - start))
        if count != expected and time.perf_counter() < stop:
            raise RuntimeError(f"s3torchconnector read {count} objects of {expected}")
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--delay-ms", type=float, default=5.0, help="each way")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "count": args.count,
        "size": args.size,
        "round_trip_ms": 2 * args.delay_ms,
        "server": "seaweedfs",
    }
    with LocalS3Server() as server, tempfile.TemporaryDirectory() as scratch:
        config = S3ClientConfig(
            access_key_id=server.access_key,
            secret_access_key=server.secret_key,
            force_path_style=True,
        )
        client = s3torch.S3Client(server.region, endpoint=server.endpoint, s3client_config=config)
        bucket = "cache-bench"
        import boto3

        boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            region_name=server.region,
        ).create_bucket(Bucket=bucket)
        body = bytes(range(256)) * (args.size // 256 + 1)
        for i in range(args.count):
            stream = client.put_object_stream(bucket, f"w9/{i:07d}")
            stream.write(body[: args.size])
            stream.close()
        proxy = DelayProxy(server.endpoint, args.delay_ms) if args.delay_ms > 0 else None
        endpoint = server.endpoint
        if proxy is not None:
            proxy.start()
            endpoint = proxy.endpoint
        try:
            total = args.count * args.size

            def dataset(cache: str, size: int) -> S3IterableDataset:
                return S3IterableDataset.from_prefix(
                    f"s3://{bucket}/w9/",
                    region=server.region,
                    endpoint=endpoint,
                    s3client_config=config,
                    transform=read,
                    shuffle=True,
                    seed=SEED,
                    cache_dir=f"{scratch}/{cache}",
                    cache_size=size,
                )

            whole = dataset("whole", 2 * total)
            first, _ = epoch(whole, 0)
            second, second_counts = epoch(whole, 1)
            results["whole"] = {
                "epoch1_samples_per_s": round(first),
                "epoch2_samples_per_s": round(second),
                "ratio": round(second / first, 2),
                "epoch2_bytes_from_s3": second_counts["cache.bytes_from_s3"],
            }

            connector = connector_epochs(
                f"s3://{bucket}/w9/",
                server.region,
                endpoint,
                (server.access_key, server.secret_key),
                args.count,
            )
            results["connector"] = {
                "epoch1_samples_per_s": round(connector[0]),
                "epoch2_samples_per_s": round(connector[1]),
                "s3torch_epoch2_ratio": round(second / connector[1], 2),
            }

            half = dataset("half", total // 2)
            fractions = []
            for number in range(3):
                _, counts = epoch(half, number)
                if number:
                    fractions.append(counts["cache.bytes_from_s3"] / total)
            orders = [list(epoch_order(args.count, True, SEED, n)) for n in range(3)]
            results["half"] = {
                "refetched_epoch2": round(fractions[0], 3),
                "refetched_epoch3": round(fractions[1], 3),
                "lru_refetched_simulated": round(
                    lru_refetched([args.size] * args.count, total // 2, orders), 3
                ),
            }
            results["stalls"] = stall_cost(whole)
        finally:
            if proxy is not None:
                proxy.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


def stall_cost(cached: S3IterableDataset) -> dict[str, Any]:
    """What timing each sample costs, against a sample of a tight loop over cached data.

    The timing is measured alone (the same steps the iterator takes: two clock reads, an
    append, a length check, and the flush every FLUSH_EVERY samples), because a loop with and
    without it differs by less than the loop's own noise."""
    probe = metrics_module.DatasetMetrics()
    waits = probe.waits(0)
    now_ns = metrics_module.now_ns
    flush_every = metrics_module.FLUSH_EVERY
    calls = 200_000
    start = time.perf_counter_ns()
    for _ in range(calls):
        began = now_ns()
        waits.append(now_ns() - began)
        if len(waits) >= flush_every:
            probe.flush()
    per_sample_timing_ns = (time.perf_counter_ns() - start) / calls
    start = time.perf_counter_ns()
    for _ in range(calls):
        pass
    per_sample_timing_ns -= (time.perf_counter_ns() - start) / calls

    loops = []
    for run in range(5):
        cached.set_epoch(2 + run)
        began = time.perf_counter()
        count = sum(1 for _ in cached)
        loops.append((time.perf_counter() - began) / count * 1e9)
    per_sample_ns = statistics.median(loops)
    return {
        "timing_ns_per_sample": round(per_sample_timing_ns),
        "cached_sample_ns": round(per_sample_ns),
        "overhead": round(per_sample_timing_ns / per_sample_ns, 4),
    }


if __name__ == "__main__":
    main()
