"""How :class:`~s3torch.fsspec.S3TorchFileSystem` moves whole files between S3 and the local
disk: one download (``get_file``), one upload (``put_file``), and the pool that runs many at once
inside ``get`` and ``put``.

fsspec's ``get``/``put`` work out the pairs of paths and call ``get_file``/``put_file`` one at a
time; while a :meth:`TransferPool.batch` is open in the calling thread, those calls only hand
their transfer to the pool, and leaving the batch waits for all of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._errors import S3InvalidRangeError
from ._listing import has_children

if TYPE_CHECKING:
    from ._filesystem import S3TorchFileSystem

_COPY_CHUNK = 8 * 1024 * 1024
_TRANSFER_THREADS = 16  # files that get/put move at once (the GIL is free while they wait)


class TransferPool:
    """The threads a ``get`` or ``put`` moves its files on, one batch per calling thread."""

    def __init__(self) -> None:
        self._local = threading.local()  # the pool and futures of the batch in this thread

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """While open in this thread, :meth:`run` runs work on a pool of threads; leaving waits
        for all of it and raises the first failure, in the order it was handed in."""
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

    def run(self, work: Any, *args: Any) -> None:
        """Run ``work(*args)`` on the pool of this thread's batch, or at once outside one."""
        pool = getattr(self._local, "pool", None)
        if pool is None:
            work(*args)
        else:
            self._local.futures.append(pool.submit(work, *args))


def download(fs: S3TorchFileSystem, rpath: str, lpath: Any, outfile: Any) -> None:
    """Download ``rpath`` into ``outfile``, or else into a new local file ``lpath`` that a
    failure removes; a directory ``rpath`` makes the local directory."""
    bucket, key = fs._split(rpath)
    stream = fs._start_get(bucket, key, None, None)
    try:
        first = next(stream, None)
    except FileNotFoundError:
        if key and has_children(fs.client, bucket, key):
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


def upload(fs: S3TorchFileSystem, lpath: Any, rpath: str) -> None:
    """Upload the local file ``lpath`` as ``rpath``: no object appears if it fails."""
    bucket, key = fs._split(rpath)
    with open(lpath, "rb") as source, fs.client.put_object(bucket, key) as writer:
        shutil.copyfileobj(source, writer, _COPY_CHUNK)


def _copy_stream(first: Any, stream: Iterable[Any], handle: Any) -> None:
    if first is None:
        return
    handle.write(first)
    for chunk in stream:
        handle.write(chunk)
