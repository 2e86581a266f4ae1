"""The listed object table: every object of a dataset in a few compact buffers.

The keys sit in one ``bytes`` blob and the numbers in ``array``s, so that forked DataLoader
workers do not copy the listing page by page as they touch reference counts. Workers started by
``spawn`` or ``forkserver`` do not get a copy at all: when a table of at least
:data:`SHARE_AT_BYTES` is pickled to start a process, its buffers are written once to a file in
``/dev/shm`` (or the temporary directory) and the process maps that file read-only, so every
worker of a rank reads the same pages. An S3 ETag (a quoted MD5 in hex, with ``-parts`` for
multipart uploads) is kept as its 16 bytes, so a row costs about 53 bytes beside its key text.

The module runs past 400 lines because the table, the builder that fills it as a listing
arrives and the listing pages' columns share one layout (blobs of UTF-8 with their ends), which
is clearer in one place than split across modules that would import each other.
"""

from __future__ import annotations

import itertools
import mmap
import multiprocessing.context
import os
import re
import tempfile
import weakref
from array import array
from collections.abc import Iterable
from typing import Any, NamedTuple

from .._core import ObjectInfo

__all__ = [
    "SHARE_AT_BYTES",
    "UNKNOWN_SIZE",
    "ObjectRow",
    "ObjectTable",
    "PageColumns",
    "TableBuilder",
]

SHARE_AT_BYTES = 1 << 20
"""Tables at least this large are shared with spawned processes through a mapped file; smaller
ones are copied, which costs less than a file."""

UNKNOWN_SIZE = -1
"""The size of an object named by URI rather than listed."""


_MD5_ETAG = re.compile(r'"([0-9a-f]{32})(-[0-9]+)?"')


def pack_etag(etag: str) -> bytes:
    """An ETag in few bytes: ``1`` + the MD5's 16 bytes + the parts suffix, or ``0`` + the
    text as it is (an empty ETag stays empty)."""
    match = _MD5_ETAG.fullmatch(etag)
    if match is not None:
        return b"\x01" + bytes.fromhex(match[1]) + (match[2] or "").encode("ascii")
    return b"\x00" + etag.encode("utf-8", "surrogatepass") if etag else b""


def unpack_etag(packed: Any) -> str:
    """The ETag :func:`pack_etag` packed (from any bytes-like object)."""
    if not packed:
        return ""
    if packed[0] == 1:
        return f'"{packed[1:17].hex()}{str(packed[17:], "ascii")}"'
    return str(packed[1:], "utf-8", "surrogatepass")


class ObjectRow(NamedTuple):
    """One listed (or named) object."""

    bucket: str
    key: str
    size: int  # UNKNOWN_SIZE when not listed
    etag: str
    last_modified: int

    def object_info(self) -> ObjectInfo | None:
        """The listing's :class:`ObjectInfo`, or None when the object was named, not listed."""
        if self.size == UNKNOWN_SIZE:
            return None
        return ObjectInfo(self.key, self.etag, self.size, self.last_modified)


