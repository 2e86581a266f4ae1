"""S3Writer: a write-only binary file whose contents become one S3 object on close."""

from __future__ import annotations

import io
import logging
import threading
from types import TracebackType
from typing import Any

from ._buffers import readable_bytes
from ._core import PutObjectStream

__all__ = ["S3Writer"]

log = logging.getLogger(__name__)


class S3Writer(io.BufferedIOBase):
    """A write-only binary file over one S3 object, for ``torch.save`` and anything else that
    writes to a file object.

    Nothing is visible under the key until :meth:`close` succeeds; then the whole object appears
    at once, replacing any previous one. Small objects go up in one PutObject; larger ones as a
    multipart upload whose parts are sent while the caller keeps writing, so memory stays around
    a few parts whatever the object's size.

    Used as a context manager, the writer closes (completes the upload) on a normal exit and
    **aborts** it when the block raises: no object appears, a previous object under the key is
    untouched and no incomplete multipart upload is left behind. :meth:`abort` does the same
    explicitly.
    """

    def __init__(self, stream: PutObjectStream) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._aborted = False
        self._closed = False

    @property
    def bucket(self) -> str:
        """The bucket of the object."""
        return str(self.stream.bucket)

    @property
    def key(self) -> str:
        """The key of the object."""
        return str(self.stream.key)

    @property
    def etag(self) -> str | None:
        """The ETag of the object once :meth:`close` has succeeded, else None."""
        return self.stream.etag

    def write(self, data: Any) -> int:
        """Append ``data`` (any bytes-like object, or a contiguous CPU tensor); return the
        number of bytes written (all of them).

        Raises:
            ValueError: the writer is closed or aborted.
            S3Exception: a request failed; the upload is then abandoned.
        """
        self._check_writable()
        return int(self.stream.write(readable_bytes(data)))

    def close(self) -> None:
        """Complete the upload: the object appears under its key. Closing again does nothing.

        Raises:
            S3Exception: completing the upload failed; no object was created and any previous
                object under the key is unchanged.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._aborted:
                self.stream.close()

    def abort(self) -> None:
        """Cancel the upload: no object is created, parts already sent are discarded, and a
        previous object under the key stays as it was. Does nothing after a successful close."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._aborted = True
            self.stream.abort()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def aborted(self) -> bool:
        """Whether the upload was aborted (explicitly, or by an exception in a ``with`` block)."""
        return self._aborted

    def __enter__(self) -> S3Writer:
        self._check_writable()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        log.info(
            "aborting the upload of s3://%s/%s after %s: %s",
            self.bucket,
            self.key,
            exc_type.__name__,
            exc,
        )
        try:
            self.abort()
        except Exception:  # the original exception matters more than a failed abort
            log.warning(
                "could not abort the upload of s3://%s/%s", self.bucket, self.key, exc_info=True
            )

    def __del__(self) -> None:
        # A writer dropped without close() may hold half an object (the code writing it may
        # have failed): abort rather than publish it. (io.IOBase would close, i.e. complete.)
        if getattr(self, "_closed", True):
            return
        log.warning(
            "S3Writer for s3://%s/%s was garbage-collected without close(): the upload was "
            "aborted and no object was created; use `with` or call close()",
            self.bucket,
            self.key,
        )
        try:
            self.abort()
        except Exception:
            pass

    def flush(self) -> None:
        """Does nothing: bytes are sent as parts fill up, and the object appears on close."""
        if self._closed:
            raise ValueError(f"I/O operation on closed writer of s3://{self.bucket}/{self.key}")

    def tell(self) -> int:
        """The number of bytes written so far."""
        return int(self.stream.tell())

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return not self._closed

    def _check_writable(self) -> None:
        if self._closed:
            what = "aborted" if self._aborted else "closed"
            raise ValueError(f"I/O operation on {what} writer of s3://{self.bucket}/{self.key}")

    def __repr__(self) -> str:
        state = " aborted" if self._aborted else " closed" if self._closed else ""
        return f"<S3Writer s3://{self.bucket}/{self.key}{state}>"
