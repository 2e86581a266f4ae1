"""M2: the memory a dataset's listing costs at 1,000,000 keys, s3torch against s3torchconnector.

Two figures:

- bytes per key of s3torch's listing table beyond the key text (target: <= 64);
- the memory of one rank with 4 DataLoader workers (fork) that each index their quarter of an
  ``S3MapDataset`` of that many objects: RSS of each process, and PSS (shared pages divided
  among the processes sharing them) summed over the rank, which is what the machine pays.

The rows are synthetic (no server is needed, nothing is fetched: ``dataset[i]`` makes a reader
without sending a request): s3torch's dataset is loaded from a manifest of them, and
s3torchconnector's is given the same rows (bucket, key, ``ObjectInfo``) through its
``get_dataset_objects`` argument, as its ``from_prefix`` would hold them after listing.
Each side runs in its own fresh process.

    python benchmarks/table_memory.py [--keys 1000000] [--workers 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BUCKET = "bench-m2"
ENDPOINT = "http://127.0.0.1:9"  # never reached: nothing is fetched


def synthetic(count: int) -> Iterator[tuple[str, str, int, int]]:
    """(key, etag, size, last modified) of ``count`` objects shaped like an image data set."""
    for i in range(count):
        etag = '"' + hashlib.md5(i.to_bytes(8, "little")).hexdigest() + '"'
        yield f"train/{i // 1000:05d}/img_{i:08d}.jpg", etag, 1000 + i % 100_000, 1_700_000_000


def _memory(pid: int) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                found[name.lower()] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return found


def _touch(batch: Any) -> int:
    return 0


class _Indexed:
    """Makes ``dataset[i]`` (a reader, no request) for each index of a batch: a DataLoader
    would call an ``S3MapDataset``'s ``__getitems__``, which starts the batch's GETs."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, indices: list[int]) -> list[int]:
        for i in indices:
            self.dataset[i]
        return [0]


def _rank(side: str, count: int, workers: int, manifest: str) -> dict[str, Any]:
    import torch.utils.data

    started = time.perf_counter()
    if side == "s3torch":
        from s3torch import S3MapDataset

        dataset = S3MapDataset.from_manifest(manifest, region="us-east-1", endpoint=ENDPOINT)
        len(dataset)
    else:
        from s3torchconnector import S3MapDataset as TheirMap
        from s3torchconnector._s3bucket_key_data import S3BucketKeyData
        from s3torchconnectorclient._mountpoint_s3_client import ObjectInfo

        def objects(_client: Any) -> Iterator[Any]:
            for key, etag, size, modified in synthetic(count):
                yield S3BucketKeyData(
                    BUCKET, key, ObjectInfo(key, etag, size, modified, None, None)
                )

        dataset = TheirMap("us-east-1", get_dataset_objects=objects, endpoint=ENDPOINT)
        len(dataset)
    built_s = time.perf_counter() - started
    loader = torch.utils.data.DataLoader(
        _Indexed(dataset),  # type: ignore[arg-type]
        batch_size=1000,
        num_workers=workers,
        persistent_workers=True,
        collate_fn=_touch,
        multiprocessing_context="fork",
    )
    iterator = iter(loader)
    for _ in iterator:
        pass
    pids = [os.getpid(), *(w.pid for w in iterator._workers)]  # type: ignore[attr-defined]
    readings = [_memory(pid) for pid in pids]
    result = {
        "side": side,
        "keys": count,
        "workers": workers,
        "build_s": built_s,
        "pass_s": time.perf_counter() - started - built_s,
        "rss_parent": readings[0].get("rss"),
        "rss_workers": [r.get("rss") for r in readings[1:]],
        "pss_total": sum(r.get("pss", 0) for r in readings),
    }
    del iterator, loader
    return result


def table_bytes(count: int, manifest: str) -> dict[str, Any]:
    from s3torch._datasets.manifest import dump_manifest
    from s3torch._datasets.table import ObjectRow, ObjectTable

    started = time.perf_counter()
    table = ObjectTable.build(
        ObjectRow(BUCKET, key, size, etag, modified)
        for key, etag, size, modified in synthetic(count)
    )
    built_s = time.perf_counter() - started
    Path(manifest).write_bytes(dump_manifest(table, [f"s3://{BUCKET}/train/"]))
    beyond = table.nbytes() - table.key_bytes()
    return {
        "keys": count,
        "build_s": built_s,
        "table_bytes": table.nbytes(),
        "key_text_bytes": table.key_bytes(),
        "bytes_per_key_beyond_key_text": beyond / count,
        "manifest_bytes": os.path.getsize(manifest),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # one side, in a child process
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(_rank(args.side, args.keys, args.workers, args.manifest)))
        return 0
    with tempfile.TemporaryDirectory(prefix="s3torch-m2-") as scratch:
        manifest = str(Path(scratch) / "listing.s3torch-manifest")
        figures: dict[str, Any] = {"table": table_bytes(args.keys, manifest)}
        for side in ("s3torch", "s3torchconnector"):
            command = [sys.executable, __file__, "--side", side, "--keys", str(args.keys)]
            command += ["--workers", str(args.workers), "--manifest", manifest]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                figures[side] = {"error": done.stderr.strip().splitlines()[-1:]}
            else:
                figures[side] = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 1 << 20
    table = figures["table"]
    print(
        f"M2 table: {table['bytes_per_key_beyond_key_text']:.1f} bytes/key beyond the key text "
        f"({table['key_text_bytes'] / args.keys:.1f} of key text), {args.keys:,} keys"
    )
    for side in ("s3torch", "s3torchconnector"):
        got = figures[side]
        if "error" in got:
            print(f"M2 {side}: failed: {got['error']}")
            continue
        workers = ", ".join(f"{(r or 0) / mib:.0f}" for r in got["rss_workers"])
        print(
            f"M2 {side}: PSS of the rank {got['pss_total'] / mib:.0f} MiB; RSS parent "
            f"{(got['rss_parent'] or 0) / mib:.0f} MiB, workers {workers} MiB "
            f"(built in {got['build_s']:.1f} s, indexed in {got['pass_s']:.1f} s)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