class TableBuilder:
    """Collects rows as a listing arrives, then packs them into an :class:`ObjectTable`.

    It holds the rows as the table will: the keys' and packed ETags' bytes one after another,
    with where each ends, so that a listing of a million keys does not hold two million small
    ``bytes`` objects (about 110 bytes a key) before they are joined.
    """

    def __init__(self) -> None:
        self._bucket_index: dict[str, int] = {}
        self._buckets: list[str] = []
        self._bucket_ids = array("I")
        self._keys = bytearray()
        self._key_ends = array("q")
        self._etags = bytearray()
        self._etag_ends = array("q")
        self._sizes = array("q")
        self._modified = array("q")

    def _bucket_id(self, bucket: str) -> int:
        index = self._bucket_index.get(bucket)
        if index is None:
            index = self._bucket_index[bucket] = len(self._buckets)
            self._buckets.append(bucket)
        return index

    def add(self, row: ObjectRow) -> None:
        self._bucket_ids.append(self._bucket_id(row.bucket))
        self._keys += row.key.encode("utf-8", "surrogatepass")
        self._key_ends.append(len(self._keys))
        self._etags += pack_etag(row.etag)
        self._etag_ends.append(len(self._etags))
        self._sizes.append(row.size)
        self._modified.append(row.last_modified)

    def add_columns(self, bucket: str, page: PageColumns, chosen: range | list[int]) -> None:
        """Add the objects ``chosen`` (indices, ascending) of a listing page (all in
        ``bucket``)."""
        if not chosen:
            return
        self._bucket_ids.extend(itertools.repeat(self._bucket_id(bucket), len(chosen)))
        if isinstance(chosen, range) or chosen[-1] - chosen[0] == len(chosen) - 1:
            start, stop = chosen[0], chosen[-1] + 1  # a run: copied as slices
            for blob, ends, into, into_ends in (
                (page.keys, page.key_ends, self._keys, self._key_ends),
                (page.etags, page.etag_ends, self._etags, self._etag_ends),
            ):
                first = ends[start - 1] if start else 0
                shift = len(into) - first
                into += blob[first : ends[stop - 1]]
                into_ends.extend(
                    [end + shift for end in ends[start:stop]] if shift else ends[start:stop]
                )
            self._sizes.extend(page.sizes[start:stop])
            self._modified.extend(page.modified[start:stop])
            return
        for i in chosen:
            self._keys += page.key_bytes(i)
            self._key_ends.append(len(self._keys))
            self._etags += _section(page.etags, page.etag_ends, i)
            self._etag_ends.append(len(self._etags))
            self._sizes.append(page.sizes[i])
            self._modified.append(page.modified[i])

    def __len__(self) -> int:
        return len(self._sizes)

    def row(self, i: int) -> ObjectRow:
        """Row ``i`` of those added so far."""
        return ObjectRow(
            self._buckets[self._bucket_ids[i]],
            _slice(self._keys, self._key_ends, i),
            self._sizes[i],
            unpack_etag(_section(self._etags, self._etag_ends, i)),
            self._modified[i],
        )

    def finish(self) -> ObjectTable:
        return TableBuilder.joined([self])

    @staticmethod
    def joined(builders: list[TableBuilder]) -> ObjectTable:
        """One table of the rows of ``builders``, in order."""
        buckets: list[str] = []
        index: dict[str, int] = {}
        bucket_ids = array("I")
        for builder in builders:
            remap = []
            for bucket in builder._buckets:
                if bucket not in index:
                    index[bucket] = len(buckets)
                    buckets.append(bucket)
                remap.append(index[bucket])
            if remap == list(range(len(remap))):
                bucket_ids.extend(builder._bucket_ids)
            else:
                bucket_ids.extend(remap[i] for i in builder._bucket_ids)
        sizes, modified = array("q"), array("q")
        for builder in builders:
            sizes.extend(builder._sizes)
            modified.extend(builder._modified)
        keys, key_ends = _join([(b._keys, b._key_ends) for b in builders])
        etags, etag_ends = _join([(b._etags, b._etag_ends) for b in builders])
        return ObjectTable._packed(
            buckets, bucket_ids, keys, key_ends, etags, etag_ends, sizes, modified
        )


