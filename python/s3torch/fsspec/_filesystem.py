"""The filesystem class, :class:`~s3torch.fsspec.S3TorchFileSystem`: listing, reading,
writing, copying and deleting over :class:`s3torch.S3Client`.

It stays one module of over 800 lines because it is one class implementing fsspec's
``AbstractFileSystem`` interface, whose methods share the client, the path rules and the
transfer pool; its storage options and its file objects live beside it (``_options.py``,
``_files.py``).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.spec import AbstractFileSystem  # type: ignore[import-untyped]

from .._checks import check_int
from .._client import S3Client
from .._config import S3ClientConfig
from .._core import GetObjectStream
from .._datasets.prefetch import Prefetcher
from .._errors import S3InvalidRangeError
from .._uri import parse_s3_uri
from ._files import S3TorchReadFile, S3TorchWriteFile
from ._options import _FSSPEC_OPTIONS, _build_client, _InstanceCache

PROTOCOLS = ("s3torch", "s3", "s3a")
"""URL schemes the filesystem strips: its own, and those it serves after :func:`register`."""

DEFAULT_BLOCK_SIZE = 32 * 1024 * 1024
"""Read-ahead of files opened for reading: a read that misses the buffer fetches this much.

Large enough that a Parquet footer costs one request and that the column chunks of a row group
(tens of MiB) usually share one; the native client splits a large ranged GET into parts in
flight at once, so a big read-ahead costs little more time than a small one."""

DEFAULT_MAX_CONCURRENCY = 64
"""GETs that ``cat`` and ``cat_ranges`` keep in flight at once."""

_MAX_BYTES_IN_FLIGHT = 256 * 1024 * 1024
_UNKNOWN_SIZE = 1024 * 1024  # weight of a whole-object GET of unknown size in the in-flight bound
_COPY_CHUNK = 8 * 1024 * 1024
_TRANSFER_THREADS = 16  # files that get/put move at once (the GIL is free while they wait)
_MODES = {"r": "rb", "rb": "rb", "rt": "rb", "w": "wb", "wb": "wb", "wt": "wb"}
_EXCLUSIVE_MODES = {"x": "xb", "xb": "xb", "xt": "xb"}


class S3TorchFileSystem(AbstractFileSystem, metaclass=_InstanceCache):  # type: ignore[misc]
    """An fsspec filesystem for S3 (and S3-compatible stores) over :class:`s3torch.S3Client`.

    Paths are ``bucket/key``, with or without ``s3torch://`` (or ``s3://``, ``s3a://``) in
    front. Settings are found as :class:`s3torch.S3Client` finds them (arguments, then the
    ``AWS_*`` environment variables, the profile, the default credential chain); the storage
    options fsspec users pass to s3fs are understood too::

        import pandas as pd
        df = pd.read_parquet("s3torch://my-bucket/table.parquet")
        df.to_parquet("s3torch://my-bucket/out.parquet",
                      storage_options={"endpoint_url": "http://127.0.0.1:9000"})

        from s3torch.fsspec import S3TorchFileSystem
        fs = S3TorchFileSystem(region="eu-west-1")
        fs.cat(fs.ls("my-bucket/images/", detail=False))   # many GETs in flight

    Args:
        region: region of the buckets; found the AWS way when ``None``.
        endpoint: URL of an S3-compatible store, e.g. ``"http://127.0.0.1:9000"``.
        s3client_config: client tunables (see :class:`s3torch.S3ClientConfig`); the options
            below, when given, replace its fields.
        client: an :class:`s3torch.S3Client` to use as it is (then no other setting may be
            given).
        endpoint_url: as ``endpoint`` (the s3fs name).
        key: static credentials: the access key id.
        secret: the secret access key (with ``key``).
        token: the session token of temporary credentials (with ``key`` and ``secret``).
        anon: send unsigned requests (public buckets).
        profile: the AWS profile to take credentials and settings from.
        requester_pays: bill requests to the caller (requester-pays buckets).
        client_kwargs: s3fs-style ``{"endpoint_url": ..., "region_name": ...}``.
        default_block_size: read-ahead of files opened for reading; default 32 MiB.
        default_cache_type: fsspec cache of files opened for reading; default ``"readahead"``.
        max_concurrency: GETs in flight at once in ``cat`` and ``cat_ranges``; default 64.

    Raises:
        TypeError: an option of the wrong type, or one this filesystem does not know (the
            message names it).
        ValueError: an invalid setting (see :class:`s3torch.S3ClientConfig`), or two options
            that disagree (``endpoint`` and ``endpoint_url``).

    Errors of S3 reach fsspec users as the built-in exceptions they catch:
    :class:`FileNotFoundError` (missing key or bucket; :class:`s3torch.S3NoSuchKeyError` is
    one), :class:`PermissionError` (:class:`s3torch.S3AccessDeniedError`,
    :class:`s3torch.S3CredentialsError`), :class:`IsADirectoryError` when a directory is opened
    or read as a file, :class:`FileExistsError` for ``mode="create"`` / ``"xb"`` onto an
    existing object. Bad paths (another protocol, no bucket) raise :class:`ValueError`.

    Pickling keeps the client's settings (a DataLoader or Dask worker rebuilds the client);
    static credentials follow :class:`s3torch.S3ClientConfig`'s rule: they travel to
    ``multiprocessing`` children but are never written to plain pickles.
    """

    protocol = PROTOCOLS
    root_marker = ""

    def __init__(
        self,
        region: str | None = None,
        *,
        endpoint: str | None = None,
        s3client_config: S3ClientConfig | None = None,
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        anon: bool = False,
        profile: str | None = None,
        requester_pays: bool | None = None,
        client_kwargs: dict[str, Any] | None = None,
        default_block_size: int = DEFAULT_BLOCK_SIZE,
        default_cache_type: str = "readahead",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        _credentials_digest: str | None = None,
        **options: Any,
    ) -> None:
        if options.pop("asynchronous", False):
            raise ValueError(
                "asynchronous=True is not supported: S3TorchFileSystem is synchronous (its "
                "concurrency is inside the native client)"
            )
        unknown = sorted(set(options) - _FSSPEC_OPTIONS)
        if unknown:
            raise TypeError(
                f"S3TorchFileSystem got unknown storage option(s) {unknown}; see "
                "help(s3torch.fsspec.S3TorchFileSystem) for the options it understands"
            )
        super().__init__(**options)
        self.client = _build_client(
            client=client,
            region=region,
            endpoint=endpoint,
            s3client_config=s3client_config,
            endpoint_url=endpoint_url,
            key=key,
            secret=secret,
            token=token,
            anon=anon,
            profile=profile,
            requester_pays=requester_pays,
            client_kwargs=client_kwargs,
        )
        self.default_block_size = check_int("default_block_size", default_block_size, minimum=1)
        if not isinstance(default_cache_type, str):
            raise TypeError(
                f"default_cache_type must be a str, not {type(default_cache_type).__name__}"
            )
        if default_cache_type not in fsspec.caching.caches:
            raise ValueError(
                f"default_cache_type={default_cache_type!r} is not an fsspec cache: "
                f"one of {sorted(name for name in fsspec.caching.caches if name)}"
            )
        self.default_cache_type = default_cache_type
        self.max_concurrency = check_int("max_concurrency", max_concurrency, minimum=1)
        self._local = threading.local()  # the pool of a get/put running in this thread
        self._settings = {
            "default_block_size": self.default_block_size,
            "default_cache_type": self.default_cache_type,
            "max_concurrency": self.max_concurrency,
        }

    # ---- pickling ----------------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        # The client carries the settings and decides which credentials travel (its config's
        # rule); the storage options would write secrets into every pickle.
        return (_rebuild_filesystem, (type(self), self.client, self._settings))

    # ---- paths -------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = fsspec.utils.stringify_path(path)
        if not isinstance(path, str):
            raise TypeError(f"an S3 path must be a str, not {type(path).__name__}")
        scheme, sep, rest = path.partition("://")
        if sep:
            if scheme.lower() not in PROTOCOLS:
                raise ValueError(
                    f"{path!r} is a {scheme}:// URL: S3TorchFileSystem serves "
                    "s3torch://, s3:// and s3a:// URLs and bucket/key paths"
                )
            path = rest
        elif path.startswith("s3torch::"):
            path = path[len("s3torch::") :]
        return path.lstrip("/").rstrip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        return {}

    def _split(self, path: Any) -> tuple[str, str]:
        """``(bucket, key)`` of a path; the key may be empty (the bucket itself)."""
        stripped = self._strip_protocol(path)
        if not stripped:
            raise ValueError(
                f"{path!r} names no bucket: S3 paths are bucket/key (listing all buckets is not "
                "supported)"
            )
        try:
            return parse_s3_uri("s3://" + stripped)
        except ValueError as err:
            raise ValueError(f"invalid S3 path {path!r}: {err}") from None

    @staticmethod
    def _join(bucket: str, key: str) -> str:
        return f"{bucket}/{key}" if key else bucket

    # ---- metadata ----------------------------------------------------------------------------

    def _file_entry(
        self,
        bucket: str,
        key: str,
        size: int,
        etag: str,
        last_modified: int,
        storage_class: str | None,
    ) -> dict[str, Any]:
        return {
            "name": self._join(bucket, key),
            "size": size,
            "type": "file",
            "ETag": etag,
            "LastModified": datetime.datetime.fromtimestamp(last_modified, datetime.timezone.utc),
            "StorageClass": storage_class or "STANDARD",
        }

    def _dir_entry(self, bucket: str, key: str) -> dict[str, Any]:
        return {
            "name": self._join(bucket, key),
            "size": 0,
            "type": "directory",
            "StorageClass": "DIRECTORY",
        }

    def _list(
        self, bucket: str, prefix: str, delimiter: str, max_keys: int = 1000
    ) -> Iterator[Any]:
        yield from self.client.list_objects(bucket, prefix, delimiter, max_keys)

    def _has_children(self, bucket: str, key: str) -> bool:
        for page in self.client.list_objects(bucket, key + "/" if key else "", "", 1):
            return bool(page.object_info or page.common_prefixes)
        return False

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """What is directly under ``path`` (files and inferred directories), or ``[path]``'s
        own entry when it is a file.

        Raises:
            FileNotFoundError: nothing exists under ``path``.
            ValueError: ``path`` has no bucket or is a URL of another protocol.
        """
        bucket, key = self._split(path)
        prefix = key + "/" if key else ""
        entries: list[dict[str, Any]] = []
        for page in self._list(bucket, prefix, "/"):
            for common in page.common_prefixes:
                entries.append(self._dir_entry(bucket, common.rstrip("/")))
            for obj in page.object_info:
                if obj.key == prefix:
                    continue  # the "directory marker" some tools write: the directory itself
                if obj.key.endswith("/"):
                    entries.append(self._dir_entry(bucket, obj.key.rstrip("/")))
                    continue
                entries.append(
                    self._file_entry(
                        bucket, obj.key, obj.size, obj.etag, obj.last_modified, obj.storage_class
                    )
                )
        if not entries and key:
            entries = [self.info(path)]
            if entries[0]["type"] == "directory":
                entries = []  # only a marker, or only deeper keys listed above: an empty dir
        entries.sort(key=lambda entry: entry["name"])
        if detail:
            return entries
        return [entry["name"] for entry in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """The entry of one path: a file (HEAD) or a directory (a prefix some key has).

        Raises:
            FileNotFoundError: no object and no key under the prefix; or no such bucket.
        """
        bucket, key = self._split(path)
        if not key:
            next(iter(self._list(bucket, "", "/", 1)), None)  # raises if there is no bucket
            return self._dir_entry(bucket, "")
        try:
            head = self.client.head_object(bucket, key)
        except FileNotFoundError:
            if self._has_children(bucket, key):
                return self._dir_entry(bucket, key)
            raise
        return self._file_entry(
            bucket, key, head.size, head.etag, head.last_modified, head.storage_class
        )

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether an object, or a key under the prefix, exists at ``path``."""
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def modified(self, path: str) -> datetime.datetime:
        """The last-modified time of the object at ``path`` (UTC)."""
        entry = self.info(path)
        if entry["type"] != "file":
            raise IsADirectoryError(f"{path!r} is a directory: S3 keeps no times for prefixes")
        return entry["LastModified"]  # type: ignore[no-any-return]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Every file under ``path`` (and its directories with ``withdirs``), from one flat
        listing rather than one per directory."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        bucket, key = self._split(path)
        root = self._join(bucket, key)
        prefix = key + "/" if key else ""
        found: dict[str, dict[str, Any]] = {}
        for page in self._list(bucket, prefix, ""):
            for obj in page.object_info:
                relative = obj.key[len(prefix) :]
                parts = relative.split("/")
                is_marker = relative.endswith("/")
                if is_marker:
                    parts = parts[:-1]
                if not parts:
                    continue
                if withdirs:
                    dirs = len(parts) if is_marker else len(parts) - 1
                    for depth in range(1, dirs + 1):
                        if maxdepth is None or depth <= maxdepth:
                            dir_key = prefix + "/".join(parts[:depth])
                            name = self._join(bucket, dir_key)
                            if name not in found:
                                found[name] = self._dir_entry(bucket, dir_key)
                if is_marker or (maxdepth is not None and len(parts) > maxdepth):
                    continue
                entry = self._file_entry(
                    bucket, obj.key, obj.size, obj.etag, obj.last_modified, obj.storage_class
                )
                found[entry["name"]] = entry
        if found and withdirs and key:
            found[root] = self._dir_entry(bucket, key)
        if not found and key:
            with contextlib.suppress(FileNotFoundError):
                entry = self.info(path)
                if entry["type"] == "file":
                    found[root] = entry
        names = sorted(found)
        if detail:
            return {name: found[name] for name in names}
        return names

    # ---- reading -----------------------------------------------------------------------------

    def _start_get(
        self, bucket: str, key: str, start: int | None, end: int | None
    ) -> GetObjectStream:
        return self.client.get_object_stream(bucket, key, start, end)

    def _read_stream(self, path: str, stream: GetObjectStream) -> bytes:
        try:
            return stream.read()
        except S3InvalidRangeError:
            return b""  # a range that starts at or past the end, as a file read there
        except FileNotFoundError:
            bucket, key = self._split(path)
            if key and self._has_children(bucket, key):
                raise IsADirectoryError(f"{path!r} is a directory, not a file") from None
            raise

    def _resolve_range(
        self, path: str, start: Any, end: Any, size: list[int]
    ) -> tuple[int | None, int | None]:
        """Negative offsets count from the end (one HEAD, shared through ``size``)."""
        for name, value in (("start", start), ("end", end)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
        if (start is not None and start < 0) or (end is not None and end < 0):
            if not size:
                size.append(int(self.info(path)["size"]))
            if start is not None and start < 0:
                start = max(0, size[0] + start)
            if end is not None and end < 0:
                end = max(0, size[0] + end)
        if start is not None and end is not None and start > end:
            raise ValueError(f"inverted byte range for {path!r}: start={start} is after end={end}")
        if start == 0:
            start = None
        return start, end

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """The bytes of one object, or of ``[start, end)`` (negative offsets count from the end).

        Raises:
            FileNotFoundError: no such object; IsADirectoryError: ``path`` is a directory.
            ValueError: ``start`` is after ``end``.
        """
        bucket, key = self._split(path)
        start, end = self._resolve_range(path, start, end, [])
        if start is not None and end is not None and start == end:
            return b""
        return self._read_stream(path, self._start_get(bucket, key, start, end))

    def _fetch_many(
        self, requests: Sequence[tuple[str, int | None, int | None]], on_error: str
    ) -> list[Any]:
        """Fetch ``(path, start, end)`` requests with up to ``max_concurrency`` GETs in flight;
        results (bytes, or the exception when ``on_error`` is not ``"raise"``) in order."""

        def open_request(index: int) -> Any:
            path, start, end = requests[index]
            try:
                if start is not None and end is not None and start >= end:
                    return b""
                bucket, key = self._split(path)
                return self._start_get(bucket, key, start, end)
            except Exception as err:  # reported in order, with the others
                return err

        def weight(index: int) -> int:
            _, start, end = requests[index]
            return -1 if end is None else end - (start or 0)

        results: list[Any] = []
        in_order = Prefetcher(
            range(len(requests)),
            open_request,
            weight,
            max_objects=self.max_concurrency,
            max_bytes=_MAX_BYTES_IN_FLIGHT,
            unknown_size=_UNKNOWN_SIZE,
        )
        try:
            for index, opened in enumerate(in_order):
                try:
                    if isinstance(opened, Exception):
                        raise opened
                    if isinstance(opened, bytes):
                        results.append(opened)
                    else:
                        results.append(self._read_stream(requests[index][0], opened))
                except Exception as err:
                    if on_error == "raise":
                        raise
                    results.append(err)
        finally:
            in_order.close()
        return results

    def cat_ranges(
        self,
        paths: list[str],
        starts: int | list[int | None] | None,
        ends: int | list[int | None] | None,
        max_gap: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """The bytes of ``[starts[i], ends[i])`` of ``paths[i]`` for every ``i``, fetched
        concurrently (up to ``max_concurrency`` ranged GETs in flight), in order.

        ``starts``/``ends`` may be one int (or None) for all paths; negative offsets count from
        the end of the object. With ``on_error="return"`` (the default) a failed range gives its
        exception in the list; with ``"raise"`` the first failure is raised.

        Raises:
            TypeError: ``paths`` is not a list, or an offset is not an int.
            ValueError: the lists differ in length, or a range has its start after its end.
        """
        if max_gap is not None:
            raise NotImplementedError("max_gap is not supported: each range is its own GET")
        if not isinstance(paths, list):
            raise TypeError(f"paths must be a list, not {type(paths).__name__}")
        if on_error not in ("raise", "return"):
            raise ValueError(f"on_error={on_error!r}: must be 'raise' or 'return'")
        starts_list = starts if isinstance(starts, list) else [starts] * len(paths)
        ends_list = ends if isinstance(ends, list) else [ends] * len(paths)
        if len(starts_list) != len(paths) or len(ends_list) != len(paths):
            raise ValueError(
                f"cat_ranges got {len(paths)} paths, {len(starts_list)} starts and "
                f"{len(ends_list)} ends: they must be as many"
            )
        sizes: dict[str, list[int]] = {}
        requests = []
        for index, (path, start, end) in enumerate(zip(paths, starts_list, ends_list)):
            try:
                resolved = self._resolve_range(path, start, end, sizes.setdefault(path, []))
            except ValueError as err:
                raise ValueError(f"cat_ranges range {index}: {err}") from None
            requests.append((path, *resolved))
        return self._fetch_many(requests, on_error)

    def cat(
        self, path: Any, recursive: bool = False, on_error: str = "raise", **kwargs: Any
    ) -> Any:
        """The bytes of one object, or ``{path: bytes}`` of many (a list, a glob, or a
        directory with ``recursive=True``), fetched with many GETs in flight.

        ``on_error``: ``"raise"`` the first failure, ``"omit"`` failed paths, or ``"return"``
        their exceptions as values.
        """
        if on_error not in ("raise", "omit", "return"):
            raise ValueError(f"on_error={on_error!r}: must be 'raise', 'omit' or 'return'")
        paths = self.expand_path(path, recursive=recursive)
        if (
            len(paths) == 1
            and not isinstance(path, list)
            and paths[0] == self._strip_protocol(path)
        ):
            return self.cat_file(paths[0])
        if recursive:
            # expand_path lists the directories too (a path that others lie under): only
            # objects have contents.
            listed = sorted(paths)
            paths = [
                p
                for i, p in enumerate(listed)
                if not (i + 1 < len(listed) and listed[i + 1].startswith(p + "/"))
            ]
        results = self._fetch_many(
            [(p, None, None) for p in paths], "raise" if on_error == "raise" else "return"
        )
        out: dict[str, Any] = {}
        for p, result in zip(paths, results):
            if isinstance(result, Exception) and on_error == "omit":
                continue
            out[p] = result
        return out

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        normal = _MODES.get(mode) or _EXCLUSIVE_MODES.get(mode)
        if normal is None:
            raise ValueError(
                f"unsupported mode {mode!r} for {path!r}: S3TorchFileSystem opens files with "
                "'rb'/'r' (read), 'wb'/'w' (write) or 'xb'/'x' (write a new object)"
            )
        bucket, key = self._split(path)
        if not key:
            raise IsADirectoryError(f"{path!r} is a bucket, not a file")
        if normal == "rb":
            entry = self.info(path)
            if entry["type"] != "file":
                raise IsADirectoryError(f"{path!r} is a directory, not a file")
            return S3TorchReadFile(
                self,
                self._join(bucket, key),
                block_size=block_size if block_size is not None else self.default_block_size,
                cache_type=kwargs.pop("cache_type", self.default_cache_type),
                cache_options=cache_options,
                size=entry["size"],
                details=entry,
            )
        if normal == "xb" and self.exists(path):
            raise FileExistsError(f"{path!r} already exists (mode {mode!r} writes a new object)")
        storage_class = kwargs.pop("storage_class", None)
        return S3TorchWriteFile(self, self._join(bucket, key), storage_class, autocommit)

    def open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Open ``path`` for reading (``"rb"``, ``"r"``) or writing (``"wb"``, ``"w"``; ``"xb"``,
        ``"x"`` refuse an existing object).

        Reading fetches ``block_size`` bytes (default 32 MiB) ahead with each ranged GET.
        Writing streams the bytes to S3 as they are written (multipart once they exceed a
        part); the object appears when the file is closed. If the ``with`` block writing it
        raises, or the file is closed while an exception that arose after it was opened is on
        its way up (as when PyArrow's writer fails), the upload is aborted: no object appears
        and a previous object under the key stays as it was.

        Raises:
            ValueError: any other mode (append, update), or a bad path.
            FileNotFoundError: reading a missing object; IsADirectoryError: a directory.
            FileExistsError: ``"xb"`` onto an existing object (checked before the upload; two
                writers racing may both succeed).
        """
        if not isinstance(mode, str):
            raise TypeError(f"mode must be a str, not {type(mode).__name__}")
        if mode not in _MODES and mode not in _EXCLUSIVE_MODES:
            raise ValueError(
                f"unsupported mode {mode!r} for {path!r}: S3TorchFileSystem opens files with "
                "'rb'/'r' (read), 'wb'/'w' (write) or 'xb'/'x' (write a new object)"
            )
        return super().open(
            path,
            mode,
            block_size=block_size,
            cache_options=cache_options,
            compression=compression,
            **kwargs,
        )

    # ---- writing -----------------------------------------------------------------------------

    def pipe_file(self, path: str, value: Any, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write ``value`` (bytes-like) as the object at ``path``.

        ``mode="create"`` refuses an existing object with :class:`FileExistsError` (checked
        before the upload, not atomically).
        """
        if mode not in ("overwrite", "create"):
            raise ValueError(f"mode={mode!r}: must be 'overwrite' or 'create'")
        _, key = self._split(path)
        if not key:
            raise IsADirectoryError(f"{path!r} is a bucket, not a file")
        if mode == "create" and self.exists(path):
            raise FileExistsError(f"{path!r} already exists (mode='create')")
        # Through open(), so that inside a transaction the object waits for its commit.
        with self.open(path, "wb", storage_class=kwargs.get("storage_class")) as writer:
            writer.write(value)

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        """Write an empty object at ``path`` (S3 cannot update a timestamp alone)."""
        if not truncate and self.exists(path):
            raise NotImplementedError("S3 cannot update an object's time without rewriting it")
        self.pipe_file(path, b"")

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Does nothing: S3 directories are prefixes, there once an object is under them."""
        self._split(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Does nothing, like :meth:`mkdir`."""
        self._split(path)

    def rmdir(self, path: str) -> None:
        """Does nothing: a directory goes away with its last object."""
        self._split(path)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy one object server-side (no bytes pass through this process); a directory
        source does nothing (S3 has no directories to copy, only the objects under them)."""
        src_bucket, src_key = self._split(path1)
        dst_bucket, dst_key = self._split(path2)
        if not src_key:
            raise IsADirectoryError(f"{path1!r} is a bucket, not a file")
        if not dst_key:
            raise IsADirectoryError(f"{path2!r} is a bucket, not a file")
        try:
            self.client.copy_object(src_bucket, src_key, dst_bucket, dst_key)
        except FileNotFoundError:
            if self._has_children(src_bucket, src_key):
                return  # a directory: it exists at the target once its files are copied
            raise

    def rm_file(self, path: str) -> None:
        """Delete one object (a missing one is not an error, as in S3)."""
        bucket, key = self._split(path)
        if key:
            self.client.delete_object(bucket, key)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects: ``path`` (a path, a glob or a list), and with ``recursive=True``
        everything under it; deletes run concurrently.

        Raises:
            FileNotFoundError: nothing matches ``path``.
        """
        paths = sorted(self.expand_path(path, recursive=recursive, maxdepth=maxdepth))
        # A path that others lie under is a directory: its marker object ("key/"), which some
        # tools write and some stores (SeaweedFS) keep as an empty directory, goes after them.
        directories = [
            p
            for i, p in enumerate(paths)
            if i + 1 < len(paths) and paths[i + 1].startswith(p + "/")
        ]
        keys = [self._split(p) for p in paths]
        markers = [(bucket, key + "/") for bucket, key in map(self._split, reversed(directories))]
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(keys)))) as pool:
            for done in pool.map(lambda bucket_key: self._delete(*bucket_key), keys):
                del done
        for bucket, key in markers:
            self._delete(bucket, key)

    def _delete(self, bucket: str, key: str) -> None:
        if key:
            self.client.delete_object(bucket, key)

    def get(
        self,
        rpath: Any,
        lpath: Any,
        recursive: bool = False,
        callback: Any = fsspec.callbacks.DEFAULT_CALLBACK,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Download objects to local files, as fsspec's ``get`` (same paths, globs and
        ``recursive``), with up to 16 downloads running at once."""
        with self._transfers():
            super().get(
                rpath, lpath, recursive=recursive, callback=callback, maxdepth=maxdepth, **kwargs
            )

    def put(
        self,
        lpath: Any,
        rpath: Any,
        recursive: bool = False,
        callback: Any = fsspec.callbacks.DEFAULT_CALLBACK,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Upload local files, as fsspec's ``put`` (same paths, globs and ``recursive``), with
        up to 16 uploads running at once."""
        with self._transfers():
            super().put(
                lpath, rpath, recursive=recursive, callback=callback, maxdepth=maxdepth, **kwargs
            )

    @contextlib.contextmanager
    def _transfers(self) -> Iterator[None]:
        """While active in this thread, ``get_file``/``put_file`` run on a pool of threads;
        leaving waits for all of them and raises the first failure, in the order of the files.
        (fsspec's ``get``/``put`` work out the pairs of paths and call them one at a time.)"""
        if getattr(self._local, "pool", None) is not None:
            yield  # already inside a batch
            return
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=_TRANSFER_THREADS) as pool:
            self._local.pool, self._local.futures = pool, futures
            try:
                yield
            finally:
                self._local.pool = self._local.futures = None
        for future in futures:
            future.result()

    def _submitted(self, work: Any, *args: Any) -> bool:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            return False
        self._local.futures.append(pool.submit(work, *args))
        return True

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = None, outfile: Any = None, **kwargs: Any
    ) -> None:
        """Download one object to the local file ``lpath`` (a directory makes a local one);
        a failed download leaves no partial file."""
        if outfile is None and fsspec.utils.isfilelike(lpath):
            outfile = lpath
        if outfile is None and self._submitted(self._get_file, rpath, lpath, None):
            return
        self._get_file(rpath, lpath, outfile)

    def _get_file(self, rpath: str, lpath: Any, outfile: Any) -> None:
        bucket, key = self._split(rpath)
        stream = self._start_get(bucket, key, None, None)
        try:
            first = next(stream, None)
        except FileNotFoundError:
            if key and self._has_children(bucket, key):
                if outfile is None:
                    os.makedirs(lpath, exist_ok=True)
                return
            raise
        except S3InvalidRangeError:
            first = None
        if outfile is not None:
            _copy_stream(first, stream, outfile)
            return
        local = os.fspath(lpath)
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        try:
            with open(local, "wb") as handle:
                _copy_stream(first, stream, handle)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(local)
            raise

    def put_file(
        self, lpath: Any, rpath: str, callback: Any = None, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        """Upload the local file ``lpath`` as the object ``rpath`` (a local directory is
        skipped: S3 has none); a failed upload leaves no object."""
        if os.path.isdir(lpath):
            return
        _, key = self._split(rpath)
        if not key:
            raise IsADirectoryError(f"{rpath!r} is a bucket, not a file")
        if mode == "create" and self.exists(rpath):
            raise FileExistsError(f"{rpath!r} already exists (mode='create')")
        if not self._submitted(self._put_file, lpath, rpath):
            self._put_file(lpath, rpath)

    def _put_file(self, lpath: Any, rpath: str) -> None:
        bucket, key = self._split(rpath)
        with open(lpath, "rb") as source, self.client.put_object(bucket, key) as writer:
            shutil.copyfileobj(source, writer, _COPY_CHUNK)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Does nothing: listings are never cached."""

    def created(self, path: str) -> datetime.datetime:
        """S3 keeps no creation time: the last-modified time of the object."""
        return self.modified(path)

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        raise NotImplementedError("presigned URLs are not supported")


def _copy_stream(first: Any, stream: Iterable[Any], handle: Any) -> None:
    if first is None:
        return
    handle.write(first)
    for chunk in stream:
        handle.write(chunk)


def _rebuild_filesystem(
    cls: type[S3TorchFileSystem], client: S3Client, settings: dict[str, Any]
) -> S3TorchFileSystem:
    return cls(client=client, **settings)
