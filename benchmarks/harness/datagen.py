"""The data the workloads read, generated and uploaded once per server.

Contents are deterministic and cheap to make (a random block, cycled, with each small object's
index in its first bytes), so no two small objects are alike and no store can deduplicate them.
Uploads go through the raw CRT client (:mod:`harness.crt`), many at a time; for localbucket,
whose objects are plain files, they are written straight into its data root (see
:class:`IntoFiles`).
"""

from __future__ import annotations

import functools
import io
import random
import shutil
import tarfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .crt import RawS3
from .spec import (
    BUCKET_BIG,
    BUCKET_LIST,
    BUCKET_RTT,
    BUCKET_SMALL,
    BUCKET_TAR,
    BUCKETS,
    Scale,
)

_BLOCK_SIZE = 8 * 1024 * 1024
_WINDOW = 256


@functools.lru_cache(maxsize=1)
def _block() -> bytes:
    return random.Random(20240611).randbytes(_BLOCK_SIZE)


def object_bytes(index: int, size: int, block: bytes | None = None) -> bytes:
    """Bytes of the ``index``-th small object: its index, then a slice of the block."""
    block = block if block is not None else _block()
    head = index.to_bytes(8, "little")[: min(8, size)]
    start = (index * 4099) % (len(block) - size)
    return head + block[start : start + size - len(head)]


class PatternStream(io.RawIOBase):
    """``size`` bytes of the cycled block, produced as they are read (no copy in memory)."""

    def __init__(self, size: int) -> None:
        self._block = memoryview(_block())
        self._size = size
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out) and self._offset < self._size:
            at = self._offset % len(self._block)
            count = min(len(out) - filled, len(self._block) - at, self._size - self._offset)
            out[filled : filled + count] = self._block[at : at + count]
            filled += count
            self._offset += count
        return filled


def small_object_keys(prefix: str, count: int) -> list[str]:
    """The keys of a small-object data set, in listing order."""
    return [f"{prefix}{i:06d}.bin" for i in range(count)]


def is_pattern(body: Any) -> bool:
    """Whether ``body`` holds exactly the bytes of a :class:`PatternStream` of its length (what
    W3 and W3i check what they read against, untimed): a comparison by 8 MiB slices,
    faster than a CRC of the whole: 0.25 s a GiB, where comparing memoryviews (item by item)
    took 3.7 and a CRC32 0.5."""
    data, block = memoryview(body).cast("B"), _block()
    return all(
        data[at : at + len(block)].tobytes() == block[: len(data) - at]
        for at in range(0, len(data), len(block))
    )


def make_state_dict(total_bytes: int, tensors: int) -> dict[str, Any]:
    """A model-like state dict: ``tensors`` float32 tensors of ``total_bytes`` in all."""
    import torch

    numel = total_bytes // tensors // 4
    return {
        f"layers.{i}.weight": torch.arange(numel, dtype=torch.float32).add_(i)
        for i in range(tensors)
    }


def checkpoint_bytes(total_bytes: int, tensors: int) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(make_state_dict(total_bytes, tensors), buffer)
    return buffer.getvalue()


def dcp_checkpoint_files(total_bytes: int, tensors: int) -> dict[str, bytes]:
    """A one-rank ``torch.distributed.checkpoint`` of the model-like state dict, as its files
    (``.metadata`` and the rank's data file) by name."""
    import tempfile
    from pathlib import Path

    import torch.distributed.checkpoint as dcp

    with (
        tempfile.TemporaryDirectory(prefix="s3torch-bench-dcp-") as directory,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", UserWarning)  # "assuming ... a single process": it is
        dcp.save(
            make_state_dict(total_bytes, tensors),
            storage_writer=dcp.FileSystemWriter(directory, single_file_per_rank=True),
            no_dist=True,
        )
        return {path.name: path.read_bytes() for path in sorted(Path(directory).iterdir())}


def tar_shard(shard: int, members: int, member_size: int, block: bytes) -> bytes:
    """A WebDataset-style shard: one ``.bin`` member per sample, keys unique across shards."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(members):
            data = object_bytes(shard * members + i, member_size, block)
            info = tarfile.TarInfo(f"s{shard:04d}_{i:06d}.bin")
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ThroughS3:
    """Objects uploaded through the server's S3 API, many small ones at a time."""

    def __init__(self, s3: RawS3) -> None:
        self.s3 = s3

    def put(self, bucket: str, key: str, body: Any, size: int) -> None:
        """One object from bytes or a binary file object (a :class:`PatternStream`)."""
        self.s3.put(bucket, key, body, size).finished_future.result()
        self.s3.head_size(bucket, key)

    def put_many(self, bucket: str, objects: Iterable[tuple[str, bytes]]) -> None:
        self.s3.run_window(
            (
                (lambda key=key, data=data: self.s3.put(bucket, key, data, len(data)))
                for key, data in objects
            ),
            _WINDOW,
        )

    def finish(self, buckets: Iterable[str]) -> None:
        """Nothing left to do: the server saw every object arrive."""


class IntoFiles(ThroughS3):
    """Objects written straight into localbucket's data root, where it keeps each object as the
    file ``DATA_ROOT/bucket/key`` and nothing else: what its PutObject leaves there, in a
    fraction of the time (10,000 small PUTs took 31 s of a full run). Buckets are still made,
    and every object then listed or asked for, through its S3 API, so that it has computed and
    cached each ETag before the clock starts (a PUT caches the ETag it answers with)."""

    def __init__(self, s3: RawS3, data_root: Path) -> None:
        super().__init__(s3)
        self.root = data_root

    def _path(self, bucket: str, key: str) -> Path:
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, bucket: str, key: str, body: Any, size: int) -> None:
        path = self._path(bucket, key)
        with path.open("wb") as file:
            if isinstance(body, (bytes, bytearray, memoryview)):
                file.write(body)
            else:
                shutil.copyfileobj(body, file, _BLOCK_SIZE)
        if path.stat().st_size != size:
            raise RuntimeError(f"{path}: wrote {path.stat().st_size} bytes, not {size}")
        if self.s3.head_size(bucket, key) != size:  # also makes the server hash it
            raise RuntimeError(f"{bucket}/{key}: the server does not see {size} bytes")

    def put_many(self, bucket: str, objects: Iterable[tuple[str, bytes]]) -> None:
        for key, data in objects:
            self._path(bucket, key).write_bytes(data)

    def finish(self, buckets: Iterable[str]) -> None:
        for bucket in buckets:
            for key, size in self.s3.list_keys(bucket, ""):
                if size != (self.root / bucket / key).stat().st_size:
                    raise RuntimeError(f"{bucket}/{key}: listed with {size} bytes")