class PageColumns(NamedTuple):
    """A listing page as :meth:`ListObjectResult.columns` gives it, its ends counted from the
    page's start."""

    keys: bytes
    key_ends: array[int]
    etags: bytes
    etag_ends: array[int]
    sizes: array[int]
    modified: array[int]

    @classmethod
    def of_page(cls, page: Any) -> PageColumns:
        """The columns of a listing page: its own (:meth:`ListObjectResult.columns`), or made
        from its ``object_info`` for a page without them."""
        columns = getattr(page, "columns", None)
        if columns is None:
            return cls.of_infos(page.object_info)
        keys, key_ends, etags, etag_ends, sizes, modified = columns()
        return cls(keys, _ints(key_ends), etags, _ints(etag_ends), _ints(sizes), _ints(modified))

    @classmethod
    def of_infos(cls, infos: Iterable[ObjectInfo]) -> PageColumns:
        keys, etags = bytearray(), bytearray()
        key_ends, etag_ends, sizes, modified = array("q"), array("q"), array("q"), array("q")
        for info in infos:
            keys += info.key.encode("utf-8", "surrogatepass")
            key_ends.append(len(keys))
            etags += pack_etag(info.etag)
            etag_ends.append(len(etags))
            sizes.append(info.size)
            modified.append(info.last_modified)
        return cls(bytes(keys), key_ends, bytes(etags), etag_ends, sizes, modified)

    def key_list(self) -> list[bytes]:
        """Every key, UTF-8."""
        keys, ends = self.keys, self.key_ends
        return [keys[start:end] for start, end in zip(itertools.chain((0,), ends), ends)]

    def key_bytes(self, i: int) -> bytes:
        return bytes(_section(self.keys, self.key_ends, i))

    def key(self, i: int) -> str:
        return str(self.key_bytes(i), "utf-8", "surrogatepass")


def _ints(data: bytes) -> array[int]:
    column = array("q")
    column.frombytes(data)
    return column


def _join(parts: list[tuple[bytearray, array[int]]]) -> tuple[bytes, array[int]]:
    """One blob of the builders' blobs, with its ends counted from its start."""
    ends = array("q")
    shift = 0
    for blob, blob_ends in parts:
        if shift:
            ends.extend([end + shift for end in blob_ends])
        else:
            ends.extend(blob_ends)
        shift += len(blob)
    return b"".join(blob for blob, _ in parts), ends


class ObjectTable:
    """A compact, picklable list of objects: bucket, key, size, ETag and last-modified time.

    Sizes are :data:`UNKNOWN_SIZE` where unknown (objects named by URI, not listed).
    """

    __slots__ = (
        "__weakref__",
        "_bucket_ids",
        "_buckets",
        "_etag_ends",
        "_etags",
        "_key_ends",
        "_keys",
        "_modified",
        "_shared",
        "_sizes",
    )
    _buckets: list[str]
    _bucket_ids: array[int]
    _keys: bytes
    _key_ends: array[int]
    _etags: bytes
    _etag_ends: array[int]
    _sizes: array[int]
    _modified: array[int]
    _shared: tuple[str, list[tuple[int, int, str | None]]] | None

    def __init__(self) -> None:
        self.__setstate__(
            ([], array("I"), b"", array("q"), b"", array("q"), array("q"), array("q"))
        )

    @classmethod
    def _packed(cls, *state: Any) -> ObjectTable:
        table = cls.__new__(cls)
        table.__setstate__(state)
        return table

    @classmethod
    def build(cls, rows: Iterable[ObjectRow]) -> ObjectTable:
        """Build a table from rows."""
        builder = TableBuilder()
        for row in rows:
            builder.add(row)
        return builder.finish()

    def __len__(self) -> int:
        return len(self._sizes)

    def bucket(self, i: int) -> str:
        return self._buckets[self._bucket_ids[i]]

    def key(self, i: int) -> str:
        return _slice(self._keys, self._key_ends, i)

    def size(self, i: int) -> int:
        """The listed size in bytes, or :data:`UNKNOWN_SIZE`."""
        return self._sizes[i]

    def object_info(self, i: int) -> ObjectInfo | None:
        """The listing's :class:`ObjectInfo` for entry ``i`` (None when it was not listed).

        ``storage_class`` and ``restore_status`` are not kept.
        """
        size = self._sizes[i]
        if size == UNKNOWN_SIZE:
            return None
        return ObjectInfo(self.key(i), self._etag(i), size, self._modified[i])

    def row(self, i: int) -> ObjectRow:
        return ObjectRow(
            self.bucket(i), self.key(i), self._sizes[i], self._etag(i), self._modified[i]
        )

    def _etag(self, i: int) -> str:
        return unpack_etag(_section(self._etags, self._etag_ends, i))

    def nbytes(self) -> int:
        """The bytes the table's buffers hold (keys included)."""
        import sys

        return sum(sys.getsizeof(part) for part in self.__getstate__()[1:]) + sum(
            sys.getsizeof(b) for b in self._buckets
        )

    def key_bytes(self) -> int:
        """The bytes of the key text alone."""
        return len(self._keys)

    def uri(self, i: int) -> str:
        return f"s3://{self.bucket(i)}/{self.key(i)}"

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _STATE)

    def __reduce_ex__(self, protocol: Any) -> Any:
        if multiprocessing.context.get_spawning_popen() is not None:
            shared = self._share()
            if shared is not None:
                return _attach, (self._buckets, *shared)
        return super().__reduce_ex__(protocol)

    def _share(self) -> tuple[str, list[tuple[int, int, str | None]]] | None:
        """The file holding this table's buffers, written on first need (None: too small to
        be worth one, or it could not be written: the table is then copied)."""
        if self._shared is None:
            sections = self.__getstate__()[1:]
            if sum(memoryview(part).nbytes for part in sections) < SHARE_AT_BYTES:
                return None
            try:
                self._shared = _write_shared(sections)
            except OSError:
                return None
            weakref.finalize(self, unlink_owned, self._shared[0], os.getpid())
        return self._shared

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._shared = None
        if len(state) != len(_STATE):
            raise ValueError(f"an ObjectTable state has {len(_STATE)} parts, not {len(state)}")
        for name, part in zip(_STATE, state):
            setattr(self, name, part)


