"""Manifests: a dataset's listing saved to a file (local or in S3) and loaded back, so that a
job lists its objects once and later jobs (or other ranks) start without listing.

A manifest is the :class:`~.table.ObjectTable`'s buffers as they are in memory, behind a small
JSON header (the prefixes listed, when, how many objects, the buckets) and followed by a CRC32
of everything before it::

    b"S3TORCH-MANIFEST"  u32 version  u32 header length  header (JSON)
    7 x (u64 length, section bytes)   u32 CRC32

A file that is truncated, altered, of another version or not a manifest at all is a
``ValueError`` naming it, never a partial dataset.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
import time
import zlib
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._uri import parse_object_uri
from .table import ObjectTable

if TYPE_CHECKING:
    from .._client import S3Client

__all__ = ["MANIFEST_VERSION", "dump_manifest", "load_manifest", "read_location", "write_location"]

MANIFEST_VERSION = 1
_MAGIC = b"S3TORCH-MANIFEST"
_FIXED = struct.Struct("<II")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
# The table's buffers in order: (name, array typecode, or None for a bytes blob).
_SECTIONS = (
    ("bucket_ids", "I"),
    ("keys", None),
    ("key_ends", "q"),
    ("etags", None),
    ("etag_ends", "q"),
    ("sizes", "q"),
    ("modified", "q"),
)


def dump_manifest(table: ObjectTable, prefixes: list[str]) -> bytes:
    """The manifest of ``table``, listed from ``prefixes``, as bytes."""
    state = table.__getstate__()
    buckets, buffers = state[0], state[1:]
    header = {
        "prefixes": prefixes,
        "listed_at": time.time(),
        "count": len(table),
        "buckets": buckets,
        "byteorder": sys.byteorder,
        "itemsizes": {code: array(code).itemsize for _, code in _SECTIONS if code},
    }
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    parts = [_MAGIC, _FIXED.pack(MANIFEST_VERSION, len(text)), text]
    for buffer in buffers:
        data = buffer if isinstance(buffer, bytes) else buffer.tobytes()
        parts += [_LENGTH.pack(len(data)), data]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


def load_manifest(data: bytes, name: str) -> tuple[ObjectTable, dict[str, Any]]:
    """The table and header of a manifest read from ``name``.

    Raises:
        ValueError: the data is not a manifest of this version, or is truncated or corrupt; the
            message names ``name``.
    """

    def bad(why: str) -> ValueError:
        return ValueError(f"manifest {name}: {why}")

    if not data.startswith(_MAGIC):
        raise bad("not an s3torch manifest (it does not start with the manifest signature)")
    if len(data) < len(_MAGIC) + _FIXED.size + _CRC.size:
        raise bad("truncated (shorter than a manifest's header)")
    body, (crc,) = data[: -_CRC.size], _CRC.unpack(data[-_CRC.size :])
    version, header_length = _FIXED.unpack_from(data, len(_MAGIC))
    if version != MANIFEST_VERSION:
        raise bad(f"version {version}; this s3torch reads version {MANIFEST_VERSION}")
    if zlib.crc32(body) != crc:
        raise bad("checksum mismatch: the file is truncated or corrupt")
    at = len(_MAGIC) + _FIXED.size
    try:
        header = json.loads(body[at : at + header_length])
        at += header_length
        buffers: list[Any] = []
        for _, code in _SECTIONS:
            (length,) = _LENGTH.unpack_from(body, at)
            chunk = body[at + _LENGTH.size : at + _LENGTH.size + length]
            if len(chunk) != length:
                raise bad("truncated (a section ends early)")
            at += _LENGTH.size + length
            if code is None:
                buffers.append(bytes(chunk))
                continue
            if header["itemsizes"][code] != array(code).itemsize:
                raise bad("written on a machine with other integer sizes")
            numbers = array(code)
            numbers.frombytes(chunk)
            if header["byteorder"] != sys.byteorder:
                numbers.byteswap()
            buffers.append(numbers)
        count, buckets = header["count"], header["buckets"]
    except (KeyError, TypeError, ValueError, struct.error) as error:
        if isinstance(error, ValueError) and str(error).startswith("manifest "):
            raise
        raise bad(f"malformed ({type(error).__name__}: {error})") from None
    bucket_ids, keys, key_ends, etags, etag_ends, sizes, modified = buffers
    lengths = {len(bucket_ids), len(key_ends), len(etag_ends), len(sizes), len(modified)}
    if at != len(body) or lengths != {count}:
        raise bad(f"malformed (sections do not hold {count} objects)")
    ends_fit = (not count) or (key_ends[-1] == len(keys) and etag_ends[-1] == len(etags))
    if not ends_fit or any(b >= len(buckets) for b in set(bucket_ids)):
        raise bad("malformed (offsets or bucket numbers out of range)")
    table = ObjectTable._packed(buckets, *buffers)
    return table, header


def _is_s3(location: str | os.PathLike[str]) -> bool:
    return isinstance(location, str) and location.startswith("s3://")


def write_location(location: str | os.PathLike[str], data: bytes, client: Any) -> None:
    """Write ``data`` to a local path (atomically: a temporary file renamed over it) or to an
    ``s3://bucket/key`` URI (``client()`` gives the client)."""
    if _is_s3(location):
        bucket, key = parse_object_uri(str(location))
        s3: S3Client = client()
        with s3.put_object(bucket, key) as writer:
            writer.write(data)
        return
    path = Path(location)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_location(location: str | os.PathLike[str], client: Any) -> bytes:
    """Read a local path or an ``s3://bucket/key`` URI whole."""
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"manifest must be a path or an s3:// URI, not {type(location).__name__}")
    if _is_s3(location):
        bucket, key = parse_object_uri(str(location))
        s3: S3Client = client()
        data: bytes = s3.get_object(bucket, key).read()
        return data
    return Path(location).read_bytes()
