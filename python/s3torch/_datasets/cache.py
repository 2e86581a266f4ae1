"""A local disk cache of a dataset's objects across epochs: :class:`ObjectCache`.

Not LRU. An LRU cache smaller than the dataset evicts each object just before a shuffled epoch
asks for it again, so every epoch fetches nearly everything. Instead a fixed subset is kept:
each listed object gets a rank from a hash of its bucket, key and ETag, and objects are admitted
in rank order while their sizes fit in ``cache_size``. The subset depends only on the listing,
not on the epoch or on who asks first, so every DataLoader worker and every rank on the host
agrees on it without talking to the others, and the bytes it holds are never fetched again.

An entry is one file, written to a temporary name and renamed into place (so no reader sees a
partial one), holding a header (magic, CRC32 of the payload, size, ETag, bucket and key) and the
object's bytes. A stale entry (ETag or size unlike the listing's) or a corrupt one (CRC) is
treated as absent and fetched again. When the disk refuses a write (full, over quota, read-only)
the process stops writing and the dataset goes on streaming, with one warning.

The admission rule, the entry format and the readers that serve and fill entries stay in one
module because each leans on the others' details (the header's size counts toward admission,
the cache checks the header the writer writes, the readers fill through that writer); split,
they would scatter one on-disk format.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import struct
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from .._checks import check_int
from ..s3reader.s3reader import S3Reader, read_limit, seek_target
from .metrics import DatasetMetrics
from .table import ObjectRow, ObjectTable

__all__ = ["CachedReader", "EntryWriter", "FillingReader", "ObjectCache", "cache_stream"]

log = logging.getLogger(__name__)

_FORMAT = "s3torch-cache-v1"
_MAGIC = b"S3TC"
_HEAD = struct.Struct("<4sBxxxIqHI")  # magic, version, crc32, size, etag length, name length
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_S = 3600.0  # a temporary file this old belongs to a process that died
# A tar parser stops at the end-of-archive blocks; the padding after them is read so that
# the shard can still be kept whole, up to this much.
_DRAIN_LIMIT = 1024 * 1024


def _identity(bucket: str, key: str) -> bytes:
    return f"{bucket}/{key}".encode("utf-8", "surrogatepass")


def entry_overhead(row: ObjectRow) -> int:
    """The bytes an entry holds beside the object's own."""
    return (
        _HEAD.size
        + len(row.etag.encode("utf-8", "surrogatepass"))
        + len(_identity(row.bucket, row.key))
    )


def _rank(row: ObjectRow) -> bytes:
    text = _identity(row.bucket, row.key) + b"\0" + row.etag.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=8).digest()


def admitted_mask(table: ObjectTable, cache_size: int) -> bytearray:
    """For each row of ``table``, 1 if the cache keeps it: rows in order of their hash rank,
    each admitted if it still fits in ``cache_size`` (entry headers included). Rows of unknown
    size (named by URI, not listed) are never admitted: there is no listing to check an entry
    against."""
    mask = bytearray(len(table))
    ranked = []
    for i in range(len(table)):
        row = table.row(i)
        if row.size >= 0:
            ranked.append((_rank(row), i, row.size + entry_overhead(row)))
    ranked.sort()
    room = cache_size
    for _, i, cost in ranked:
        if cost <= room:
            mask[i] = 1
            room -= cost
    return mask


