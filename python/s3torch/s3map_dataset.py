"""A map-style dataset over S3 objects: :class:`S3MapDataset`."""

from __future__ import annotations

import logging
import operator
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch.utils.data

from ._config import S3ClientConfig
from ._datasets.constructors import build_from, build_from_prefix
from ._datasets.listing import DEFAULT_LIST_CONCURRENCY
from ._datasets.metrics import now_ns
from ._datasets.objects import ObjectsDataset, identity, manifest_source
from ._datasets.prefetch import DEFAULT_PREFETCH_BYTES, DEFAULT_PREFETCH_OBJECTS
from ._datasets.source import ObjectSource
from .s3reader import S3Reader, S3ReaderConstructorProtocol

__all__ = ["S3MapDataset"]

log = logging.getLogger(__name__)


class S3MapDataset(ObjectsDataset, torch.utils.data.Dataset[Any]):
    """A map-style dataset: item ``i`` is ``transform(reader of the i-th object)``.

    Make one with :meth:`from_prefix` (every object under one or more ``s3://`` prefixes, in
    key order) or :meth:`from_objects` (the objects named, in the order given). It works with
    any sampler, including ``DistributedSampler``.

    The objects are listed once, on first use (``len(dataset)``, an item, or pickling the
    dataset into DataLoader workers), and the listing travels with the dataset into the
    workers, so they never list again. When a DataLoader fetches a batch, :meth:`__getitems__`
    starts the batch's GETs together, bounded by ``prefetch_objects`` and ``prefetch_bytes``.

    Example::

        from s3torch import S3MapDataset

        dataset = S3MapDataset.from_prefix(
            "s3://my-bucket/images/", region="us-east-1", transform=lambda r: r.read()
        )
        print(len(dataset), len(dataset[0]))

    Args:
        region: region of the bucket(s); None finds it the AWS way (see :class:`S3Client`).
        get_dataset_objects: ``function(client)`` returning objects with ``bucket``, ``key``
            and optionally ``object_info`` (as in s3torchconnector); the class methods build
            this for you.
        endpoint: URL of an S3-compatible endpoint; None finds it the AWS way.
        transform: turns an :class:`S3Reader` into the item; the default returns the reader.
        s3client_config: client settings (:class:`S3ClientConfig`).
        reader_constructor: how objects are read (:class:`S3ReaderConstructor`); default
            sequential.
        prefetch_objects: most GETs a batch keeps in flight at once (0: one at a time).
        prefetch_bytes: most bytes (by listed size) those GETs may add up to; one object is
            always allowed however large.
        cache_dir: a local directory where a stable subset of the objects is kept across
            epochs (see "Many epochs" in the datasets guide); several workers and ranks on a
            host may share it. None (default): no cache.
        cache_size: the most bytes the cache may hold; required with ``cache_dir``.

    Raises:
        TypeError: ``cache_dir`` without ``cache_size`` or the reverse, or of the wrong type.
        ValueError: ``cache_size`` below 1.
    """

    @classmethod
    def from_prefix(
        cls,
        s3_uri: str | Iterable[str],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
        list_concurrency: int | None = DEFAULT_LIST_CONCURRENCY,
        share_listing: bool = False,
    ) -> S3MapDataset:
        """A dataset of every object under ``s3_uri`` (``s3://bucket/prefix``), or under each
        of several such URIs, in order; a prefix inside another one is listed once.

        ``list_concurrency`` and ``share_listing``: see
        :meth:`S3IterableDataset.from_prefix`.

        The other arguments are those of :class:`S3MapDataset`.

        Raises:
            ValueError: a URI is not a valid ``s3://`` URI, or ``list_concurrency`` is not a
                positive int.
            S3Exception: listing failed (on first use, or now with ``share_listing``).
        """
        log.debug("S3MapDataset.from_prefix(%r)", s3_uri)
        return build_from_prefix(cls, locals())

    @classmethod
    def from_objects(
        cls,
        object_uris: str | Iterable[str],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
    ) -> S3MapDataset:
        """A dataset of the objects named by ``object_uris`` (``s3://bucket/key`` each), in
        the order given. Nothing is listed; a reader asks for an object's size (HEAD) only if
        it needs it.

        The other arguments are those of :class:`S3MapDataset`.

        Raises:
            ValueError: a URI is invalid or has no key.
        """
        return build_from(cls, ObjectSource.from_uris(object_uris), locals(), "object_uris")

    @classmethod
    def from_manifest(
        cls,
        manifest: str | os.PathLike[str],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
    ) -> S3MapDataset:
        """A dataset of the objects recorded in a manifest (a local path or an
        ``s3://bucket/key`` URI) by :meth:`save_manifest`: nothing is listed. The manifest is
        read now. The other arguments are those of :meth:`from_prefix`.

        Raises:
            ValueError: the manifest is truncated, corrupt, of another version, or not a
                manifest; the message names it.
            OSError, S3Exception: it cannot be read.
        """
        return build_from(
            cls, manifest_source(manifest, region, endpoint, s3client_config), locals(), "manifest"
        )

    def _index(self, i: Any) -> int:
        index = operator.index(i)
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(f"S3MapDataset index {i} is out of range for {size} objects")
        return index

    def __getitem__(self, i: int) -> Any:
        """``transform(reader)`` for object ``i`` (negative ``i`` counts from the end).

        Raises:
            IndexError: ``i`` is out of range.
            S3Exception: from the transform's reads (e.g. the object is gone).
        """
        start = now_ns()
        item = self._transform(self._objects.open_reader(self._index(i)))
        self._objects.metrics.waited(0, now_ns() - start)
        return item

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """The items at ``indices``, their GETs started together (DataLoader calls this for
        each batch)."""
        metrics = self._objects.metrics
        start = now_ns()
        positions = [self._index(i) for i in indices]
        prefetcher = self._objects.readers(positions)
        items = []
        try:
            for reader in prefetcher:
                items.append(self._transform(reader))
                end = now_ns()
                metrics.waited(0, end - start)
                start = end
        finally:
            prefetcher.close()
        return items

    def metrics(self) -> dict[str, float]:
        """This dataset's figures, summed over this process and its DataLoader workers, as a
        flat dict: ``cache.hits``, ``cache.misses`` (objects read from S3),
        ``cache.bytes_from_cache``, ``cache.bytes_from_s3``, ``cache.stale`` and
        ``cache.corrupt`` (entries found unfit and fetched again), ``cache.write_failures``;
        and how long each item took to get (reads and transform): ``wait.0.samples``,
        ``wait.0.total_s``, ``wait.0.p50_s``, ``wait.0.p95_s``, ``wait.0.p99_s``,
        ``wait.0.max_s`` (a map-style dataset has no epochs: all under 0). Workers report
        every 1024 items and when they finish.
        """
        return self._objects.metrics.snapshot()

    def __len__(self) -> int:
        """The number of objects (lists them on first call)."""
        return len(self._objects.table())

    def __repr__(self) -> str:
        count = len(self._objects.table()) if self._objects.listed else "unlisted"
        return f"S3MapDataset({count} objects, region={self.region!r})"