# What a table's state is made of, in order: the buckets, then its buffers (as the manifest
# and the shared file store them).
_STATE = (
    "_buckets",
    "_bucket_ids",
    "_keys",
    "_key_ends",
    "_etags",
    "_etag_ends",
    "_sizes",
    "_modified",
)


def _section(blob: Any, ends: array[int], i: int) -> Any:
    return blob[ends[i - 1] if i > 0 else 0 : ends[i]]


def _slice(blob: Any, ends: array[int], i: int) -> str:
    # str(), not .decode(): the blob may be a memoryview of a shared file.
    return str(_section(blob, ends, i), "utf-8", "surrogatepass")


def shared_dir() -> str:
    """Where files that processes map together go: ``/dev/shm`` if writable, else the
    temporary directory."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()


def _write_shared(sections: Any) -> tuple[str, list[tuple[int, int, str | None]]]:
    """Write the buffers one after the other (each at a multiple of 8, so that its view can be
    cast back to its item type) and say where each is."""
    fd, path = tempfile.mkstemp(prefix="s3torch-table-", dir=shared_dir())
    layout: list[tuple[int, int, str | None]] = []
    try:
        with os.fdopen(fd, "wb") as f:
            offset = 0
            for part in sections:
                view = memoryview(part).cast("B")
                code: str | None = None
                if isinstance(part, array):
                    code = part.typecode
                elif isinstance(part, memoryview) and part.format != "B":
                    code = part.format
                f.write(view)
                f.write(bytes(-view.nbytes % 8))
                layout.append((offset, view.nbytes, code))
                offset += view.nbytes + (-view.nbytes % 8)
    except BaseException:
        unlink_owned(path, os.getpid())
        raise
    return path, layout


def _attach(
    buckets: list[str], path: str, layout: list[tuple[int, int, str | None]]
) -> ObjectTable:
    """The table whose buffers :func:`_write_shared` wrote to ``path``, mapped read-only."""
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    parts: list[Any] = []
    for start, length, code in layout:
        part = view[start : start + length]
        parts.append(part if code is None else part.cast(code))  # type: ignore[call-overload]
    return ObjectTable._packed(buckets, *parts)


def unlink_owned(path: str, owner: int) -> None:
    """Remove ``path`` if this is process ``owner`` (not a forked child), ignoring errors."""
    if os.getpid() == owner:
        try:
            os.unlink(path)
        except OSError:
            pass
