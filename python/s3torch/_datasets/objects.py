"""What every S3 dataset keeps and how it opens its objects: :class:`DatasetObjects`; and
:class:`ObjectsDataset`, the construction and accessors that the map-style and iterable datasets
share."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .._checks import check_int
from .cache import CachedReader, FillingReader, ObjectCache, cache_stream
from .clients import dataset_client
from .manifest import dump_manifest, load_manifest, read_location, write_location
from .metrics import DatasetMetrics
from .prefetch import DEFAULT_PREFETCH_BYTES, DEFAULT_PREFETCH_OBJECTS, Prefetcher
from .shared_listing import shared_table
from .source import ObjectSource
from .table import ObjectRow, ObjectTable, TableBuilder

if TYPE_CHECKING:
    from .._client import S3Client
    from .._config import S3ClientConfig
    from .._core import ObjectInfo
    from ..s3reader import S3Reader, S3ReaderConstructorProtocol

__all__ = ["DatasetObjects", "ObjectsDataset", "identity", "manifest_source"]

T = TypeVar("T")


def identity(obj: T) -> T:
    """The default transform: hand the reader to the caller as it is."""
    return obj


def _started(reader: Any) -> Any:
    prefetch = getattr(reader, "prefetch", None)
    if prefetch is not None:
        prefetch()
    return reader


def _row_size(row: ObjectRow) -> int:
    return row.size


def manifest_source(
    location: Any,
    region: str | None,
    endpoint: str | None,
    s3client_config: Any,
    key_filter: Any = None,
) -> ObjectSource:
    """The objects of the manifest at ``location`` (a path, or an ``s3://`` URI read with a
    client of these settings).

    Raises:
        ValueError: the manifest is truncated, corrupt or not a manifest (naming it).
        OSError, S3Exception: it cannot be read.
    """

    def client() -> S3Client:
        return dataset_client(region, endpoint, s3client_config)

    table, header = load_manifest(read_location(location, client), str(location))
    return ObjectSource.from_table(table, header["prefixes"], key_filter)


class DatasetObjects:
    """A dataset's objects: where they are, how to read them, and the client that reads them.

    The listing is made once, on first use, and travels with the dataset when it is pickled
    into DataLoader workers (pickling lists first, so that spawned workers never list). The
    client is built per process, on first use.
    """

    def __init__(
        self,
        source: ObjectSource,
        region: str | None,
        endpoint: str | None,
        s3client_config: Any,
        reader_constructor: Any,
        prefetch_objects: int,
        prefetch_bytes: int,
        cache_dir: Any = None,
        cache_size: Any = None,
    ) -> None:
        if region is not None and not isinstance(region, str):
            raise TypeError(f"region must be a str or None, not {type(region).__name__}")
        if endpoint is not None and not isinstance(endpoint, str):
            raise TypeError(f"endpoint must be a str or None, not {type(endpoint).__name__}")
        if reader_constructor is not None and not callable(reader_constructor):
            raise TypeError(
                f"reader_constructor must be callable, not {type(reader_constructor).__name__}"
            )
        self.source = source
        self.region = region
        self.endpoint = endpoint
        self.s3client_config = s3client_config
        self.reader_constructor = reader_constructor
        self.prefetch_objects = check_int("prefetch_objects", prefetch_objects, minimum=0)
        self.prefetch_bytes = check_int("prefetch_bytes", prefetch_bytes, minimum=0)
        self.metrics = DatasetMetrics()
        if cache_dir is None:
            if cache_size is not None:
                raise TypeError("cache_size is given without cache_dir: say where to cache")
            self.cache: ObjectCache | None = None
        else:
            self.cache = ObjectCache(cache_dir, cache_size, self.metrics)
        self._table: ObjectTable | None = source.listed_table
        self._cache_ready = False
        self._client: S3Client | None = None
        if source.share_listing and self._table is None:
            # A collective: every rank builds the dataset now, and rank 0 lists for all.
            self._table = shared_table(lambda: source.table(self.client()), source.prefix_uris)
        elif self._table is None:
            # The process lists through a client anyway (before pickling into workers, too):
            # take it now, from the process's pool, so that a dataset built again with these
            # settings (a new one each epoch or trial) finds it built. A bad setting raises
            # where it always did, at first use.
            try:
                self.client()
            except Exception:
                self._client = None

    def client(self) -> S3Client:
        if self._client is None:
            self._client = dataset_client(self.region, self.endpoint, self.s3client_config)
        return self._client

    def table(self) -> ObjectTable:
        """The listing, made now if it is not made yet."""
        if self._table is None:
            self._table = self.source.table(self.client())
        if self.cache is not None and not self._cache_ready:
            import torch.utils.data

            self._cache_ready = True
            self.cache.prepare(self._table, evict=torch.utils.data.get_worker_info() is None)
        return self._table

    @property
    def listed(self) -> bool:
        return self._table is not None

    def open_reader(self, i: int) -> Any:
        """A reader for object ``i`` of the table (no request sent yet): from the cache when
        it keeps the object."""
        table = self.table()
        cache = self.cache
        if cache is None:
            info = table.object_info(i)
            return self._open(table.bucket(i), table.key(i) if info is None else info.key, info)
        row = table.row(i)
        metrics = self.metrics
        if cache.admitted(i):
            data = cache.load(row)
            if data is not None:
                metrics.add("cache.hits")
                metrics.add("cache.bytes_from_cache", len(data))
                return CachedReader(row.bucket, row.key, data)
            metrics.add("cache.misses")
            metrics.add("cache.bytes_from_s3", row.size)
            client = self.client()
            return FillingReader(row, lambda: client.get_object_stream(row.bucket, row.key), cache)
        metrics.add("cache.misses")
        metrics.add("cache.bytes_from_s3", max(row.size, 0))
        return self._reader(row)

    def _reader(self, row: ObjectRow) -> Any:
        return self._open(row.bucket, row.key, row.object_info())

    def _open(self, bucket: str, key: str, info: ObjectInfo | None) -> Any:
        return self.client().get_object(
            bucket, key, object_info=info, reader_constructor=self.reader_constructor
        )

    def _started_reader(self, i: int) -> Any:
        return _started(self.open_reader(i))

    def _started_row(self, row: ObjectRow) -> Any:
        return _started(self._reader(row))

    def _stream(self, i: int) -> Any:
        table = self.table()
        client = self.client()
        cache = self.cache
        if cache is None:
            return client.get_object_stream(table.bucket(i), table.key(i))
        row = table.row(i)
        if cache.admitted(i):
            return cache_stream(
                cache, row, lambda: client.get_object_stream(row.bucket, row.key), self.metrics
            )
        self.metrics.add("cache.misses")
        self.metrics.add("cache.bytes_from_s3", max(row.size, 0))
        return client.get_object_stream(row.bucket, row.key)

    def readers(
        self, indices: Iterable[int], max_objects: int | None = None
    ) -> Prefetcher[int, Any]:
        """Readers for ``indices`` of the table, GETs started ahead within the bounds."""
        limit = self.prefetch_objects if max_objects is None else max_objects
        return self._prefetcher(indices, self._started_reader, self.table().size, limit)

    def row_readers(self, rows: Iterable[ObjectRow]) -> Prefetcher[ObjectRow, Any]:
        """Readers for ``rows``, GETs started ahead within the bounds."""
        return self._prefetcher(rows, self._started_row, _row_size, self.prefetch_objects)

    def streams(self, indices: Iterable[int]) -> Prefetcher[int, Any]:
        """Whole-object GET streams (buffers as they arrive) for ``indices`` of the table,
        started ahead within the bounds."""
        return self._prefetcher(indices, self._stream, self.table().size, self.prefetch_objects)

    def _prefetcher(
        self, items: Iterable[T], open_item: Any, size_of: Any, max_objects: int
    ) -> Prefetcher[T, Any]:
        return Prefetcher(
            items,
            open_item,
            size_of,
            max_objects,
            self.prefetch_bytes,
            unknown_size=self._unknown_size(),
        )

    @property
    def streams_listing(self) -> bool:
        """Whether an unshuffled pass may start before the listing ends: not with a cache,
        whose subset is chosen from the whole listing."""
        return self.cache is None

    def stream_rows(self) -> Iterator[ObjectRow]:
        """The listing as it arrives (the table's rows if already listed). A listing read to
        its end becomes the table, so later epochs do not list again."""
        if self._table is not None:
            yield from map(self._table.row, range(len(self._table)))
            return
        builder = TableBuilder()
        for row in self.source.rows(self.client()):
            builder.add(row)
            yield row
        if self._table is None:
            self._table = builder.finish()

    def save_manifest(self, location: Any) -> None:
        """Save the listing (listing now if need be) to a path or an ``s3://`` URI."""
        data = dump_manifest(self.table(), self.source.prefix_uris)
        write_location(location, data, self.client)

    def _unknown_size(self) -> int:
        # A GET of unknown size holds at most about one part's worth of buffers at a time.
        part_size = getattr(self.s3client_config, "part_size", None)
        return part_size if isinstance(part_size, int) else 8 * 1024 * 1024

    def __getstate__(self) -> dict[str, Any]:
        self.table()
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class ObjectsDataset:
    """The part of :class:`~s3torch.S3MapDataset` and :class:`~s3torch.S3IterableDataset`
    that is the same in both: building their :class:`DatasetObjects` from the constructor's
    arguments (this ``__init__`` is the map-style dataset's; the iterable one adds its epoch
    state), the transform, and the accessors and manifest saving over those objects."""

    def __init__(
        self,
        region: str | None,
        get_dataset_objects: Callable[[Any], Iterable[Any]] | ObjectSource,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        *,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
    ) -> None:
        if not callable(transform):
            raise TypeError(f"transform must be callable, not {type(transform).__name__}")
        source = (
            get_dataset_objects
            if isinstance(get_dataset_objects, ObjectSource)
            else ObjectSource.from_callable(get_dataset_objects)
        )
        self._objects = DatasetObjects(
            source,
            region,
            endpoint,
            s3client_config,
            reader_constructor,
            prefetch_objects,
            prefetch_bytes,
            cache_dir,
            cache_size,
        )
        self._transform = transform

    def save_manifest(self, manifest: str | os.PathLike[str]) -> None:
        """Save the listing (listing the objects now if they are not listed yet) as a manifest
        at a local path or an ``s3://bucket/key`` URI, for :meth:`from_manifest`: later jobs,
        or the other ranks of this one, then start without listing. A local file is written
        atomically (a temporary file renamed over it).

        Raises:
            S3Exception, OSError: listing or writing failed.
        """
        self._objects.save_manifest(manifest)

    @property
    def region(self) -> str | None:
        """The region given at construction (None: found the AWS way)."""
        return self._objects.region

    @property
    def endpoint(self) -> str | None:
        """The endpoint given at construction (None: found the AWS way)."""
        return self._objects.endpoint
