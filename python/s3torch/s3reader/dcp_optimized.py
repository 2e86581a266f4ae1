"""A reader for distributed-checkpoint loads: it fetches only the byte ranges the load plan needs.

``torch.distributed.checkpoint`` stores each rank's tensors as consecutive blobs in ``.distcp``
files, and its metadata says where every blob starts and how long it is. A load rarely needs
every blob of every file (a rank loads its own shards; a partial load skips whole tensors), and
it reads the blobs it needs in file order once :class:`s3torch.dcp.S3StorageReader` has sorted
the plan. :class:`DCPOptimizedS3Reader` turns that into as few GETs as possible: ranges whose gap
is at most ``max_gap_size`` share one ranged GET (the gap is read and dropped, which is cheaper
than a new request's first-byte latency), larger gaps start a new one. Each blob is held in
memory only while it is read: ``torch.load`` jumps around inside a blob (its zip directory is at
the end), so one blob at a time is kept, never the whole file.

The planning (ranges, their grouping, checkpoint paths) is in ``_dcp_plan.py``; the three of its
names that s3torchconnector's module of this name also has are importable from here too. What
stays is the reader and the constructor that hands each file of a plan its reader: one concern,
at a little over 400 lines, because the reader must serve ``torch.load``'s seeks inside a blob
as well as the plan's forward walk from blob to blob.
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._buffers import writable_bytes_view
from .._checks import check_int

# DEFAULT_MAX_GAP_SIZE, ItemRange and RangeGroup are also names of this module in
# s3torchconnector (`from s3torchconnector.s3reader.dcp_optimized import ItemRange`): kept here
# for a drop-in import, owned by `_dcp_plan`.
from ._dcp_plan import DEFAULT_MAX_GAP_SIZE as DEFAULT_MAX_GAP_SIZE
from ._dcp_plan import GapSize, _check_gap_size, _object_uri, coalesce_ranges, join_path
from ._dcp_plan import ItemRange as ItemRange
from ._dcp_plan import RangeGroup as RangeGroup
from .protocol import GetStreamCallable, ObjectInfoCallable
from .s3reader import S3Reader, read_limit
from .sequential import SequentialS3Reader

if TYPE_CHECKING:
    from .._core import GetObjectStream

__all__ = [
    "DEFAULT_MAX_GAP_SIZE",
    "DCPOptimizedConstructor",
    "DCPOptimizedS3Reader",
    "ItemRange",
    "RangeGroup",
]

log = logging.getLogger(__name__)

#: Blobs up to this size are kept as the CRT's own buffers (no copy); larger ones are copied into
#: memory of their own, because the CRT's buffer pool is limited and holding too much of it would
#: stop the CRT from fetching the rest. Matches what one native ``read`` holds at most.
ZERO_COPY_LIMIT = 64 * 1024 * 1024

_GUIDANCE = (
    "The DCP-optimized reader serves only the byte ranges of the load plan, front to back. For "
    "other access patterns use S3StorageReader(..., "
    "reader_constructor=S3ReaderConstructor.sequential())."
)


class _Blob:
    """The bytes of one range, as a list of buffers (the CRT's, or one of our own)."""

    __slots__ = ("_offsets", "_pieces", "end", "start")

    def __init__(self, start: int, pieces: list[memoryview]) -> None:
        self.start = start
        self._pieces = pieces
        self._offsets: list[int] = []
        offset = start
        for piece in pieces:
            self._offsets.append(offset)
            offset += len(piece)
        self.end = offset

    def copy_into(self, position: int, target: memoryview) -> int:
        """Copy the bytes at object offset ``position`` into ``target``; return the count."""
        index = bisect.bisect_right(self._offsets, position) - 1
        filled = 0
        while filled < len(target) and index < len(self._pieces):
            piece = self._pieces[index]
            offset = position - self._offsets[index]
            count = min(len(piece) - offset, len(target) - filled)
            target[filled : filled + count] = piece[offset : offset + count]
            filled += count
            position += count
            index += 1
        return filled

    def take(self, position: int, size: int) -> bytes:
        """Up to ``size`` bytes at object offset ``position``."""
        index = bisect.bisect_right(self._offsets, position) - 1
        piece = self._pieces[index]
        offset = position - self._offsets[index]
        if offset + size <= len(piece):
            return bytes(piece[offset : offset + size])
        out = bytearray(min(size, self.end - position))
        self.copy_into(position, memoryview(out))
        return bytes(out)


def _owned_buffer(size: int) -> memoryview:
    """``size`` writable bytes; uninitialised when torch is loaded (it always is under DCP)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return memoryview(torch.empty(size, dtype=torch.uint8).numpy())
    return memoryview(bytearray(size))


class DCPOptimizedS3Reader(S3Reader):
    """Reads the byte ranges of a ``torch.distributed.checkpoint`` load plan from one object.

    Made by :meth:`s3torch.S3ReaderConstructor.dcp_optimized` for the ``.distcp`` files of a
    load through :class:`s3torch.dcp.S3StorageReader`, which hands it the ranges; you rarely
    build one yourself.

    Ranges are fetched with ranged GETs, neighbours at most ``max_gap_size`` apart sharing one
    (see :func:`coalesce_ranges`). The reader keeps the range being read in memory, so reads and
    seeks anywhere inside it are free, and moves forward from range to range; a read that starts
    outside every range, or in a range before the current one, raises ``ValueError``. A read that
    runs past the end of a range continues into the next one when they touch, and is short
    otherwise.

    Args:
        bucket: the object's bucket.
        key: the object's key.
        item_ranges: the ``[start, end)`` byte ranges that will be read.
        get_object_info: the object's metadata; used only by ``seek(..., SEEK_END)``.
        get_stream: starts a ranged GET (see :class:`~s3torch.s3reader.GetStreamCallable`).
        max_gap_size: the largest gap (bytes) read through rather than starting a new GET;
            ``float("inf")`` reads every range with one GET, ``0`` only joins touching ranges.
        zero_copy_limit: ranges up to this many bytes are kept in the buffers the data arrived
            in; larger ones are copied once into memory of their own.

    Raises:
        ValueError: empty bucket or key, no non-empty range, an invalid range, a negative
            ``max_gap_size`` or ``zero_copy_limit``.
        TypeError: ``max_gap_size`` is not a number.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        item_ranges: Sequence[ItemRange],
        get_object_info: ObjectInfoCallable,
        get_stream: GetStreamCallable,
        max_gap_size: GapSize = DEFAULT_MAX_GAP_SIZE,
        *,
        zero_copy_limit: int = ZERO_COPY_LIMIT,
    ) -> None:
        self._bind(bucket, key, get_object_info, get_stream)
        self._zero_copy_limit = check_int("zero_copy_limit", zero_copy_limit, minimum=0)
        self._groups = coalesce_ranges(item_ranges, max_gap_size)
        if not self._groups:
            raise ValueError(f"no non-empty byte range to read from s3://{bucket}/{key}")
        self._spans: list[ItemRange] = []
        self._span_group: list[int] = []
        for index, group in enumerate(self._groups):
            self._spans.extend(group.item_ranges)
            self._span_group.extend([index] * len(group.item_ranges))
        self._span_starts = [span.start for span in self._spans]
        # The range being read, and which of `_spans` it is (-1: none yet).
        self._blob: _Blob | None = None
        self._span_index = -1
        # The GET of the current group; `_next` is the object offset of its next unconsumed
        # byte, and `_pending` the unconsumed tail of the last chunk taken from it.
        self._stream: GetObjectStream | None = None
        self._stream_group = -1
        self._next = 0
        self._pending: memoryview | None = None

    @property
    def range_groups(self) -> list[RangeGroup]:
        """The GETs this reader sends (or has sent), in order."""
        return self._groups

    # -- fetching ------------------------------------------------------------------------------

    def _uri(self) -> str:
        return f"s3://{self._bucket}/{self._key}"

    def _next_chunk(self, goal: int) -> memoryview:
        """The unconsumed bytes at ``_next``: the pending tail, else the stream's next chunk."""
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            return chunk
        assert self._stream is not None
        data = next(self._stream, None)
        if data is None:
            raise EOFError(
                f"{self._uri()} ended at byte {self._next}, before byte {goal} the load plan "
                f"needs: the object is shorter than the checkpoint metadata says"
            )
        view = memoryview(data)
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")

    def _skip_to(self, target: int) -> None:
        """Consume the stream up to object offset ``target`` (a gap between ranges)."""
        while self._next < target:
            chunk = self._next_chunk(target)
            gap = target - self._next
            if len(chunk) > gap:
                self._pending = chunk[gap:]
                self._next = target
            else:
                self._next += len(chunk)

    def _take(self, size: int) -> list[memoryview]:
        """The next ``size`` bytes of the stream, in the buffers they arrived in."""
        pieces: list[memoryview] = []
        goal = self._next + size
        while self._next < goal:
            chunk = self._next_chunk(goal)
            need = goal - self._next
            if len(chunk) > need:
                self._pending = chunk[need:]
                chunk = chunk[:need]
            pieces.append(chunk)
            self._next += len(chunk)
        return pieces

    def _copy(self, size: int) -> memoryview:
        """The next ``size`` bytes of the stream, copied into one buffer of our own."""
        out = _owned_buffer(size)
        filled = 0
        if self._pending is not None:
            filled = min(len(self._pending), size)
            out[:filled] = self._pending[:filled]
            rest = self._pending[filled:]
            self._pending = rest if len(rest) else None
        if filled < size:
            assert self._stream is not None
            filled += self._stream.readinto(out[filled:])
        if filled < size:
            raise EOFError(
                f"{self._uri()} ended at byte {self._next + filled}, before byte "
                f"{self._next + size} the load plan needs: the object is shorter than the "
                f"checkpoint metadata says"
            )
        self._next += size
        return out

    def _load(self, index: int) -> _Blob:
        """Fetch range ``index`` of ``_spans`` (dropping the current one) and make it current."""
        self._blob = None
        span = self._spans[index]
        group_index = self._span_group[index]
        if group_index != self._stream_group:
            self._close_stream()
            group = self._groups[group_index]
            self._stream = self._get_stream(group.start, group.end)
            self._stream_group = group_index
            self._next = group.start
        self._skip_to(span.start)
        size = span.end - span.start
        if size <= self._zero_copy_limit:
            pieces = self._take(size)
        else:
            pieces = [self._copy(size)]
        self._blob = _Blob(span.start, pieces)
        self._span_index = index
        return self._blob

    def _blob_at(self, position: int, required: bool) -> _Blob | None:
        """The range holding ``position``, fetched if needed. None when no range holds it and
        ``required`` is false; ``ValueError`` when it is true, or for an earlier range."""
        blob = self._blob
        if blob is not None and blob.start <= position < blob.end:
            return blob
        index = bisect.bisect_right(self._span_starts, position) - 1
        inside = index >= 0 and position < self._spans[index].end
        if inside and index < self._span_index:
            raise ValueError(
                f"cannot go back to byte {position} of {self._uri()}: its range "
                f"{self._spans[index].start}-{self._spans[index].end} was already read and "
                f"released. {_GUIDANCE}"
            )
        if not inside:
            if not required:
                return None
            raise ValueError(
                f"byte {position} of {self._uri()} is outside the byte ranges of the load plan. "
                f"{_GUIDANCE}"
            )
        return self._load(index)

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None
        self._stream_group = -1
        self._pending = None

    # -- io.BufferedIOBase ---------------------------------------------------------------------

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes from the current position.

        Raises:
            ValueError: ``size`` is None or negative (this reader cannot read a whole object);
                the position is outside the planned ranges or in a range already passed.
            S3Exception: the GET failed.
        """
        self._check_open()
        limit = read_limit(size)
        if limit is None:
            raise ValueError(f"read() of all of {self._uri()} is not supported. {_GUIDANCE}")
        pieces: list[bytes] = []
        while limit > 0:
            blob = self._blob_at(self._position, required=not pieces)
            if blob is None:
                break
            data = blob.take(self._position, limit)
            pieces.append(data)
            self._position += len(data)
            limit -= len(data)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read1(self, size: int | None = -1) -> bytes:
        return self.read(size)

    def readinto(self, buf: Any) -> int:
        """Fill ``buf`` from the current position; return the count (short only where the
        planned ranges stop).

        Raises:
            ValueError: the position is outside the planned ranges or in a range already passed.
            S3Exception: the GET failed.
        """
        self._check_open()
        target = writable_bytes_view(buf)
        filled = 0
        while filled < len(target):
            blob = self._blob_at(self._position, required=filled == 0)
            if blob is None:
                break
            count = blob.copy_into(self._position, target[filled:])
            filled += count
            self._position += count
        return filled

    def close(self) -> None:
        if not self.closed:
            self._close_stream()
            self._blob = None
        super().close()


# -- the constructor ---------------------------------------------------------------------------


class DCPOptimizedConstructor:
    """Makes :class:`DCPOptimizedS3Reader`s for the files of a load plan, and
    :class:`~s3torch.s3reader.SequentialS3Reader`s for everything else (``.metadata``).

    Made by :meth:`s3torch.S3ReaderConstructor.dcp_optimized`; :class:`s3torch.dcp.S3StorageReader`
    calls :meth:`set_item_ranges_by_file` with each plan before its files are read.
    """

    def __init__(self, max_gap_size: GapSize = DEFAULT_MAX_GAP_SIZE) -> None:
        self._max_gap_size = _check_gap_size(max_gap_size)
        self._item_ranges_by_file: dict[str, list[ItemRange]] = {}

    @property
    def max_gap_size(self) -> GapSize:
        """The largest gap between ranges read through by one GET."""
        return self._max_gap_size

    def set_item_ranges_by_file(
        self,
        plan_items: Sequence[Any],
        storage_data: Mapping[Any, Any],
        base_path: str | os.PathLike[str],
    ) -> None:
        """Remember which byte ranges of which files the plan reads, replacing earlier plans.

        Args:
            plan_items: the plan's ``ReadItem``s.
            storage_data: the checkpoint metadata's ``storage_data``: for each item's
                ``storage_index``, its file (``relative_path``), ``offset`` and ``length``.
            base_path: the checkpoint's ``s3://`` path.

        Raises:
            KeyError: an item's ``storage_index`` is not in ``storage_data``.
        """
        ranges: dict[str, list[ItemRange]] = {}
        for item in plan_items:
            info = storage_data[item.storage_index]
            uri = _object_uri(join_path(base_path, info.relative_path))
            ranges.setdefault(uri, []).append(ItemRange(info.offset, info.offset + info.length))
        self._item_ranges_by_file = ranges
        log.debug("load plan reads %d items from %d files", len(plan_items), len(ranges))

    def __call__(
        self,
        bucket: str,
        key: str,
        get_object_info: ObjectInfoCallable,
        get_stream: GetStreamCallable,
    ) -> S3Reader:
        ranges = self._item_ranges_by_file.get(f"s3://{bucket}/{key}")
        if not ranges or not any(r.end > r.start for r in ranges):
            # `.metadata`, or a file outside the current plan: read it like any other file.
            return SequentialS3Reader(bucket, key, get_object_info, get_stream)
        return DCPOptimizedS3Reader(
            bucket,
            key,
            ranges,
            get_object_info,
            get_stream,
            max_gap_size=self._max_gap_size,
        )

    def __repr__(self) -> str:
        return f"DCPOptimizedConstructor(max_gap_size={self._max_gap_size!r})"
