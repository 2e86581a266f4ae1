"""``s3torch bench``: measure PUT, GET, LIST and DELETE against the user's own bucket."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import _core
from .._client import S3Client
from ._common import (
    EXIT_OK,
    KIB,
    MIB,
    CommandError,
    S3Location,
    add_client_options,
    add_command,
    add_concurrency_option,
    human_size,
    make_client,
    positive_int,
    positive_size_argument,
    s3_uri_argument,
)
from ._jobs import JobPool, Stopwatch
from ._progress import Progress, wants_progress

DEFAULT_SIZE = 32 * MIB
DEFAULT_COUNT = 8
DEFAULT_SMALL_SIZE = 4 * KIB
DEFAULT_SMALL_COUNT = 1000
DEFAULT_CONCURRENCY = 16
_MIB_S = "MiB/s"
_OBJ_S = "objects/s"
_LIST_SECONDS = 0.5
"""LIST passes over the benchmark's keys are repeated for at least this long."""
_BLOCK = 8 * MIB
"""Random bytes written over and over to make a large object."""

_SUMMARY = "measure GET/PUT/LIST throughput against a bucket"
_DESCRIPTION = (
    "Measure how fast this machine reads, writes and lists objects in a\n"
    "bucket of yours (or of an S3-compatible endpoint)."
)
_EPILOG = f"""\
what it does:
  Writes its own objects under a new prefix S3_URI/s3torch-bench-<random>/, then measures
    PUT large   --count objects of --size bytes, --concurrency at a time (MiB/s)
    GET large   the same objects read back (MiB/s)
    PUT small   --small-count objects of --small-size bytes (objects/s)
    GET small   the same small objects read back, many at once (objects/s)
    LIST        listing every key of the run, page by page (keys/s)
    DELETE      deleting every object it wrote (objects/s)
  and prints a table (or JSON with --json). The objects are deleted at the end, also after
  an error or Ctrl-C, unless --keep is given.

sizes:
  Sizes take a unit: 4096, 64KiB, 8MiB, 1GiB (binary) or 10MB (decimal); a bare number is
  bytes. Defaults: --size {human_size(DEFAULT_SIZE)}, --count {DEFAULT_COUNT},
  --small-size {human_size(DEFAULT_SMALL_SIZE)}, --small-count {DEFAULT_SMALL_COUNT}.

examples:
  s3torch bench s3://my-bucket/scratch
  s3torch bench s3://my-bucket --size 1GiB --count 16 --concurrency 32
  s3torch bench s3://my-bucket --small-count 5000 --json > bench.json
"""


@dataclass
class Result:
    """One row of the table: an operation and how fast it went."""

    operation: str
    objects: int
    object_size: int | None
    bytes: int
    seconds: float
    rate: float
    unit: str  # "MiB/s", "objects/s" or "keys/s"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = add_command(commands, "bench", _SUMMARY, _DESCRIPTION, _EPILOG, run)
    parser.add_argument(
        "uri",
        type=s3_uri_argument,
        metavar="S3_URI",
        help="s3://BUCKET or s3://BUCKET/PREFIX under which to write the test objects",
    )
    _add_object_set_options(parser, "", "large", DEFAULT_SIZE, DEFAULT_COUNT)
    _add_object_set_options(parser, "small-", "small", DEFAULT_SMALL_SIZE, DEFAULT_SMALL_COUNT)
    add_concurrency_option(parser, default=DEFAULT_CONCURRENCY, what="requests in flight")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the test objects (their prefix is printed)"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not draw progress on stderr")
    add_client_options(parser)
    return parser


def _add_object_set_options(
    parser: argparse.ArgumentParser, prefix: str, what: str, size: int, count: int
) -> None:
    """``--{prefix}size`` and ``--{prefix}count``: the objects of one set (large or small)."""
    parser.add_argument(
        f"--{prefix}size",
        type=positive_size_argument,
        default=size,
        metavar="SIZE",
        help=f"size of each {what} object (default {human_size(size)})",
    )
    parser.add_argument(
        f"--{prefix}count",
        type=positive_int,
        default=count,
        metavar="N",
        help=f"number of {what} objects (default {count})",
    )


