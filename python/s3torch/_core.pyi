"""Stubs of s3torch's native core (private: use the names re-exported by ``s3torch``)."""

from collections.abc import Iterator
from typing import final

from typing_extensions import Buffer as _BufferProtocol

from s3torch._settings import ClientSettings

__version__: str
MIN_PART_SIZE: int
MAX_PART_SIZE: int
MAX_ATTEMPTS: int
MAX_THROUGHPUT_GBPS: float
MIN_READ_WINDOW: int
MAX_KEY_BYTES: int
ERROR_CLASSES: tuple[str, ...]

@final
class S3Client:
    """A connection to S3 or an S3-compatible store, built from resolved settings.

    It belongs to the process that built it; a forked child builds its own on first use.
    Raises ValueError at construction for any invalid setting, naming it.
    """

    def __new__(cls, settings: ClientSettings) -> S3Client: ...
    @property
    def region(self) -> str: ...
    @property
    def endpoint(self) -> str | None: ...
    @property
    def part_size(self) -> int: ...
    @property
    def throughput_target_gbps(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def stall_timeout_s(self) -> float | None: ...
    @property
    def user_agent(self) -> str: ...
    def metrics(self) -> dict[str, int]:
        """This client's counters: requests, retries, errors, throttles, timeouts, bytes."""
    def get_object(
        self,
        bucket: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        *,
        size_hint: int | None = None,
    ) -> GetObjectStream:
        """Start a GET of the whole object, or of bytes ``start`` (inclusive) to ``end``
        (exclusive). ``size_hint``, the object's size if known, lets a read up to the end
        reserve less memory."""
    def put_object(
        self, bucket: str, key: str, storage_class: str | None = None
    ) -> PutObjectStream:
        """Open an upload of one object; nothing is visible until ``close()``."""
    def list_objects(
        self, bucket: str, prefix: str = ..., delimiter: str = ..., max_keys: int = 1000
    ) -> ListObjectStream:
        """List objects under a prefix, a page at a time."""
    def head_object(self, bucket: str, key: str) -> HeadObjectResult:
        """Size, ETag, last-modified time and storage class of an object."""
    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a missing key is not an error)."""
    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        """Copy an object server-side."""

@final
class Buffer:
    """A read-only, zero-copy view of bytes received from S3 (supports ``memoryview``)."""

    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class GetObjectStream:
    """The body of one object (or range), streamed in order. The request starts on creation."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int | None: ...
    def __iter__(self) -> Iterator[Buffer]: ...
    def __next__(self) -> Buffer: ...
    def read(self, size: int | None = None) -> bytes:
        """Read up to ``size`` bytes (all of the rest when negative or None)."""
    def readinto(self, buffer: _BufferProtocol) -> int:
        """Fill a writable buffer in place; returns the count, short only at the end."""
    def tell(self) -> int:
        """Object offset of the next byte returned."""
    def close(self) -> None:
        """Stop the request."""

@final
class PutObjectStream:
    """An upload of one object: PutObject when small, multipart when large."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def etag(self) -> str | None: ...
    def write(self, data: _BufferProtocol) -> int:
        """Append any bytes-like object; returns its length."""
    def close(self) -> str:
        """Complete the upload and return the ETag."""
    def abort(self) -> None:
        """Cancel the upload; no object is created."""
    def tell(self) -> int:
        """Bytes written so far."""

@final
class RestoreStatus:
    in_progress: bool
    expiry: int | None
    def __new__(cls, in_progress: bool, expiry: int | None = None) -> RestoreStatus: ...
    def __getnewargs__(self) -> tuple[bool, int | None]: ...

@final
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: int
    storage_class: str | None
    restore_status: RestoreStatus | None
    def __new__(
        cls,
        key: str,
        etag: str,
        size: int,
        last_modified: int,
        storage_class: str | None = None,
        restore_status: RestoreStatus | None = None,
    ) -> ObjectInfo: ...
    def __getnewargs__(
        self,
    ) -> tuple[str, str, int, int, str | None, RestoreStatus | None]: ...

@final
class HeadObjectResult:
    etag: str
    size: int
    last_modified: int
    storage_class: str | None
    restore_status: RestoreStatus | None
    def __new__(
        cls,
        etag: str,
        size: int,
        last_modified: int,
        storage_class: str | None = None,
        restore_status: RestoreStatus | None = None,
    ) -> HeadObjectResult: ...
    def __getnewargs__(self) -> tuple[str, int, int, str | None, RestoreStatus | None]: ...

@final
class ListObjectResult:
    @property
    def object_info(self) -> list[ObjectInfo]: ...
    @property
    def common_prefixes(self) -> list[str]: ...

@final
class ListObjectStream:
    """Pages of a listing in key order; the next page is requested while one is used."""

    @property
    def bucket(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def delimiter(self) -> str: ...
    @property
    def max_keys(self) -> int: ...
    @property
    def continuation_token(self) -> str | None: ...
    @property
    def complete(self) -> bool: ...
    def __iter__(self) -> Iterator[ListObjectResult]: ...
    def __next__(self) -> ListObjectResult: ...

def _set_log_level(level: int) -> bool:
    """Forward the native core's log events at ``level`` (a ``logging`` level) and above;
    above 50 turns forwarding off. False when another tracing subscriber owns the process."""

def _set_crt_log_level(level: int) -> bool:
    """Forward the CRT's own log at ``level`` and above; above 50 turns it off. False when
    another CRT logger owns the process."""

def _drain_logs(max_records: int, timeout: float) -> tuple[list[tuple[int, str, str, float]], int]:
    """Up to ``max_records`` queued records ``(level, source, message, created)``, waiting up
    to ``timeout`` seconds for the first, and the count of records dropped since the last call."""
