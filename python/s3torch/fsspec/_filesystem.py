"""The filesystem class, :class:`~s3torch.fsspec.S3TorchFileSystem`: the methods fsspec calls,
with the signatures and docstrings users read, its settings and its pickling.

Its methods are thin: each hands its work to the module that owns it, so the class reads as a
map of the filesystem. ``_paths.py`` has the path rules; ``_listing.py`` ``ls``, ``info`` and
``find``; ``_reads.py`` ``cat_file``, ``cat_ranges`` and ``cat``; ``_files.py`` the file objects
``open`` makes; ``_writes.py`` ``pipe_file``, ``cp_file`` and ``rm``; ``_transfers.py`` ``get``
and ``put``; ``_options.py`` the storage options and the client. ``_start_get``,
``_read_stream``, ``_get_file`` and ``_put_file`` stay methods: they are where every GET starts
and every transfer runs, which a subclass can watch.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.spec import AbstractFileSystem  # type: ignore[import-untyped]

from .._client import S3Client
from .._config import S3ClientConfig
from .._core import GetObjectStream
from . import _files, _listing, _reads, _transfers, _writes
from ._options import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    _base_options,
    _build_client,
    _check_settings,
    _InstanceCache,
)
from ._paths import PROTOCOLS, split, strip_protocol


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
        super().__init__(**_base_options(options))
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
        self._settings = _check_settings(default_block_size, default_cache_type, max_concurrency)
        self.default_block_size: int = self._settings["default_block_size"]
        self.default_cache_type: str = self._settings["default_cache_type"]
        self.max_concurrency: int = self._settings["max_concurrency"]
        self._transfer_pool = _transfers.TransferPool()  # the threads get/put move files on

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
        return strip_protocol(path)

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        return {}

    def _split(self, path: Any) -> tuple[str, str]:
        """``(bucket, key)`` of a path; the key may be empty (the bucket itself)."""
        return split(path, self._strip_protocol(path))

    # ---- metadata ----------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """What is directly under ``path`` (files and inferred directories), or ``[path]``'s
        own entry when it is a file.

        Raises:
            FileNotFoundError: nothing exists under ``path``.
            ValueError: ``path`` has no bucket or is a URL of another protocol.
        """
        return _listing.ls(self, path, detail)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """The entry of one path: a file (HEAD) or a directory (a prefix some key has).

        Raises:
            FileNotFoundError: no object and no key under the prefix; or no such bucket.
        """
        return _listing.info(self, path)

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether an object, or a key under the prefix, exists at ``path``."""
        return _listing.exists(self, path)

    def modified(self, path: str) -> datetime.datetime:
        """The last-modified time of the object at ``path`` (UTC)."""
        return _listing.modified(self, path)

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
        return _listing.find(self, path, maxdepth, withdirs, detail)

    # ---- reading -----------------------------------------------------------------------------

    def _start_get(
        self, bucket: str, key: str, start: int | None, end: int | None
    ) -> GetObjectStream:
        return self.client.get_object_stream(bucket, key, start, end)

    def _read_stream(self, path: str, stream: GetObjectStream) -> bytes:
        return _reads.read_stream(self, path, stream)

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """The bytes of one object, or of ``[start, end)`` (negative offsets count from the end).

        Raises:
            FileNotFoundError: no such object; IsADirectoryError: ``path`` is a directory.
            ValueError: ``start`` is after ``end``.
        """
        return _reads.cat_file(self, path, start, end)

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
        return _reads.cat_ranges(self, paths, starts, ends, max_gap, on_error)

    def cat(
        self, path: Any, recursive: bool = False, on_error: str = "raise", **kwargs: Any
    ) -> Any:
        """The bytes of one object, or ``{path: bytes}`` of many (a list, a glob, or a
        directory with ``recursive=True``), fetched with many GETs in flight.

        ``on_error``: ``"raise"`` the first failure, ``"omit"`` failed paths, or ``"return"``
        their exceptions as values.
        """
        return _reads.cat(self, path, recursive, on_error)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        return _files.open_file(self, path, mode, block_size, autocommit, cache_options, kwargs)

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
        _files.binary_mode(path, mode)  # refused here, before fsspec wraps a text mode
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
        _writes.pipe_file(self, path, value, mode, kwargs)

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        """Write an empty object at ``path`` (S3 cannot update a timestamp alone)."""
        _writes.touch(self, path, truncate)

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
        _writes.cp_file(self, path1, path2)

    def rm_file(self, path: str) -> None:
        """Delete one object (a missing one is not an error, as in S3)."""
        _writes.rm_file(self, path)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects: ``path`` (a path, a glob or a list), and with ``recursive=True``
        everything under it; deletes run concurrently.

        Raises:
            FileNotFoundError: nothing matches ``path``.
        """
        _writes.rm(self, path, recursive, maxdepth)

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
        with self._transfer_pool.batch():
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
        with self._transfer_pool.batch():
            super().put(
                lpath, rpath, recursive=recursive, callback=callback, maxdepth=maxdepth, **kwargs
            )

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = None, outfile: Any = None, **kwargs: Any
    ) -> None:
        """Download one object to the local file ``lpath`` (a directory makes a local one);
        a failed download leaves no partial file."""
        if outfile is None and fsspec.utils.isfilelike(lpath):
            outfile = lpath
        if outfile is None:
            self._transfer_pool.run(self._get_file, rpath, lpath, None)
        else:
            self._get_file(rpath, lpath, outfile)

    def _get_file(self, rpath: str, lpath: Any, outfile: Any) -> None:
        _transfers.download(self, rpath, lpath, outfile)

    def put_file(
        self, lpath: Any, rpath: str, callback: Any = None, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        """Upload the local file ``lpath`` as the object ``rpath`` (a local directory is
        skipped: S3 has none); a failed upload leaves no object."""
        if os.path.isdir(lpath):
            return
        _writes.check_target(self, rpath, mode)
        self._transfer_pool.run(self._put_file, lpath, rpath)

    def _put_file(self, lpath: Any, rpath: str) -> None:
        _transfers.upload(self, lpath, rpath)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Does nothing: listings are never cached."""

    def created(self, path: str) -> datetime.datetime:
        """S3 keeps no creation time: the last-modified time of the object."""
        return self.modified(path)

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        raise NotImplementedError("presigned URLs are not supported")


def _rebuild_filesystem(
    cls: type[S3TorchFileSystem], client: S3Client, settings: dict[str, Any]
) -> S3TorchFileSystem:
    return cls(client=client, **settings)
