"""A reader for random access: each read is a ranged GET of just the bytes it needs."""

from __future__ import annotations

from typing import Any

from .._buffers import writable_bytes_view
from .._checks import check_int
from .protocol import GetStreamCallable, ObjectInfoCallable
from .s3reader import S3Reader, read_limit

__all__ = ["RangedS3Reader"]

DEFAULT_BUFFER_SIZE = 8 * 1024 * 1024
PEEK_SIZE = 64 * 1024


class RangedS3Reader(S3Reader):
    """Reads an object with a ranged GET per read, for sparse access into large objects.

    A read smaller than ``buffer_size`` fetches ``buffer_size`` bytes from the position into an
    internal buffer, so runs of small nearby reads cost one request; a larger read goes straight
    from S3 into the result (or the caller's buffer with :meth:`readinto`), and a read that starts
    inside the buffer uses the buffered part first. ``buffer_size=0`` turns the buffer off.

    The reader needs the object's size (to know where it ends): from the listing when it came
    from a dataset, else from one HEAD request before the first read.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        get_object_info: ObjectInfoCallable,
        get_stream: GetStreamCallable,
        buffer_size: int | None = None,
    ) -> None:
        self._bind(bucket, key, get_object_info, get_stream)
        if buffer_size is None:
            buffer_size = DEFAULT_BUFFER_SIZE
        self._buffer_size = check_int("buffer_size", buffer_size, minimum=0)
        self._buffer: memoryview = memoryview(b"")
        self._buffer_start = 0

    def _span(self, limit: int | None) -> tuple[int, int]:
        """The object range ``[start, end)`` a read of ``limit`` bytes covers."""
        size = self._object_size()
        start = min(self._position, size)
        end = size if limit is None else min(size, start + limit)
        return start, end

    def _buffered(self, start: int, end: int) -> memoryview:
        """The buffered bytes at ``start`` (up to ``end``), possibly none."""
        offset = start - self._buffer_start
        if 0 <= offset < len(self._buffer):
            return self._buffer[offset : offset + (end - start)]
        return memoryview(b"")

    def _refill(self, start: int, length: int | None = None) -> None:
        end = min(self._object_size(), start + (length or self._buffer_size))
        self._buffer = memoryview(self._get_stream(start, end).read())
        self._buffer_start = start

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        start, end = self._span(read_limit(size))
        pieces: list[Any] = []
        position = start
        while position < end:
            piece: Any = self._buffered(position, end)
            if not piece and end - position < self._buffer_size:
                self._refill(position)
                piece = self._buffered(position, end)
            if not piece:
                piece = self._get_stream(position, end).read()
            if not piece:
                break  # the object is shorter than it was: stop at its new end
            pieces.append(piece)
            position += len(piece)
        self._position = position if position > start else self._position
        if len(pieces) == 1:
            return bytes(pieces[0])
        return b"".join(pieces)

    def peek(self, size: int = 0) -> bytes:
        """Buffered bytes at the position, without moving it (``readline`` reads through it)."""
        self._check_open()
        start, end = self._span(None)
        if start >= end:
            return b""
        piece = self._buffered(start, end)
        if not piece:
            # Unbuffered readers still buffer what they peek at, or reading lines would cost a
            # request per line.
            self._refill(start, self._buffer_size or PEEK_SIZE)
            piece = self._buffered(start, end)
        return bytes(piece[: max(size, PEEK_SIZE)])

    def readinto(self, buf: Any) -> int:
        self._check_open()
        target = writable_bytes_view(buf)
        start, end = self._span(len(target))
        position = start
        while position < end:
            filled = position - start
            piece = self._buffered(position, end)
            if not piece and end - position < self._buffer_size:
                self._refill(position)
                piece = self._buffered(position, end)
            if piece:
                target[filled : filled + len(piece)] = piece
                count = len(piece)
            else:
                count = self._get_stream(position, end).readinto(target[filled : end - start])
            if not count:
                break
            position += count
        count = position - start
        if count:
            self._position = position
        return count

    def close(self) -> None:
        self._buffer = memoryview(b"")
        super().close()
