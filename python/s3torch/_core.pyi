"""Stubs of s3torch's native core (private: use the names re-exported by ``s3torch``)."""

from collections.abc import Iterator
from typing import Any, final

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
    """A connection to S3 or an S3-compatible store, built from one resolved settings object
    (`s3torch._settings.ClientSettings`, read by field name).

    A setting of the wrong type raises TypeError and one out of range ValueError, both naming
    the field. The client belongs to the process that built it; in a forked child it builds a
    fresh connection pool on first use and leaves the parent's untouched.
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
        """This client's counters since it was made: requests (by operation), retries, errors (by
        HTTP status, or "network"), throttles, canceled requests, timeouts, bytes read and written,
        and per-request latency in microseconds (`latency.first_byte.*` and `latency.total.*`:
        `count`, `p50_us`, `p95_us`, `p99_us`, `max_us`, present once a request got a response).
        """
    def get_object(
        self,
        bucket: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        *,
        size_hint: int | None = None,
    ) -> GetObjectStream:
        """Start a GET of the whole object, or of bytes `start` (inclusive) to `end` (exclusive).
        `size_hint`, the object's size if known, lets a read up to the end reserve less memory,
        and the parts of a large one go out at once.
        """
    def put_object(
        self, bucket: str, key: str, storage_class: str | None = None
    ) -> PutObjectStream:
        """Open an upload of one object. Data is sent as it is written; nothing is visible until
        close().
        """
    def list_objects(
        self,
        bucket: str,
        prefix: str = ...,
        delimiter: str = ...,
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> ListObjectStream:
        """List objects under a prefix, a page (up to `max_keys`) at a time. With `start_after`, the
        listing begins after that key (not included), which need not exist.
        """
    def head_object(self, bucket: str, key: str) -> HeadObjectResult:
        """Size, ETag, last-modified time and storage class of an object."""
    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object. Deleting a key that does not exist succeeds, as in S3."""
    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        """Copy an object within the store, without moving its bytes through this process."""

@final
class Completions:
    """The requests of one event loop. `s3torch._aio` makes one per loop, registers `fileno()` with
    `loop.add_reader(fd, run_ready)` and, while requests are pending, calls `watch()` again after
    the seconds it returns. Each request method starts the request at once and resolves
    `future` (an asyncio future of that loop) with its result or its typed error; it returns the
    request's id, which `cancel` takes. Usable only in the process that made it, on its loop's
    thread.
    """

    def __new__(cls) -> Completions: ...
    def fileno(self) -> int:
        """The file descriptor that becomes readable when requests have made progress."""
    @property
    def pending(self) -> int:
        """Requests started and neither finished nor cancelled."""
    def run_ready(self) -> None:
        """Poll the requests woken since the last call; resolve the futures of those finished."""
    def cancel(self, id: int) -> None:
        """Cancel request `id` (dropping it cancels its CRT request). Its future is left as it
        is: the caller cancelled it. Unknown ids (finished requests) are ignored.
        """
    def watch(self) -> float | None:
        """End the requests that a blocking wait would have ended by now (`stall_timeout_s`,
        `connect_refused_timeout_s`, a failed TLS handshake), with the same errors. Returns the
        seconds until the next call is due, or None when no request is pending.
        """
    def get_object(
        self,
        client: S3Client,
        future: Any,
        bucket: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
    ) -> int:
        """GET the whole object, or bytes `start` (inclusive) to `end` (exclusive); resolves
        `future` with `bytes`.
        """
    def put_object(
        self, client: S3Client, future: Any, bucket: str, key: str, data: _BufferProtocol
    ) -> int:
        """PUT `data` (any bytes-like object, copied once now) as the object: one PutObject up to
        the client's part size, a multipart upload beyond. Resolves `future` with None. On
        failure or cancellation nothing is written and the previous object stays.
        """
    def list_objects(
        self,
        client: S3Client,
        future: Any,
        bucket: str,
        prefix: str,
        delimiter: str,
        max_keys: int,
        continuation_token: str | None = None,
        start_after: str | None = None,
    ) -> int:
        """One ListObjectsV2 page (after `continuation_token`, when given; else the first page,
        after `start_after` when given); resolves `future` with
        `(ListObjectResult, next continuation token or None)`.
        """
    def head_object(self, client: S3Client, future: Any, bucket: str, key: str) -> int:
        """HeadObject; resolves `future` with a `HeadObjectResult`."""
    def delete_object(self, client: S3Client, future: Any, bucket: str, key: str) -> int:
        """DeleteObject (a missing key succeeds, as in S3); resolves `future` with None."""

@final
class Buffer:
    """A read-only, zero-copy view of bytes received from S3: `memoryview(buffer)` reads the
    received memory in place, `bytes(buffer)` copies it.
    """

    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