class ObjectCache:
    """The cache in ``cache_dir`` of at most ``cache_size`` bytes, shared by every process that
    reads the same listing through it."""

    def __init__(self, cache_dir: Any, cache_size: Any, metrics: DatasetMetrics) -> None:
        if not isinstance(cache_dir, (str, os.PathLike)):
            raise TypeError(
                f"cache_dir must be a str or os.PathLike, not {type(cache_dir).__name__}"
            )
        if cache_size is None:
            raise TypeError("cache_dir needs cache_size=: the most bytes the cache may hold")
        self.cache_size = check_int("cache_size", cache_size, minimum=1)
        self.root = os.path.join(os.path.abspath(os.fspath(cache_dir)), _FORMAT)
        self._metrics = metrics
        self._mask: bytearray | None = None
        self._writable = True

    def prepare(self, table: ObjectTable, evict: bool) -> None:
        """Decide what the cache keeps of ``table``; with ``evict`` (the process that built the
        dataset, not a worker), also delete entries outside that subset and leftovers of dead
        processes, so that the directory holds at most ``cache_size``."""
        self._mask = admitted_mask(table, self.cache_size)
        if evict:
            keep = {self._name(table.row(i)) for i, admitted in enumerate(self._mask) if admitted}
            self._evict(keep)

    def admitted(self, i: int) -> bool:
        return self._mask is not None and bool(self._mask[i])

    @property
    def admitted_count(self) -> int:
        return 0 if self._mask is None else sum(self._mask)

    def _name(self, row: ObjectRow) -> str:
        return hashlib.blake2b(_identity(row.bucket, row.key), digest_size=16).hexdigest()

    def path(self, row: ObjectRow) -> str:
        """Where the entry of ``row``'s object lives."""
        name = self._name(row)
        return os.path.join(self.root, name[:2], name)

    def _evict(self, keep: set[str]) -> None:
        try:
            groups = list(os.scandir(self.root))
        except OSError:
            return
        now = time.time()
        for group in groups:
            if not group.is_dir(follow_symlinks=False):
                continue
            try:
                entries = list(os.scandir(group.path))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                try:
                    if name.endswith(_TEMP_SUFFIX):
                        if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_TEMP_S:
                            os.unlink(entry.path)
                    elif name not in keep:
                        os.unlink(entry.path)
                except OSError:
                    pass  # another process removed it first

    def load(self, row: ObjectRow) -> bytes | None:
        """The object's bytes from its entry, or None when there is no valid one (a stale or
        corrupt entry is removed and counted)."""
        path = self.path(row)
        try:
            with open(path, "rb") as f:
                head = f.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    self._drop(path, "cache.corrupt")
                    return None
                magic, version, crc, size, etag_len, name_len = _HEAD.unpack(head)
                if magic != _MAGIC or version != 1:
                    self._drop(path, "cache.corrupt")
                    return None
                etag = f.read(etag_len)
                identity = f.read(name_len)
                if (
                    size != row.size
                    or etag != row.etag.encode("utf-8", "surrogatepass")
                    or identity != _identity(row.bucket, row.key)
                ):
                    self._drop(path, "cache.stale")
                    return None
                data = f.read(size + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            log.debug("cannot read cache entry %s: %s", path, error)
            return None
        if len(data) != size or zlib.crc32(data) != crc:
            self._drop(path, "cache.corrupt")
            return None
        return data

    def _drop(self, path: str, counter: str) -> None:
        self._metrics.add(counter)
        log.info("s3torch cache: %s entry %s fetched again", counter.split(".")[1], path)
        try:
            os.unlink(path)
        except OSError:
            pass
        return None

    def writer(self, row: ObjectRow) -> EntryWriter | None:
        """A writer for ``row``'s entry, or None when the disk refused an earlier write."""
        if not self._writable:
            return None
        try:
            return EntryWriter(self, row, self.path(row))
        except OSError as error:
            self.write_failed(error)
            return None

    def write_failed(self, error: OSError) -> None:
        """Go on without writing: a disk that refused one write (full, over quota, read-only,
        not ours) would refuse the next ones too. One warning for the whole dataset."""
        self._metrics.add("cache.write_failures")
        self._writable = False
        if self._metrics.claim_warning():
            warnings.warn(
                f"s3torch cache: cannot write to {self.root} ({error.strerror or error}); "
                "objects not cached yet are streamed from S3",
                RuntimeWarning,
                stacklevel=2,
            )
        log.info("s3torch cache: writes to %s stopped: %s", self.root, error)

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class EntryWriter:
    """One entry being written: a temporary file in the entry's directory, renamed over the
    entry by :meth:`commit` once the object's bytes are all there and match the listing."""

    def __init__(self, cache: ObjectCache, row: ObjectRow, path: str) -> None:
        self._cache = cache
        self._row = row
        self._path = path
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        self._temp = os.path.join(
            directory,
            f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}",
        )
        self._file: io.BufferedWriter | None = open(self._temp, "xb")
        self._etag = row.etag.encode("utf-8", "surrogatepass")
        self._name = _identity(row.bucket, row.key)
        self._crc = 0
        self.written = 0
        try:
            self._file.write(_HEAD.pack(_MAGIC, 1, 0, row.size, len(self._etag), len(self._name)))
            self._file.write(self._etag)
            self._file.write(self._name)
        except OSError as error:
            self._fail(error)

    @property
    def active(self) -> bool:
        return self._file is not None

    def write(self, chunk: Any) -> None:
        if self._file is None:
            return
        try:
            self._file.write(chunk)
        except OSError as error:
            self._fail(error)
            return
        self._crc = zlib.crc32(chunk, self._crc)
        self.written += len(memoryview(chunk).cast("B"))

    def commit(self) -> None:
        """Put the entry in place if it holds exactly the listed size; else drop it."""
        if self._file is None:
            return
        if self.written != self._row.size:
            self.abort()
            return
        try:
            self._file.seek(0)
            head = _HEAD.pack(
                _MAGIC, 1, self._crc, self._row.size, len(self._etag), len(self._name)
            )
            self._file.write(head)
            self._file.close()
            self._file = None
            os.replace(self._temp, self._path)
        except OSError as error:
            self._fail(error)

    def abort(self) -> None:
        """Drop the temporary file."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        try:
            os.unlink(self._temp)
        except OSError:
            pass

    def _fail(self, error: OSError) -> None:
        self.abort()
        self._cache.write_failed(error)


class CachedReader(S3Reader):
    """A reader over an object's bytes held in memory: a cache entry, or a fetched object."""

    def __init__(self, bucket: str, key: str, data: bytes | None) -> None:
        self._bucket = bucket
        self._key = key
        self._bytes = data
        self._position = 0

    def _data(self) -> bytes:
        assert self._bytes is not None
        return self._bytes

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        limit = read_limit(size)
        data = self._data()
        end = len(data) if limit is None else min(len(data), self._position + limit)
        start, self._position = self._position, max(end, self._position)
        return data[start:end]

    def readinto(self, buf: Any) -> int:
        self._check_open()
        target = memoryview(buf).cast("B")
        data = self._data()
        count = max(0, min(len(target), len(data) - self._position))
        target[:count] = data[self._position : self._position + count]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        self._check_open()
        self._position = seek_target(self, offset, whence, self._position, self._size_now)
        return self._position

    def _size_now(self) -> int:
        return len(self._data())

    def tell(self) -> int:
        self._check_open()
        return self._position


