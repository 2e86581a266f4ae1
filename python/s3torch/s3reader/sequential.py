"""The default reader: one streaming GET, with recent bytes kept for short backward seeks."""

from __future__ import annotations

from collections import deque
from typing import Any

from .._buffers import writable_bytes_view
from .._checks import check_int
from .._errors import S3InvalidRangeError
from .protocol import GetStreamCallable, ObjectInfoCallable
from .s3reader import S3Reader, read_limit

__all__ = ["SequentialS3Reader"]

#: Reads at least this large go straight from the stream into their destination (one copy, the
#: GIL released) instead of through the chunks kept for backward seeks.
DIRECT_READ = 256 * 1024
# Offsets from here on cannot exist in S3 (and do not fit a request's 64-bit range).
_MAX_OFFSET = 2**64 - 1

#: Bytes of already-read chunks kept for backward seeks (at least the last chunk is kept).
DEFAULT_HISTORY = 8 * 1024 * 1024

#: A read of at most this many bytes away from the stream is served by a separate ranged GET
#: of at least ``SIDE_SIZE`` bytes (and ``SIDE_BEFORE`` bytes before it), keeping the stream for
#: when the reader comes back.
SIDE_READ = 1024 * 1024
SIDE_SIZE = 64 * 1024
SIDE_BEFORE = 256 * 1024

#: A forward seek up to this far reads through the current stream; a longer one starts a new GET
#: at the target, which costs one round trip instead of transferring the gap.
FORWARD_SKIP = 4 * 1024 * 1024


