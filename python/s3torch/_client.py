"""The S3 client: configuration resolved the AWS way, over the native core.

One concern, a little over 400 lines: GET, PUT, LIST, HEAD and DELETE appear twice, blocking
and asyncio (``*_async``, completed through :mod:`s3torch._aio`), with the same argument checks;
and :func:`shared_client`, the few clients per process that save/load and the datasets share.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import weakref
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, TypeVar

from . import _aio, _core
from ._buffers import readable_bytes
from ._checks import check_int, check_optional_int
from ._config import S3ClientConfig
from ._settings import resolve_settings
from ._uri import validate_bucket_name, validate_key, validate_object_key
from .s3reader import (
    ObjectInfoCallable,
    S3Reader,
    S3ReaderConstructor,
    S3ReaderConstructorProtocol,
)
from .s3writer import S3Writer

__all__ = ["S3Client"]

log = logging.getLogger(__name__)

# Uploads started in this process. At interpreter exit an unclosed one may never be collected (a
# daemon thread still refers to it, and then CPython does not clear module globals either), so
# the exit hook aborts what is left open rather than leave multipart uploads on the server.
_uploads: weakref.WeakSet[_core.PutObjectStream] = weakref.WeakSet()


@atexit.register
def _abort_open_uploads() -> None:
    for stream in list(_uploads):
        try:
            if stream.closed:
                continue
            log.warning(
                "the interpreter exited with the upload of s3://%s/%s still open: it was "
                "aborted and no object was created; close writers (or use `with`) before exiting",
                stream.bucket,
                stream.key,
            )
            stream.abort()
        except Exception:  # e.g. an upload another process (before a fork) opened
            pass


class S3Client:
    """A client for S3 or any S3-compatible store (SeaweedFS, MinIO, Ceph, R2, ...).

    Settings not given are found the way AWS tools find them:

    - region: ``region``, else ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the active profile's
      ``region``, else ``us-east-1``;
    - endpoint: ``endpoint``, else ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the active
      profile's ``endpoint_url``, else AWS itself; a custom endpoint uses path-style addressing
      unless ``S3ClientConfig(addressing_style="virtual")``;
    - credentials: static keys in ``s3client_config``, else the profile
      (``s3client_config.profile`` or ``AWS_PROFILE``), else the default AWS chain
      (environment, shared config and credentials files, web identity, container and
      instance metadata; IAM Identity Center (SSO) profiles only through ``credential_process =
      aws configure export-credentials --profile NAME --format process``, see the configuration
      docs);
    - CA bundle: ``s3client_config.ca_bundle``, else ``AWS_CA_BUNDLE``.

    A client can be pickled (e.g. into DataLoader workers) and survives ``fork``: each process
    builds its own connection pool on first use. Static credentials stay out of pickles written
    with ``pickle``/``torch.save``; see :class:`S3ClientConfig`.

    :meth:`metrics` returns this client's counters (requests, retries, errors, bytes), for a
    training loop to log.

    Args:
        region: AWS region of the bucket(s).
        endpoint: URL of an S3-compatible endpoint, e.g. ``"http://127.0.0.1:8333"``.
        user_agent: text to put before ``s3torch/<version>`` in the User-Agent header.
        s3client_config: tunables; see :class:`S3ClientConfig`.

    Raises:
        ValueError: a setting is invalid (the message names it).
        S3CredentialsError: the named profile cannot be loaded.
    """

    def __init__(
        self,
        region: str | None = None,
        *,
        endpoint: str | None = None,
        user_agent: Any = None,
        s3client_config: S3ClientConfig | None = None,
    ) -> None:
        config = s3client_config if s3client_config is not None else S3ClientConfig()
        if not isinstance(config, S3ClientConfig):
            raise TypeError(
                f"s3client_config must be an S3ClientConfig, got {type(config).__name__}"
            )
        if config.credentials_withheld:
            raise ValueError(
                "this S3ClientConfig was unpickled without its static credentials "
                "(access_key_id, secret_access_key, session_token are never written to "
                "pickles): build the config again with them, or use a profile or the environment"
            )
        self._user_agent_prefix = _user_agent_prefix(user_agent)
        settings = resolve_settings(
            config, region=region, endpoint=endpoint, user_agent_prefix=self._user_agent_prefix
        )
        self._region = settings.region
        self._endpoint = settings.endpoint
        self._config = config
        self._native = _core.S3Client(settings)

    @property
    def region(self) -> str:
        """The region requests are signed for."""
        return self._region

    @property
    def endpoint(self) -> str | None:
        """The custom endpoint, or None for AWS S3."""
        return self._endpoint

    @property
    def s3client_config(self) -> S3ClientConfig:
        """The configuration this client was built from."""
        return self._config

    @property
    def user_agent(self) -> str:
        """The User-Agent prefix sent with every request."""
        return self._native.user_agent

    def get_object(
        self,
        bucket: str,
        key: str,
        *,
        object_info: _core.ObjectInfo | _core.HeadObjectResult | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
    ) -> S3Reader:
        """A file object reading ``s3://bucket/key``.

        No request is sent until the first read (or ``reader.prefetch()``).

        Args:
            object_info: the object's metadata if already known (e.g. from a listing), which
                spares the HEAD request a reader makes when it needs the size.
            reader_constructor: how to read; see :class:`S3ReaderConstructor`. Default:
                :meth:`S3ReaderConstructor.sequential`.

        Raises:
            ValueError: empty bucket or key.
            S3NoSuchKeyError, S3NoSuchBucketError, ...: on the first read.
        """
        _object("bucket", bucket, "key", key)
        constructor = (
            reader_constructor if reader_constructor is not None else S3ReaderConstructor.default()
        )
        get_object_info: ObjectInfoCallable
        if object_info is None:
            get_object_info = partial(self.head_object, bucket, key)
            get_stream = partial(self._native.get_object, bucket, key)
        else:
            get_object_info = partial(_identity, object_info)
            # A known size lets a GET to the end hold a buffer of that size, not a whole part.
            get_stream = partial(self._native.get_object, bucket, key, size_hint=object_info.size)
        return constructor(
            bucket=bucket,
            key=key,
            get_object_info=get_object_info,
            get_stream=get_stream,
        )

    def put_object(self, bucket: str, key: str, storage_class: str | None = None) -> S3Writer:
        """A file object writing ``s3://bucket/key``: the object appears when it is closed.

        Args:
            storage_class: e.g. ``"STANDARD_IA"``; None for the bucket's default.
        """
        return S3Writer(self.put_object_stream(bucket, key, storage_class))

    def get_object_stream(
        self, bucket: str, key: str, start: int | None = None, end: int | None = None
    ) -> _core.GetObjectStream:
        """Start a GET of ``s3://bucket/key``, whole or bytes ``start`` to ``end`` (exclusive).

        The request is sent at once; the returned stream yields the body in order.

        Raises:
            ValueError: empty bucket or key, or ``end < start``.
            S3NoSuchKeyError, S3NoSuchBucketError, ...: when the body is first read.
        """
        _object("bucket", bucket, "key", key)
        check_optional_int("start", start, minimum=0, maximum=_MAX_U64)
        check_optional_int("end", end, minimum=0, maximum=_MAX_U64)
        return self._native.get_object(bucket, key, start, end)

    def put_object_stream(
        self, bucket: str, key: str, storage_class: str | None = None
    ) -> _core.PutObjectStream:
        """Open an upload to ``s3://bucket/key``; the object appears when the stream is closed.

        An upload still open when the interpreter exits is aborted."""
        _object("bucket", bucket, "key", key)
        if storage_class is not None:
            _text("storage_class", storage_class)
        stream = self._native.put_object(bucket, key, storage_class)
        _uploads.add(stream)
        return stream

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> _core.ListObjectStream:
        """List keys under ``prefix``, a page of up to ``max_keys`` at a time (ListObjectsV2).

        With ``start_after``, the listing begins after that key (the key itself is not listed,
        and need not exist): a listing split into key ranges starts each range there.
        """
        _check_listing(bucket, prefix, delimiter, max_keys, start_after)
        if start_after is None:
            return self._native.list_objects(bucket, prefix, delimiter, max_keys)
        return self._native.list_objects(
            bucket, prefix, delimiter, max_keys, start_after=start_after
        )

    def head_object(self, bucket: str, key: str) -> _core.HeadObjectResult:
        """Size, ETag, last-modified time and storage class of an object."""
        _object("bucket", bucket, "key", key)
        return self._native.head_object(bucket, key)

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object; deleting a missing key succeeds, as in S3."""
        _object("bucket", bucket, "key", key)
        self._native.delete_object(bucket, key)

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        """Copy an object server-side."""
        _object("src_bucket", src_bucket, "src_key", src_key)
        _object("dst_bucket", dst_bucket, "dst_key", dst_key)
        self._native.copy_object(src_bucket, src_key, dst_bucket, dst_key)

    async def get_object_async(
        self, bucket: str, key: str, *, start: int | None = None, end: int | None = None
    ) -> bytes:
        """The body of ``s3://bucket/key`` as ``bytes`` (what ``get_object(...).read()``
        returns), whole or bytes ``start`` to ``end`` (exclusive), awaited on the running
        asyncio loop. See the asyncio guide (doc/asyncio.md).

        No thread is used per request; cancelling the awaiting task cancels the request. A
        request that gets no answer for ``stall_timeout_s`` fails as in the blocking methods.

        Raises:
            ValueError: empty bucket or key, or ``end < start``.
            S3NoSuchKeyError, S3NoSuchBucketError, ...: as :meth:`get_object`.
        """
        _object("bucket", bucket, "key", key)
        check_optional_int("start", start, minimum=0, maximum=_MAX_U64)
        check_optional_int("end", end, minimum=0, maximum=_MAX_U64)
        body: bytes = await _aio.await_request(
            _core.Completions.get_object, self._native, bucket, key, start, end
        )
        return body

    async def put_object_async(self, bucket: str, key: str, data: Any) -> None:
        """Write ``data`` (any bytes-like object or contiguous CPU tensor, copied once when the
        call is made) as ``s3://bucket/key``, awaited on the running asyncio loop.

        One PutObject up to the client's part size, a multipart upload beyond, as
        :meth:`put_object` does. The object appears only once the upload has succeeded: when it
        fails or is cancelled, no object is created and the previous one stays.
        """
        _object("bucket", bucket, "key", key)
        await _aio.await_request(
            _core.Completions.put_object, self._native, bucket, key, readable_bytes(data)
        )

    def list_objects_async(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> AsyncIterator[_core.ListObjectResult]:
        """The pages of :meth:`list_objects` as an async iterator (``async for page in ...``);
        the next page is requested while the caller uses the current one. Arguments are
        checked at once."""
        _check_listing(bucket, prefix, delimiter, max_keys, start_after)
        return _aio.list_pages(self._native, bucket, prefix, delimiter, max_keys, start_after)

    async def head_object_async(self, bucket: str, key: str) -> _core.HeadObjectResult:
        """:meth:`head_object`, awaited on the running asyncio loop."""
        _object("bucket", bucket, "key", key)
        head: _core.HeadObjectResult = await _aio.await_request(
            _core.Completions.head_object, self._native, bucket, key
        )
        return head

    async def delete_object_async(self, bucket: str, key: str) -> None:
        """:meth:`delete_object`, awaited on the running asyncio loop."""
        _object("bucket", bucket, "key", key)
        await _aio.await_request(_core.Completions.delete_object, self._native, bucket, key)

    def metrics(self) -> dict[str, int]:
        """This client's counters since it was made, as a flat dict for a training loop to log.

        ``requests`` (HTTP requests sent, retries included) and ``requests.<Operation>``
        (e.g. ``requests.GetObject``, ``requests.UploadPart``); ``retries`` (failed attempts
        the client tried again); ``errors`` and ``errors.<status>`` (failed attempts by HTTP
        status, or ``errors.network`` when no response came); ``throttles`` (503 and 429
        answers); ``canceled``; ``timeouts`` (steps that exceeded ``stall_timeout_s``);
        ``bytes_read`` and ``bytes_written`` (object data received and sent);
        ``latency.first_byte.*`` and ``latency.total.*`` (``count``, ``p50_us``, ``p95_us``,
        ``p99_us``, ``max_us``: per-request latency in microseconds, within about 6%, once a
        request has been answered). Counters of a client unpickled in another process start
        again from zero there.

        Example::

            before = client.metrics()
            ...  # an epoch
            after = client.metrics()
            print({k: after[k] - before.get(k, 0) for k in ("requests", "retries", "errors")})
        """
        return self._native.metrics()

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its settings where it is unpickled; the config decides what travels.
        return (
            _unpickle_client,
            (self._region, self._endpoint, self._user_agent_prefix, self._config),
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> S3Client:
        return _unpickle_client(self._region, self._endpoint, self._user_agent_prefix, self._config)

    def __repr__(self) -> str:
        return f"S3Client(region={self._region!r}, endpoint={self._endpoint!r})"


def _text(name: str, value: object) -> None:
    """Refuse what cannot be sent as text: non-strings, and lone surrogates (from bytes decoded
    with ``surrogateescape``), naming the argument."""
    try:
        _str(name, value).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{name} {value!r} is not valid Unicode text (it has a lone surrogate, as bytes "
            "decoded with errors='surrogateescape' do): S3 names are UTF-8"
        ) from None


_MAX_U64 = 2**64 - 1


def _object(bucket_name: str, bucket: object, key_name: str, key: object) -> None:
    """Refuse a bucket or key that cannot name one object (the rules of :mod:`s3torch._uri`),
    naming the argument when it is not even a string."""
    validate_bucket_name(_str(bucket_name, bucket))
    validate_object_key(_str(key_name, key))


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def _unpickle_client(
    region: str, endpoint: str | None, user_agent_prefix: str, config: S3ClientConfig
) -> S3Client:
    return S3Client(region, endpoint=endpoint, user_agent=user_agent_prefix, s3client_config=config)


_T = TypeVar("_T")


def _identity(value: _T) -> _T:
    return value


def _user_agent_prefix(user_agent: Any) -> str:
    if user_agent is None:
        return ""
    if isinstance(user_agent, str):
        return user_agent
    # s3torchconnector's UserAgent objects carry their text in `.prefix`.
    prefix = getattr(user_agent, "prefix", None)
    if isinstance(prefix, str):
        return prefix
    raise TypeError(f"user_agent must be a str, got {type(user_agent).__name__}")


def _check_listing(
    bucket: str, prefix: str, delimiter: str, max_keys: int, start_after: str | None
) -> None:
    """The arguments of a listing, sync or async, checked alike."""
    validate_bucket_name(_str("bucket", bucket))
    validate_key(_str("prefix", prefix))
    _text("delimiter", delimiter)
    check_int("max_keys", max_keys, minimum=1, maximum=1000)
    if start_after is not None:
        _str("start_after", start_after)
        try:
            validate_key(start_after)
        except ValueError as error:
            raise ValueError(f"start_after: {error}") from None


# Building a client costs tens of milliseconds of CPU and a fresh connection pool: save/load/
# save_async without client= and the datasets share clients instead. The key holds every AWS_*
# variable, so a change of environment (another endpoint, other credentials) gives a new client
# rather than a stale one.
SHARED_CLIENTS_MAX = 4
_shared_clients: collections.OrderedDict[tuple[Any, ...], S3Client] = collections.OrderedDict()
_shared_clients_lock = threading.Lock()


def shared_client(
    region: str | None, endpoint: str | None, s3client_config: S3ClientConfig | None
) -> S3Client:
    """The process's client for these settings: one of the few most recently asked for, or a new
    one (which pushes out the least recently used)."""
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    key = (region, endpoint, s3client_config, environment)
    try:
        hash(key)
    except TypeError:  # not settings a client takes: let the client's own checks say why
        return S3Client(region, endpoint=endpoint, s3client_config=s3client_config)
    with _shared_clients_lock:
        found = _shared_clients.get(key)
        if found is not None:
            _shared_clients.move_to_end(key)
            return found
    made = S3Client(region, endpoint=endpoint, s3client_config=s3client_config)
    with _shared_clients_lock:
        found = _shared_clients.setdefault(key, made)
        _shared_clients.move_to_end(key)
        while len(_shared_clients) > SHARED_CLIENTS_MAX:
            _shared_clients.popitem(last=False)
        return found