def run(args: argparse.Namespace) -> int:
    location: S3Location = args.uri
    client = make_client(args)
    prefix = location.key
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    prefix += f"s3torch-bench-{secrets.token_hex(4)}/"
    bench = _Bench(client, location.bucket, prefix, args)
    if not args.json:
        print(
            f"Benchmarking s3://{location.bucket}/{prefix} "
            f"(endpoint {client.endpoint or 'AWS'}, region {client.region}, "
            f"concurrency {args.concurrency})",
            file=sys.stderr,
            flush=True,
        )
    results: list[Result] = []
    try:
        results = bench.measure(keep=args.keep)
    finally:
        bench.progress.clear()
        if not args.keep:
            bench.clean_up()
    if args.json:
        document = {
            "s3torch_version": _core.__version__,
            "uri": f"s3://{location.bucket}/{prefix}",
            "endpoint": client.endpoint,
            "region": client.region,
            "concurrency": args.concurrency,
            "kept": bool(args.keep),
            "results": [_rounded(asdict(result)) for result in results],
        }
        print(json.dumps(document, indent=2))
    else:
        print(format_table(results))
        if args.keep:
            print(f"\nThe test objects were kept under s3://{location.bucket}/{prefix}")
    return EXIT_OK


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: round(value, 4) if isinstance(value, float) else value for name, value in row.items()
    }


