"""The file objects of :class:`~s3torch.fsspec.S3TorchFileSystem` and how ``open`` makes them:
one open for reading (ranged GETs under fsspec's caches), one open for writing (a streaming
upload that is aborted when the code writing it fails)."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile  # type: ignore[import-untyped]

from ..s3writer import S3Writer
from ._paths import join

if TYPE_CHECKING:
    from ._filesystem import S3TorchFileSystem

# The package's logger: the name users filter on did not change when the module was split.
log = logging.getLogger("s3torch.fsspec")


class S3TorchReadFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of :class:`S3TorchFileSystem` open for reading: seekable, with fsspec's caches
    (read-ahead by default) over ranged GETs. Made by ``fs.open(path, "rb")``."""

    def __init__(
        self,
        fs: S3TorchFileSystem,
        path: str,
        *,
        block_size: int,
        cache_type: str,
        cache_options: dict[str, Any] | None,
        size: int,
        details: dict[str, Any],
    ) -> None:
        super().__init__(
            fs,
            path,
            mode="rb",
            block_size=block_size,
            cache_type=cache_type,
            cache_options=cache_options,
            size=size,
        )
        self.details = details
        self._bucket, self._key = fs._split(path)
        self._direct_size = max(1, self.blocksize // 2)

    def read(self, length: int | None = -1) -> bytes:
        """Read up to ``length`` bytes (all the rest when negative or None).

        A read of at least half the ``block_size`` (a row group, PyArrow's coalesced column
        chunks, the rest of the object) is one ranged GET straight into the result, past the
        cache: reading a block ahead of it would fetch bytes nobody may ask for and copy the
        rest through the cache, and the small reads around it keep their cached block.
        """
        length = -1 if length is None else int(length)
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path!r}")
        remaining = max(0, self.size - self.loc)
        if length < 0 or length > remaining:
            length = remaining
        if length < self._direct_size:
            return super().read(length)  # type: ignore[no-any-return]
        out = self._fetch_range(self.loc, self.loc + length)
        self.loc += len(out)
        return out

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer``; a large read (as for :meth:`read`) lands in it straight from S3,
        with no copy."""
        target = memoryview(buffer).cast("B")
        length = min(target.nbytes, max(0, self.size - self.loc))
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path!r}")
        if length < self._direct_size:
            return super().readinto(buffer)  # type: ignore[no-any-return]
        fs: S3TorchFileSystem = self.fs
        stream = fs._start_get(self._bucket, self._key, self.loc, self.loc + length)
        filled = 0
        while filled < length:
            count = stream.readinto(target[filled:length])
            if not count:
                break  # the object is shorter than when it was opened
            filled += count
        self.loc += filled
        return filled

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if start >= end:
            return b""
        fs: S3TorchFileSystem = self.fs
        return fs._read_stream(self.path, fs._start_get(self._bucket, self._key, start, end))


class S3TorchWriteFile(S3Writer):
    """A file of :class:`S3TorchFileSystem` open for writing (``fs.open(path, "wb")``): an
    :class:`s3torch.S3Writer`, so the bytes stream to S3 as they are written and the object
    appears only when the file is closed.

    It also aborts (no object appears, the previous one stays) when it is closed while an
    exception newer than the file is on its way up, as when a library's own ``with`` block
    (PyArrow's ``ParquetWriter``, pandas' ``to_parquet``) closes it after a failure, and when
    one of its writes failed. Inside ``fs.transaction`` the upload is completed only when the
    transaction is (``commit``), and aborted when it fails (``discard``).
    """

    def __init__(
        self,
        fs: S3TorchFileSystem,
        path: str,
        storage_class: str | None = None,
        autocommit: bool = True,
    ) -> None:
        bucket, key = fs._split(path)
        super().__init__(fs.client.put_object_stream(bucket, key, storage_class))
        self.fs = fs
        self.path = path
        self.mode = "wb"
        self.autocommit = autocommit
        # An exception already being handled when the file was opened is not a reason to abort
        # (a fallback file written in an `except` block); only a newer one is.
        self._exception_at_open = sys.exc_info()[1]
        self._write_failed = False
        self._deferred = False  # closed, waiting for its transaction to commit or discard

    def write(self, data: Any) -> int:
        if self._deferred:
            raise ValueError(f"I/O operation on closed file {self.path!r}")
        try:
            return super().write(data)
        except BaseException:
            self._write_failed = True
            raise

    def close(self) -> None:
        if self.closed:
            return
        raised = sys.exc_info()[1]
        failed = self._write_failed or (
            raised is not None and raised is not self._exception_at_open
        )
        self._exception_at_open = None
        if failed:
            log.info("aborting the upload of %s: closed after %r", self.path, raised)
            with contextlib.suppress(Exception):
                self.abort()
        elif self.autocommit:
            super().close()
        else:
            self._deferred = True

    def commit(self) -> None:
        """Complete the upload of a file written inside a transaction (fsspec calls this when
        the transaction ends without an error).

        Raises:
            OSError: the upload was aborted (the file was closed after an error).
        """
        if self.aborted:
            raise OSError(
                f"the upload of {self.path!r} was aborted after an error: nothing to commit"
            )
        self._deferred = False
        super().close()

    def discard(self) -> None:
        """Abort the upload of a file written inside a transaction that failed."""
        self._deferred = False
        self.abort()

    @property
    def closed(self) -> bool:
        return super().closed or self._deferred

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise ValueError(
            f"cannot seek in {self.path!r}, open for writing: S3 objects are written front to "
            "back (tell() gives the position)"
        )

    def seekable(self) -> bool:
        return False

    @property
    def name(self) -> str:
        return self.path


# The modes files open with, and the binary mode each one is.
_MODES = {"r": "rb", "rb": "rb", "rt": "rb", "w": "wb", "wb": "wb", "wt": "wb"}
_EXCLUSIVE_MODES = {"x": "xb", "xb": "xb", "xt": "xb"}  # write a new object


def binary_mode(path: str, mode: Any) -> str:
    """The binary mode (``"rb"``, ``"wb"`` or ``"xb"``) that ``mode`` opens ``path`` with.

    Raises:
        TypeError: ``mode`` is not a str; ValueError: a mode files do not open with.
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, not {type(mode).__name__}")
    binary = _MODES.get(mode) or _EXCLUSIVE_MODES.get(mode)
    if binary is None:
        raise ValueError(
            f"unsupported mode {mode!r} for {path!r}: S3TorchFileSystem opens files with "
            "'rb'/'r' (read), 'wb'/'w' (write) or 'xb'/'x' (write a new object)"
        )
    return binary