class SequentialS3Reader(S3Reader):
    """Reads an object through one streaming GET, started on the first read (or
    :meth:`prefetch`).

    Sequential reads run at the speed of the stream: large reads go straight from the CRT's
    buffers into the bytes returned or the caller's buffer. The most recent chunks (at least
    ``history_size`` bytes, by reference, not copied) stay available, so the short backward
    seeks that file parsers make (``PIL.Image.open``, ``tarfile``, ``torch.load``) cost nothing.
    A small read (up to 1 MiB) outside that window or far ahead is served by a separate bounded
    ranged GET, leaving the stream in place: this is how an index stored away from the data (the
    directory at the end of a ``torch.save`` zip) is read without losing the stream. A large read
    there, or reading on past such a side request, moves the stream: a new ranged GET at the
    target. Memory stays bounded however large the object.

    Seeking from the end needs the object's size: from the listing when the reader came from a
    dataset, else from one HEAD request (or from having read to the end).
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        get_object_info: ObjectInfoCallable,
        get_stream: GetStreamCallable,
        *,
        history_size: int = DEFAULT_HISTORY,
    ) -> None:
        self._bind(bucket, key, get_object_info, get_stream)
        self._history_size = check_int("history_size", history_size, minimum=0)
        # The stream, its next object offset, and the chunks kept: contiguous, ending at
        # `_stream_position`, starting at `_kept_start`.
        self._stream: Any = None
        self._stream_done = False
        self._stream_position = 0
        self._chunks: deque[tuple[int, Any]] = deque()
        self._kept_start = 0
        self._kept = 0
        # Bytes fetched by a side request, away from the stream.
        self._side: memoryview = memoryview(b"")
        self._side_start = 0

    # -- the stream ----------------------------------------------------------------------------

    def _restart(self, position: int) -> None:
        """Forget the stream and the kept chunks; the next pull starts a GET at ``position``."""
        if self._stream is not None:
            self._stream.close()
        self._stream = None
        self._stream_done = False
        self._stream_position = position
        self._chunks.clear()
        self._kept_start = position
        self._kept = 0

    def _open_stream(self) -> Any:
        """The stream, sent now if not yet; None once it has ended."""
        if self._stream_done:
            return None
        if self._stream is None:
            start = self._stream_position
            if (self._size is not None and start >= self._size) or start >= _MAX_OFFSET:
                # Past the end (or past any offset S3 can hold): end of file, no request.
                self._stream_done = True
            elif start == 0:
                self._stream = self._get_stream()
            else:
                self._stream = self._get_stream(start, None)
        return self._stream

    def _finish_stream(self) -> None:
        """The stream reached the end of the object: its size is now known."""
        if self._size is None:
            self._size = self._stream_position
        self._stream_done = True

    def _pull(self) -> bool:
        """Append the stream's next chunk to the kept chunks; False at the end of the object."""
        stream = self._open_stream()
        if stream is None:
            return False
        try:
            chunk = next(stream, None)
        except S3InvalidRangeError:
            # A GET that starts at or past the end of the object.
            if self._stream_position == 0:
                raise
            self._stream_done = True
            return False
        if chunk is None:
            self._finish_stream()
            return False
        view = memoryview(chunk)
        self._chunks.append((self._stream_position, view))
        self._stream_position += len(view)
        self._kept += len(view)
        self._trim()
        return True

    def _trim(self) -> None:
        """Drop the oldest chunks the current position has passed, beyond the history kept."""
        chunks = self._chunks
        while len(chunks) > 1:
            start, first = chunks[0]
            end = start + len(first)
            if end > self._position or self._kept - len(first) < self._history_size:
                break
            chunks.popleft()
            self._kept -= len(first)
            self._kept_start = end

    def _seek_into_stream(self) -> bool:
        """Make the byte at the current position available in the kept chunks; False at EOF."""
        position = self._position
        if self._size is not None and position >= self._size:
            return False
        if self._kept_start <= position < self._stream_position:
            return True
        if (
            position < self._kept_start
            or position - self._stream_position > FORWARD_SKIP
            or (self._stream is None and not self._chunks)
        ):
            if not (self._stream is None and self._stream_position == position):
                self._restart(position)
        while self._stream_position <= position:
            if not self._pull():
                return False
        return True

    def _piece(self, limit: int) -> Any:
        """Up to ``limit`` bytes at the current position from the kept chunks or the side
        buffer (no copy), or None at the end of the object. Does not move the position."""
        position = self._position
        side_offset = position - self._side_start
        if 0 <= side_offset < len(self._side) and not self._in_stream_window(position):
            return self._side[side_offset : side_offset + limit]
        if limit <= SIDE_READ and self._away_from_stream(position):
            return self._side_read(limit)
        if not self._seek_into_stream():
            return None
        for start, chunk in reversed(self._chunks):
            if start <= position:
                offset = position - start
                return chunk[offset : offset + limit]
        raise AssertionError("kept chunks do not cover the position")  # pragma: no cover

    def _in_stream_window(self, position: int) -> bool:
        return self._kept_start <= position < self._stream_position

    def _away_from_stream(self, position: int) -> bool:
        """Whether ``position`` is outside what the live stream holds or will reach soon: a
        small read there is served by a side request, leaving the stream where it is."""
        if self._stream is None or self._stream_done:
            return False
        if self._in_stream_window(position):
            return False
        if self._side and position == self._side_start + len(self._side):
            return False  # reading on past a side request: move the stream here instead
        return position < self._kept_start or position - self._stream_position > FORWARD_SKIP

    def _side_read(self, limit: int) -> Any:
        """Fetch the bytes at the position with a bounded ranged GET into the side buffer.

        File formats keep an index away from the data (a zip's directory at its end, which
        ``torch.load`` reads first): reading it this way keeps the main stream, and the bytes it
        has fetched ahead, for when the reader comes back."""
        position = self._position
        # Indexes are often read backwards (a trailer, then the directory before it): fetch a
        # margin before the position too.
        start = max(0, position - SIDE_BEFORE)
        try:
            data = self._get_stream(start, position + max(limit, SIDE_SIZE)).read()
        except S3InvalidRangeError:
            return None  # at or past the end of the object
        self._side = memoryview(data)
        self._side_start = start
        piece = self._side[position - start : position - start + limit]
        return piece if len(piece) else None

    def _direct_ready(self) -> bool:
        """Whether the next bytes can come straight from the stream: the position is where the
        stream is, or nothing has been fetched yet."""
        if self._stream is None and not self._chunks and self._stream_position != self._position:
            self._restart(self._position)
        if self._position != self._stream_position or self._stream_done:
            return False
        if self._size is not None and self._position >= self._size:
            return False
        return self._open_stream() is not None

    def _direct(self, call: Any, argument: Any, wanted: int | None) -> Any:
        """``call(argument)`` on the stream (its ``read`` or ``readinto``), for ``wanted`` bytes
        (None: all), with the bookkeeping of bytes that bypass the kept chunks."""
        try:
            result = call(argument)
        except S3InvalidRangeError:
            # A GET that starts at or past the end of the object: nothing to read.
            if self._stream_position == 0:
                raise
            self._stream_done = True
            return b"" if call == self._stream.read else 0
        count = result if isinstance(result, int) else len(result)
        if count:
            self._stream_position += count
            self._position = self._stream_position
            # The chunks kept no longer end where the stream is: forget them.
            self._chunks.clear()
            self._kept = 0
            self._kept_start = self._stream_position
        if wanted is None or count < wanted:
            self._finish_stream()
        return result

    # -- io.BufferedIOBase -----------------------------------------------------------------------

    def prefetch(self) -> None:
        """Send the GET now (it is otherwise sent on the first read)."""
        self._check_open()
        if self._stream is None and not self._chunks:
            if self._stream_position != self._position:
                self._restart(self._position)
            self._open_stream()

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        limit = read_limit(size)
        if limit == 0:
            return b""
        pieces: list[Any] = []
        remaining = limit
        while remaining is None or remaining > 0:
            if (remaining is None or remaining >= DIRECT_READ) and self._direct_ready():
                data = self._direct(self._stream.read, remaining, remaining)
                if not pieces:
                    return bytes(data)
                pieces.append(data)
                break
            piece = self._piece(remaining if remaining is not None else 1 << 62)
            if piece is None:
                break
            pieces.append(piece)
            self._position += len(piece)
            if remaining is not None:
                remaining -= len(piece)
        self._trim()
        if len(pieces) == 1:
            return bytes(pieces[0])
        return b"".join(pieces)

    def read1(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes with at most one wait on the network."""
        self._check_open()
        limit = read_limit(size)
        if limit == 0:
            return b""
        piece = self._piece(limit if limit is not None else 1 << 62)
        if piece is None:
            return b""
        self._position += len(piece)
        self._trim()
        return bytes(piece)

    def readinto(self, buf: Any) -> int:
        self._check_open()
        target = writable_bytes_view(buf)
        wanted = len(target)
        filled = 0
        while filled < wanted:
            remaining = wanted - filled
            if remaining >= DIRECT_READ and self._direct_ready():
                filled += self._direct(self._stream.readinto, target[filled:], remaining)
                break
            piece = self._piece(remaining)
            if piece is None:
                break
            target[filled : filled + len(piece)] = piece
            filled += len(piece)
            self._position += len(piece)
        self._trim()
        return filled

    def peek(self, size: int = 0) -> bytes:
        """Bytes at the current position without moving it: at least one unless at the end."""
        self._check_open()
        piece = self._piece(max(size, 1) if size > 0 else 64 * 1024)
        return b"" if piece is None else bytes(piece)

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self._trim()
        return line

    def _line_window(self) -> tuple[bytes, int] | None:
        # The kept chunk at the position. Searching needs `bytes`: turn the chunk into bytes
        # once (kept in place), so reading lines costs one copy per chunk.
        if not self._seek_into_stream():
            return None
        for index in range(len(self._chunks) - 1, -1, -1):
            start, chunk = self._chunks[index]
            if start <= self._position:
                break
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
            self._chunks[index] = (start, chunk)
        return chunk, self._position - start

    def _take_from_window(self, data: bytes, offset: int, end: int) -> bytes:
        self._position += end - offset
        return data[offset:end]

    def close(self) -> None:
        if not self.closed:
            if self._stream is not None:
                self._stream.close()
            self._stream = None
            self._chunks.clear()
            self._kept = 0
            self._side = memoryview(b"")
        super().close()