@final
class GetObjectStream:
    """The body of one object (or a byte range of it), streamed from S3.

    Iterating yields zero-copy `Buffer`s as they arrive; `read` and `readinto` copy exactly once,
    into the bytes returned or the caller's buffer. The request starts when the stream is created.
    """

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def start(self) -> int:
        """First byte requested."""
    @property
    def end(self) -> int | None:
        """End (exclusive) of the range requested, when one was."""
    def __iter__(self) -> Iterator[Buffer]: ...
    def __next__(self) -> Buffer: ...
    def read(self, size: int | None = None) -> bytes:
        """Read up to `size` bytes (all of the rest when `size` is negative or None) as `bytes`.

        Bytes are copied once, into the result. A read of more than one part (`part_size`)
        allocates the result up front instead of gathering the parts first: at the size the first
        response told (a body longer than one part), or else the object's size from one HEAD
        request.
        """
    def readinto(self, buffer: _BufferProtocol) -> int:
        """Fill a writable buffer (bytearray, memoryview, numpy array, `tensor.numpy()`) in place.
        Returns the number of bytes written: less than its size only at the end of the body.
        """
    def tell(self) -> int:
        """Object offset of the next byte this stream returns."""
    def close(self) -> None:
        """Stop the request. Later reads raise ValueError (I/O operation on closed stream); closing
        again does nothing.
        """

@final
class PutObjectStream:
    """An upload of one object. Nothing is visible under the key until `close()` succeeds; `abort()`
    (or dropping the stream unclosed) cancels it and leaves any previous object untouched.
    """

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def closed(self) -> bool:
        """Whether the stream still accepts writes."""
    @property
    def etag(self) -> str | None:
        """The ETag of the completed object, once `close()` has succeeded."""
    def write(self, data: _BufferProtocol) -> int:
        """Append any bytes-like object. Returns the number of bytes written (all of them)."""
    def close(self) -> str:
        """Finish the upload and make the object visible. Returns its ETag."""
    def abort(self) -> None:
        """Cancel the upload: no object is created and parts already sent are discarded.
        Aborting a finished or already aborted upload does nothing.
        """
    def tell(self) -> int:
        """Bytes written so far."""

@final
class RestoreStatus:
    """Whether an archived object is being restored, and until when a restored copy is kept."""

    in_progress: bool
    expiry: int | None
    """Seconds since the epoch, when known."""
    def __new__(cls, in_progress: bool, expiry: int | None = None) -> RestoreStatus: ...
    def __getnewargs__(self) -> tuple[bool, int | None]: ...

@final
class ObjectInfo:
    """One object in a listing."""

    key: str
    etag: str
    size: int
    last_modified: int
    """Seconds since the epoch."""
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
    """The result of HeadObject."""

    etag: str
    size: int
    last_modified: int
    """Seconds since the epoch."""
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
    """One page of a listing: objects, and the common prefixes ("folders") when a delimiter is
    used.
    """

    @property
    def object_info(self) -> list[ObjectInfo]: ...
    @property
    def common_prefixes(self) -> list[str]: ...
    def columns(
        self, key_base: int = 0, etag_base: int = 0
    ) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]:
        """Internal (for the dataset's listing table): the page's objects as columns, without a
        Python object per key. Returns `(keys, key_ends, etags, etag_ends, sizes, last_modified)`,
        all `bytes`: the keys' UTF-8 one after another; the ETags one after another, each packed
        as `s3torch._datasets.table.pack_etag` packs it; and four arrays of native 64-bit signed
        ints (`array("q").frombytes(...)`): where each key and each packed ETag ends, counted from
        `key_base` and `etag_base` (so that pages append to one table), the sizes, and the
        last-modified times in seconds since the epoch.
        """

@final
class ListObjectStream:
    """The pages of a listing, in key order. The first page is requested when the stream is made."""

    @property
    def bucket(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def delimiter(self) -> str: ...
    @property
    def max_keys(self) -> int: ...
    @property
    def start_after(self) -> str | None:
        """The key the listing starts after (not included), or None to start at the prefix."""
    @property
    def continuation_token(self) -> str | None:
        """The token of the next page, or None when the listing has no more pages."""
    @property
    def complete(self) -> bool:
        """Whether every page has been returned."""
    def __iter__(self) -> Iterator[ListObjectResult]: ...
    def __next__(self) -> ListObjectResult: ...

def _set_log_level(level: int) -> bool:
    """Forward the crate's events at `level` (a Python level number) and above; above 50 turns it
    off.
    Returns False when another `tracing` subscriber already owns this process.
    """

def _set_crt_log_level(level: int) -> bool:
    """Forward the CRT's own log at `level` (a Python level number) and above; above 50 turns it
    off.
    Returns False when another CRT logger already owns this process.
    """

def _drain_logs(max_records: int, timeout: float) -> tuple[list[tuple[int, str, str, float]], int]:
    """Take up to `max_records` queued records, waiting up to `timeout` seconds for the first.
    Also returns how many records were dropped (queue full or busy) since the last call.
    """