def open_file(
    fs: S3TorchFileSystem,
    path: str,
    mode: str,
    block_size: int | None,
    autocommit: bool,
    cache_options: dict[str, Any] | None,
    kwargs: dict[str, Any],
) -> S3TorchReadFile | S3TorchWriteFile:
    """The file object of ``path`` open in ``mode`` (fsspec's ``open`` has made it binary and
    puts a text wrapper around the file where it was not)."""
    binary = binary_mode(path, mode)
    bucket, key = fs._split(path)
    if not key:
        raise IsADirectoryError(f"{path!r} is a bucket, not a file")
    if binary == "rb":
        entry = fs.info(path)
        if entry["type"] != "file":
            raise IsADirectoryError(f"{path!r} is a directory, not a file")
        return S3TorchReadFile(
            fs,
            join(bucket, key),
            block_size=block_size if block_size is not None else fs.default_block_size,
            cache_type=kwargs.pop("cache_type", fs.default_cache_type),
            cache_options=cache_options,
            size=entry["size"],
            details=entry,
        )
    if binary == "xb" and fs.exists(path):
        raise FileExistsError(f"{path!r} already exists (mode {mode!r} writes a new object)")
    storage_class = kwargs.pop("storage_class", None)
    return S3TorchWriteFile(fs, join(bucket, key), storage_class, autocommit)
