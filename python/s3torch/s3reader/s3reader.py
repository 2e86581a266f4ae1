"""The abstract file object every S3 reader implements."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._uri import validate_bucket_name, validate_object_key

if TYPE_CHECKING:
    from .protocol import GetStreamCallable, ObjectInfoCallable

__all__ = ["S3Reader"]


class S3Reader(ABC, io.BufferedIOBase):
    """A read-only, seekable binary file over one S3 object.

    Concrete readers (:class:`~s3torch.s3reader.SequentialS3Reader`,
    :class:`~s3torch.s3reader.RangedS3Reader`) are made by an
    :class:`~s3torch.S3ReaderConstructor` and handed out by :meth:`s3torch.S3Client.get_object`,
    :class:`s3torch.S3Checkpoint` and the datasets. They are ``io.BufferedIOBase`` objects, so
    they go anywhere a binary file does: ``torch.load``, ``tarfile``, ``PIL.Image.open``,
    ``zipfile``, ``pickle.load``.
    """

    @property
    def bucket(self) -> str:
        """The bucket of the object."""
        return self._bucket

    @property
    def key(self) -> str:
        """The key of the object."""
        return self._key

    def _bind(
        self,
        bucket: str,
        key: str,
        get_object_info: ObjectInfoCallable,
        get_stream: GetStreamCallable,
    ) -> None:
        """Check and keep what every concrete reader is made from; the size is asked for (from
        ``get_object_info``) only when :meth:`_object_size` first needs it."""
        validate_bucket_name(bucket)
        validate_object_key(key)
        self._bucket = bucket
        self._key = key
        self._get_object_info = get_object_info
        self._get_stream = get_stream
        self._size: int | None = None
        self._position = 0

    def _object_size(self) -> int:
        """The object's size: from the listing when known, else one HEAD request, once."""
        if self._size is None:
            self._size = int(self._get_object_info().size)
        return self._size

    @abstractmethod
    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left when ``size`` is negative or None)."""

    @abstractmethod
    def readinto(self, buf: Any) -> int:
        """Fill ``buf`` (any writable bytes-like object, or a contiguous CPU tensor) from
        the current position; return the count, short only at the end of the object."""

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        """Move to ``offset`` relative to ``whence``; return the new position. Any position is
        allowed (reading past the end returns nothing); ``SEEK_END`` needs the object's size
        (from the listing, else one HEAD request)."""
        self._check_open()
        self._position = seek_target(self, offset, whence, self._position, self._object_size)
        return self._position

    def tell(self) -> int:
        """The current position."""
        self._check_open()
        return self._position

    def prefetch(self) -> None:
        """Start fetching the object now, so a later read waits less. Readers without
        read-ahead ignore it.

        Raises:
            ValueError: the reader is closed.
        """
        self._check_open()

    def read1(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes, with at most one request."""
        return self.read(size)

    def peek(self, size: int = 0) -> bytes:
        """Bytes at the position without moving it: at least one unless at the end."""
        data = self.read(max(size, 8192))
        self.seek(-len(data), io.SEEK_CUR)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """Read to the next newline (included), at most ``size`` bytes."""
        self._check_open()
        limit = read_limit(size)
        pieces: list[bytes] = []
        taken = 0
        while limit is None or taken < limit:
            window = self._line_window()
            if window is None:
                break
            data, offset = window
            stop = len(data) if limit is None else min(len(data), offset + limit - taken)
            newline = data.find(b"\n", offset, stop)
            end = stop if newline < 0 else newline + 1
            pieces.append(self._take_from_window(data, offset, end))
            taken += end - offset
            if newline >= 0:
                break
        return b"".join(pieces)

    def _line_window(self) -> tuple[bytes, int] | None:
        """Bytes from or around the position for :meth:`readline` to search, with the
        position's offset in them; None at the end. Here: a peek, at offset 0."""
        ahead = self.peek(1)
        return (ahead, 0) if ahead else None

    def _take_from_window(self, data: bytes, offset: int, end: int) -> bytes:
        """Move the position past ``data[offset:end]`` of a :meth:`_line_window` and return
        those bytes."""
        return self.read(end - offset)

    def readinto1(self, buf: Any) -> int:
        return self.readinto(buf)

    def readable(self) -> bool:
        self._check_open()
        return True

    def seekable(self) -> bool:
        self._check_open()
        return True

    def writable(self) -> bool:
        self._check_open()
        return False

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed reader of s3://{self.bucket}/{self.key}")

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} s3://{self.bucket}/{self.key}{state}>"


def seek_target(
    reader: S3Reader, offset: int, whence: int, position: int, size: Callable[[], int]
) -> int:
    """The absolute position ``seek(offset, whence)`` asks for; ``size`` is called only for
    ``SEEK_END``. Behaves like ``io.BytesIO``: a negative absolute offset is an error, a
    relative one that would go before the start stops at 0."""
    if not isinstance(offset, int):
        raise TypeError(f"seek offset must be an integer, not {type(offset).__name__}")
    if whence == io.SEEK_SET:
        if offset < 0:
            raise ValueError(
                f"negative seek position {offset} in s3://{reader.bucket}/{reader.key}"
            )
        return offset
    if whence == io.SEEK_CUR:
        return max(0, position + offset)
    if whence == io.SEEK_END:
        return max(0, size() + offset)
    raise ValueError(
        f"invalid whence ({whence!r}, should be {io.SEEK_SET}, {io.SEEK_CUR} or {io.SEEK_END})"
    )


def read_limit(size: Any) -> int | None:
    """``read``'s argument as a byte count, or None for "all"."""
    if size is None:
        return None
    if not isinstance(size, int):
        raise TypeError(f"read size must be an integer or None, not {type(size).__name__}")
    return None if size < 0 else size