class FillingReader(CachedReader):
    """A reader of an object the cache keeps but does not hold yet: the whole object is
    fetched (from :meth:`prefetch` on), written to the cache, then read from memory."""

    def __init__(self, row: ObjectRow, open_stream: Callable[[], Any], cache: ObjectCache) -> None:
        super().__init__(row.bucket, row.key, None)
        self._row = row
        self._open_stream = open_stream
        self._cache = cache
        self._stream: Any = None

    def prefetch(self) -> None:
        self._check_open()
        if self._stream is None and self._bytes is None:
            self._stream = self._open_stream()

    def _data(self) -> bytes:
        if self._bytes is None:
            self.prefetch()
            stream, self._stream = self._stream, None
            try:
                self._bytes = b"".join([bytes(chunk) for chunk in stream])
            finally:
                stream.close()
            writer = self._cache.writer(self._row)
            if writer is not None:
                writer.write(self._bytes)
                writer.commit()
        return self._bytes

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        super().close()


class _CachedStream:
    """An object's cached bytes in the shape of a GET stream: one buffer."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __iter__(self) -> Iterator[Any]:
        data, self._data = self._data, None
        if data:
            yield memoryview(data)

    def close(self) -> None:
        self._data = None


class _FillingStream:
    """A GET stream whose buffers are also written to a cache entry as they pass; the entry
    is put in place once the whole object has passed (or dropped if it did not)."""

    def __init__(self, stream: Any, writer: EntryWriter, size: int) -> None:
        self._stream = stream
        self._writer = writer
        self._size = size
        self._failed = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                self._writer.write(chunk)
                yield chunk
        except GeneratorExit:
            raise  # the reader stopped early: close() sees whether the rest is worth reading
        except BaseException:
            self._failed = True
            self._writer.abort()
            raise
        self._writer.commit()

    def close(self) -> None:
        writer = self._writer
        if writer.active and not self._failed:
            try:
                if 0 <= self._size - writer.written <= _DRAIN_LIMIT:
                    for chunk in self._stream:
                        writer.write(chunk)
                    writer.commit()
            except Exception as error:  # the object is served already; only the entry is lost
                log.debug("s3torch cache: the end of an object did not arrive: %s", error)
        writer.abort()
        self._stream.close()


def cache_stream(
    cache: ObjectCache, row: ObjectRow, open_stream: Callable[[], Any], metrics: DatasetMetrics
) -> Any:
    """A GET-stream-like iterable of ``row``'s object for a kept object: its entry's bytes if
    valid, else a GET whose bytes fill the entry as they pass."""
    data = cache.load(row)
    if data is not None:
        metrics.add("cache.hits")
        metrics.add("cache.bytes_from_cache", len(data))
        return _CachedStream(data)
    metrics.add("cache.misses")
    metrics.add("cache.bytes_from_s3", row.size)
    stream = open_stream()
    writer = cache.writer(row)
    return stream if writer is None else _FillingStream(stream, writer, row.size)
