"""The data the workloads read, generated and uploaded once per server.

Contents are deterministic and cheap to make (a random block, cycled, with each small object's
index in its first bytes), so no two small objects are alike and no store can deduplicate them.
Uploads go through the raw CRT client (:mod:`harness.crt`), many at a time.
"""

from __future__ import annotations

import functools
import io
import random
import tarfile
import time
import warnings
import zlib
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


def pattern_crc32(size: int) -> int:
    """The CRC32 of a :class:`PatternStream` of ``size`` bytes (what readers are checked by)."""
    stream, buffer, crc = PatternStream(size), bytearray(_BLOCK_SIZE), 0
    while count := stream.readinto(buffer):
        crc = zlib.crc32(memoryview(buffer)[:count], crc)
    return crc


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


def generate(s3: RawS3, scale: Scale, data_sets: set[str], log: Any = print) -> dict[str, Any]:
    """Create the buckets, upload the data sets named, and return their manifest."""
    for bucket in BUCKETS:
        s3.create_bucket(bucket)
    block = _block()
    manifest: dict[str, Any] = {}

    def small_objects(name: str, bucket: str, count: int, size: int) -> None:
        started = time.monotonic()
        keys = small_object_keys("img/", count)
        s3.run_window(
            (
                (lambda key=key, i=i: s3.put(bucket, key, object_bytes(i, size, block), size))
                for i, key in enumerate(keys)
            ),
            _WINDOW,
        )
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
            s3.put(BUCKET_BIG, key, PatternStream(size), size).finished_future.result()
            s3.head_size(BUCKET_BIG, key)
            manifest[name] = {"bucket": BUCKET_BIG, "key": key, "size": size}
            if name != "stream":  # what W3 and W3i check their bytes against; M1 keeps none
                manifest[name]["crc32"] = pattern_crc32(size)
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
            s3.put(BUCKET_BIG, key, data, len(data)).finished_future.result()
            s3.head_size(BUCKET_BIG, key)
        size = sum(len(data) for data in files.values())
        manifest[name] = {"bucket": BUCKET_BIG, **where, "size": size, "tensors": tensors}
        del files
        log(f"  {name}: {size / 2**20:.0f} MiB in {time.monotonic() - started:.1f} s")
    if "keys" in data_sets:
        started = time.monotonic()
        s3.run_window(
            (
                (lambda i=i: s3.put(BUCKET_LIST, f"keys/{i:07d}", b"", 0))
                for i in range(scale.list_count)
            ),
            _WINDOW,
        )
        manifest["keys"] = {"bucket": BUCKET_LIST, "prefix": "keys/", "count": scale.list_count}
        log(f"  keys: {scale.list_count} in {time.monotonic() - started:.1f} s")
    if "shards" in data_sets:
        started = time.monotonic()
        sizes = []
        for shard in range(scale.shard_count):
            data = tar_shard(shard, scale.shard_members, scale.member_size, block)
            s3.put(
                BUCKET_TAR, f"shards/shard-{shard:06d}.tar", data, len(data)
            ).finished_future.result()
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
    return manifest