def format_table(results: Sequence[Result]) -> str:
    """The results as an aligned text table."""
    header = ("operation", "objects", "object size", "total", "seconds", "rate")
    rows = [header]
    for result in results:
        rate = (
            f"{result.rate:,.1f} {result.unit}"
            if result.unit == "MiB/s"
            else f"{result.rate:,.0f} {result.unit}"
        )
        rows.append(
            (
                result.operation,
                f"{result.objects:,}",
                "" if result.object_size is None else human_size(result.object_size),
                human_size(result.bytes) if result.bytes else "",
                f"{result.seconds:.2f}",
                rate,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


class _Bench:
    def __init__(
        self, client: S3Client, bucket: str, prefix: str, args: argparse.Namespace
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.size: int = args.size
        self.count: int = args.count
        self.small_size: int = args.small_size
        self.small_count: int = args.small_count
        self.concurrency: int = args.concurrency
        self.progress = Progress(wants_progress(args.no_progress), unit="objects")
        self.block = memoryview(os.urandom(min(self.size, _BLOCK)))
        self.small_payload = os.urandom(self.small_size)
        self.large_keys = [f"{prefix}large/{i:06d}" for i in range(self.count)]
        self.small_keys = [f"{prefix}small/{i:07d}" for i in range(self.small_count)]
        self.deleted = False

    def measure(self, keep: bool) -> list[Result]:
        results = [
            self._timed("PUT large", self.large_keys, self.size, self._put_large, _MIB_S),
            self._timed("GET large", self.large_keys, self.size, self._get_large, _MIB_S),
            self._timed("PUT small", self.small_keys, self.small_size, self._put_small, _OBJ_S),
            self._timed("GET small", self.small_keys, self.small_size, self._get_small, _OBJ_S),
            self._list(),
        ]
        if not keep:
            keys = self.large_keys + self.small_keys
            results.append(self._timed("DELETE", keys, None, self._delete, _OBJ_S))
            self._remove_folders()
            self.deleted = True
        return results

    def clean_up(self) -> None:
        """Delete whatever is under the prefix (after a failure or Ctrl-C, untimed)."""
        if self.deleted:
            return
        try:
            keys = [
                info.key
                for page in self.client.list_objects(self.bucket, self.prefix)
                for info in page.object_info
            ]
            if keys:
                print(
                    f"Deleting the {len(keys)} test objects under s3://{self.bucket}/{self.prefix}",
                    file=sys.stderr,
                    flush=True,
                )
                self._run("cleaning up", keys, None, self._delete)
            self._remove_folders()
        except BaseException:
            print(
                f"s3torch: warning: test objects may be left under s3://{self.bucket}/"
                f"{self.prefix}",
                file=sys.stderr,
                flush=True,
            )
            raise
        self.deleted = True

    def _remove_folders(self) -> None:
        # Some stores (SeaweedFS) keep emptied "folders" and list them as common prefixes
        # until they are deleted like objects; on S3 these deletes do nothing.
        for folder in (f"{self.prefix}large/", f"{self.prefix}small/", self.prefix):
            self.client.delete_object(self.bucket, folder)

    # -- phases -------------------------------------------------------------

    def _timed(
        self,
        operation: str,
        keys: list[str],
        object_size: int | None,
        work: Callable[[JobPool, str], int],
        unit: str,
    ) -> Result:
        clock = Stopwatch()
        moved = self._run(operation, keys, object_size if unit == _MIB_S else None, work)
        seconds = max(clock.elapsed, 1e-9)
        rate = moved / MIB / seconds if unit == _MIB_S else len(keys) / seconds
        return Result(operation, len(keys), object_size, moved, seconds, rate, unit)

    def _run(
        self,
        label: str,
        keys: list[str],
        object_size: int | None,
        work: Callable[[JobPool, str], int],
    ) -> int:
        """Run ``work`` on every key; the bytes moved. The first failure stops the phase.

        ``object_size`` is given to show progress in bytes, else it is shown in objects.
        """
        total_bytes = None if object_size is None else object_size * len(keys)
        self.progress.begin(label, total_bytes=total_bytes, total_items=len(keys))
        pool = JobPool(self.concurrency, self.progress)
        moved = 0

        def done(_: str, count: int) -> None:
            nonlocal moved
            moved += count
            self.progress.item_done()

        def failed(key: str, error: BaseException) -> None:
            raise error

        pool.run(lambda key: work(pool, key), keys, done, failed)
        self.progress.render(force=True)
        self.progress.clear()
        return moved

    def _list(self) -> Result:
        self.progress.begin("LIST", total_items=None)
        self.progress.unit = "keys"
        clock = Stopwatch()
        listed = 0
        expected = self.count + self.small_count
        while True:
            found = 0
            for page in self.client.list_objects(self.bucket, self.prefix):
                found += len(page.object_info)
                self.progress.item_done(len(page.object_info))
                self.progress.render()
            if found != expected:
                raise CommandError(
                    f"listing s3://{self.bucket}/{self.prefix} found {found} keys, "
                    f"expected {expected}"
                )
            listed += found
            if clock.elapsed >= _LIST_SECONDS:
                break
        seconds = clock.elapsed
        self.progress.clear()
        self.progress.unit = "objects"
        return Result("LIST", listed, None, 0, seconds, listed / seconds, "keys/s")

    # -- jobs (on worker threads) -------------------------------------------

    def _put_large(self, pool: JobPool, key: str) -> int:
        remaining = self.size
        with self.client.put_object(self.bucket, key) as writer:
            while remaining:
                pool.check()
                count = min(remaining, len(self.block))
                writer.write(self.block[:count])
                remaining -= count
                self.progress.add(count)
        return self.size

    def _put_small(self, pool: JobPool, key: str) -> int:
        pool.check()
        with self.client.put_object(self.bucket, key) as writer:
            writer.write(self.small_payload)
        self.progress.add(self.small_size)
        return self.small_size

    def _get_large(self, pool: JobPool, key: str) -> int:
        return self._get(pool, key, self.size)

    def _get_small(self, pool: JobPool, key: str) -> int:
        return self._get(pool, key, self.small_size)

    def _get(self, pool: JobPool, key: str, expected: int) -> int:
        received = 0
        stream = self.client.get_object_stream(self.bucket, key)
        try:
            for part in stream:
                pool.check()
                received += len(part)
                self.progress.add(len(part))
        finally:
            stream.close()
        if received != expected:
            raise CommandError(
                f"GET s3://{self.bucket}/{key} returned {received} bytes, expected {expected}"
            )
        return received

    def _delete(self, pool: JobPool, key: str) -> int:
        pool.check()
        self.client.delete_object(self.bucket, key)
        return 0