def generate(
    s3: RawS3,
    scale: Scale,
    data_sets: set[str],
    log: Any = print,
    data_root: Path | None = None,
) -> dict[str, Any]:
    """Create the buckets, upload the data sets named, and return their manifest.

    ``data_root``: localbucket's, to write the objects there instead of uploading them."""
    for bucket in BUCKETS:
        s3.create_bucket(bucket)
    store = ThroughS3(s3) if data_root is None else IntoFiles(s3, data_root)
    block = _block()
    manifest: dict[str, Any] = {}

    def small_objects(name: str, bucket: str, count: int, size: int) -> None:
        started = time.monotonic()
        keys = small_object_keys("img/", count)
        store.put_many(bucket, ((key, object_bytes(i, size, block)) for i, key in enumerate(keys)))
        manifest[name] = {"bucket": bucket, "prefix": "img/", "count": count, "size": size}
        log(f"  {name}: {count} x {size} B in {time.monotonic() - started:.1f} s")

    if "small" in data_sets:
        small_objects("small", BUCKET_SMALL, scale.small_count, scale.small_size)
    if "rtt" in data_sets:
        small_objects("rtt", BUCKET_RTT, scale.rtt_count, scale.small_size)
    for name, key, size in (
        ("blob", "blob.bin", scale.blob_size),
        ("netblob", "netblob.bin", scale.net_blob_size),
        ("stream", "stream.bin", scale.stream_size),
    ):
        if name in data_sets:
            started = time.monotonic()
            store.put(BUCKET_BIG, key, PatternStream(size), size)
            manifest[name] = {"bucket": BUCKET_BIG, "key": key, "size": size}
            log(f"  {name}: {size / 2**20:.0f} MiB in {time.monotonic() - started:.1f} s")
    # Checkpoints: one torch.save file (under "key"), or the files of a DCP one (under "prefix").
    for name, total, where in (
        ("checkpoint", scale.checkpoint_bytes, {"key": "checkpoint.pt"}),
        ("netcheckpoint", scale.net_checkpoint_bytes, {"key": "netcheckpoint.pt"}),
        ("dcp", scale.checkpoint_bytes, {"prefix": "dcp/"}),
        ("netdcp", scale.net_checkpoint_bytes, {"prefix": "netdcp/"}),
    ):
        if name not in data_sets:
            continue
        started = time.monotonic()
        tensors = scale.checkpoint_tensors
        if "key" in where:
            files = {where["key"]: checkpoint_bytes(total, tensors)}
        else:
            files = {
                where["prefix"] + file_name: data
                for file_name, data in dcp_checkpoint_files(total, tensors).items()
            }
        for key, data in files.items():
            store.put(BUCKET_BIG, key, data, len(data))
        size = sum(len(data) for data in files.values())
        manifest[name] = {"bucket": BUCKET_BIG, **where, "size": size, "tensors": tensors}
        del files
        log(f"  {name}: {size / 2**20:.0f} MiB in {time.monotonic() - started:.1f} s")
    if "keys" in data_sets:
        started = time.monotonic()
        store.put_many(BUCKET_LIST, ((f"keys/{i:07d}", b"") for i in range(scale.list_count)))
        manifest["keys"] = {"bucket": BUCKET_LIST, "prefix": "keys/", "count": scale.list_count}
        log(f"  keys: {scale.list_count} in {time.monotonic() - started:.1f} s")
    if "shards" in data_sets:
        started = time.monotonic()
        sizes = []
        for shard in range(scale.shard_count):
            data = tar_shard(shard, scale.shard_members, scale.member_size, block)
            store.put(BUCKET_TAR, f"shards/shard-{shard:06d}.tar", data, len(data))
            sizes.append(len(data))
        manifest["shards"] = {
            "bucket": BUCKET_TAR,
            "prefix": "shards/",
            "count": scale.shard_count,
            "members": scale.shard_members,
            "member_size": scale.member_size,
            "bytes": sum(sizes),
        }
        log(f"  shards: {scale.shard_count} in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    store.finish(BUCKETS)
    if isinstance(store, IntoFiles):
        log(f"  listed every bucket through the server in {time.monotonic() - started:.1f} s")
    return manifest
