"""What the datasets share: finding the objects, sharding, epoch order, and prefetching.

Policy lives here, in plain Python; every byte is moved by the native client.

- :class:`ObjectTable` holds a listing compactly (one ``bytes`` blob for the keys, ``array``s for
  sizes), so that forked DataLoader workers do not copy it page by page as they touch
  reference counts, and spawned workers unpickle it in one piece.
- :class:`ObjectSource` says where the objects come from (prefixes, explicit URIs, or the
  incumbent's ``get_dataset_objects`` callable); a dataset lists it once, lazily.
- :func:`shard_positions` and :func:`epoch_order` are the arithmetic of exactly-once sharding
  and per-epoch shuffling.
- :class:`Prefetcher` keeps the next objects' GETs in flight, bounded by a count and by bytes.
"""

from __future__ import annotations

import itertools
import warnings
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from ._core import ObjectInfo
from ._uri import parse_s3_uri

if TYPE_CHECKING:
    from ._client import S3Client

__all__ = [
    "DEFAULT_PREFETCH_BYTES",
    "DEFAULT_PREFETCH_OBJECTS",
    "ObjectSource",
    "ObjectTable",
    "Prefetcher",
    "ShardSpec",
    "epoch_order",
    "identity",
    "mix_seed",
    "shard_positions",
]

DEFAULT_PREFETCH_OBJECTS = 32
"""Objects whose GETs may be in flight ahead of the one being transformed."""

DEFAULT_PREFETCH_BYTES = 64 * 1024 * 1024
"""Bytes (by listed size) that may be in flight ahead of the one being transformed."""

_UNKNOWN_SIZE = -1

T = TypeVar("T")


def identity(obj: T) -> T:
    """The default transform: hand the reader to the caller as it is."""
    return obj


def _normalise_uris(uris: str | Iterable[str], what: str) -> list[str]:
    if isinstance(uris, str):
        return [uris]
    if isinstance(uris, (bytes, bytearray)):
        raise TypeError(f"{what} must be a str or an iterable of str, not bytes")
    try:
        found = list(uris)
    except TypeError:
        raise TypeError(
            f"{what} must be a str or an iterable of str, not {type(uris).__name__}"
        ) from None
    for uri in found:
        if not isinstance(uri, str):
            raise TypeError(f"{what} must contain str URIs, found {type(uri).__name__}: {uri!r}")
    return found


class ObjectRow(NamedTuple):
    """One listed (or named) object."""

    bucket: str
    key: str
    size: int  # -1 when unknown
    etag: str
    last_modified: int

    def object_info(self) -> ObjectInfo | None:
        if self.size == _UNKNOWN_SIZE:
            return None
        return ObjectInfo(self.key, self.etag, self.size, self.last_modified)


class TableBuilder:
    """Collects rows as a listing arrives, then packs them into an :class:`ObjectTable`."""

    def __init__(self) -> None:
        self._bucket_index: dict[str, int] = {}
        self._buckets: list[str] = []
        self._bucket_ids = array("I")
        self._keys: list[bytes] = []
        self._etags: list[bytes] = []
        self._sizes = array("q")
        self._modified = array("q")

    def __len__(self) -> int:
        return len(self._sizes)

    def add(self, row: ObjectRow) -> None:
        index = self._bucket_index.get(row.bucket)
        if index is None:
            index = self._bucket_index[row.bucket] = len(self._buckets)
            self._buckets.append(row.bucket)
        self._bucket_ids.append(index)
        self._keys.append(row.key.encode("utf-8", "surrogatepass"))
        self._etags.append(row.etag.encode("utf-8", "surrogatepass"))
        self._sizes.append(row.size)
        self._modified.append(row.last_modified)

    def finish(self) -> ObjectTable:
        table = ObjectTable()
        table._buckets = self._buckets
        table._bucket_ids = self._bucket_ids
        table._keys = b"".join(self._keys)
        table._key_ends = array("q", itertools.accumulate(len(k) for k in self._keys))
        table._etags = b"".join(self._etags)
        table._etag_ends = array("q", itertools.accumulate(len(e) for e in self._etags))
        table._sizes = self._sizes
        table._modified = self._modified
        return table


class ObjectTable:
    """A compact, picklable list of objects: bucket, key, size, ETag and last-modified time.

    Sizes are ``-1`` where unknown (objects named by URI, not listed).
    """

    __slots__ = (
        "_bucket_ids",
        "_buckets",
        "_etag_ends",
        "_etags",
        "_key_ends",
        "_keys",
        "_modified",
        "_sizes",
    )

    def __init__(self) -> None:
        self._buckets: list[str] = []
        self._bucket_ids = array("I")
        self._keys = b""
        self._key_ends = array("q")
        self._etags = b""
        self._etag_ends = array("q")
        self._sizes = array("q")
        self._modified = array("q")

    @classmethod
    def build(cls, rows: Iterable[ObjectRow]) -> ObjectTable:
        """Build a table from rows."""
        builder = TableBuilder()
        for row in rows:
            builder.add(row)
        return builder.finish()

    def __len__(self) -> int:
        return len(self._sizes)

    def bucket(self, i: int) -> str:
        return self._buckets[self._bucket_ids[i]]

    def key(self, i: int) -> str:
        return _slice(self._keys, self._key_ends, i)

    def size(self, i: int) -> int:
        """The listed size in bytes, or -1 when unknown."""
        return self._sizes[i]

    def object_info(self, i: int) -> ObjectInfo | None:
        """The listing's :class:`ObjectInfo` for entry ``i`` (None when it was not listed).

        ``storage_class`` and ``restore_status`` are not kept.
        """
        size = self._sizes[i]
        if size == _UNKNOWN_SIZE:
            return None
        return ObjectInfo(self.key(i), self._etag(i), size, self._modified[i])

    def row(self, i: int) -> ObjectRow:
        return ObjectRow(
            self.bucket(i), self.key(i), self._sizes[i], self._etag(i), self._modified[i]
        )

    def _etag(self, i: int) -> str:
        return _slice(self._etags, self._etag_ends, i)

    def uri(self, i: int) -> str:
        return f"s3://{self.bucket(i)}/{self.key(i)}"

    def __getstate__(self) -> tuple[Any, ...]:
        return (
            self._buckets,
            self._bucket_ids,
            self._keys,
            self._key_ends,
            self._etags,
            self._etag_ends,
            self._sizes,
            self._modified,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (
            self._buckets,
            self._bucket_ids,
            self._keys,
            self._key_ends,
            self._etags,
            self._etag_ends,
            self._sizes,
            self._modified,
        ) = state


def _slice(blob: bytes, ends: array[int], i: int) -> str:
    start = ends[i - 1] if i > 0 else 0
    return blob[start : ends[i]].decode("utf-8", "surrogatepass")


class _Prefix(NamedTuple):
    bucket: str
    prefix: str


def _drop_covered(prefixes: list[_Prefix]) -> list[_Prefix]:
    """Drop prefixes that another one in the same bucket already covers, keeping order.

    ``s3://b/data/`` covers ``s3://b/data/train/``; listing both would yield objects twice.
    Of two equal prefixes the first is kept.
    """

    def covered(i: int, candidate: _Prefix) -> bool:
        return any(
            j != i
            and other.bucket == candidate.bucket
            and candidate.prefix.startswith(other.prefix)
            and (other.prefix != candidate.prefix or j < i)
            for j, other in enumerate(prefixes)
        )

    return [p for i, p in enumerate(prefixes) if not covered(i, p)]


class ObjectSource:
    """Where a dataset's objects come from; picklable, and listed by :meth:`table`.

    Built with :meth:`from_prefixes`, :meth:`from_uris`, or :meth:`from_callable` (the
    incumbent's ``get_dataset_objects(client)`` protocol, yielding objects with ``bucket``,
    ``key`` and optionally ``object_info``).
    """

    def __init__(
        self,
        *,
        prefixes: Sequence[_Prefix] = (),
        uris: Sequence[tuple[str, str]] = (),
        function: Callable[[Any], Iterable[Any]] | None = None,
        key_filter: Callable[[str], bool] | None = None,
    ) -> None:
        self._prefixes = list(prefixes)
        self._uris = list(uris)
        self._function = function
        self._key_filter = key_filter

    @classmethod
    def from_prefixes(
        cls, uris: str | Iterable[str], key_filter: Callable[[str], bool] | None = None
    ) -> ObjectSource:
        """Every object under each ``s3://bucket/prefix``; overlapping prefixes count once.

        Raises:
            ValueError: a URI is not a valid ``s3://`` URI, or there are none.
        """
        parsed = [_Prefix(*parse_s3_uri(uri)) for uri in _normalise_uris(uris, "s3_uri")]
        if not parsed:
            raise ValueError("s3_uri: give at least one s3:// prefix")
        return cls(prefixes=_drop_covered(parsed), key_filter=key_filter)

    @classmethod
    def from_uris(cls, uris: str | Iterable[str]) -> ObjectSource:
        """Exactly the objects named, in the order given.

        Raises:
            ValueError: a URI is invalid or names a bucket without a key.
        """
        pairs: list[tuple[str, str]] = []
        for uri in _normalise_uris(uris, "object_uris"):
            bucket, key = parse_s3_uri(uri)
            if not key:
                raise ValueError(f"invalid object URI {uri!r}: it names no key")
            pairs.append((bucket, key))
        return cls(uris=pairs)

    @classmethod
    def from_callable(cls, function: Callable[[Any], Iterable[Any]]) -> ObjectSource:
        """Objects from ``function(client)``, each with ``bucket``, ``key``, ``object_info``."""
        if not callable(function):
            raise TypeError(f"get_dataset_objects must be callable, not {type(function).__name__}")
        return cls(function=function)

    @property
    def prefix_uris(self) -> list[str]:
        return [f"s3://{p.bucket}/{p.prefix}" for p in self._prefixes]

    def table(self, client: S3Client) -> ObjectTable:
        """List the objects now (one LIST per 1000 keys, per prefix)."""
        return ObjectTable.build(self.rows(client))

    def rows(self, client: S3Client) -> Iterator[ObjectRow]:
        """The objects, as the listing arrives."""
        for bucket, key in self._uris:
            yield ObjectRow(bucket, key, _UNKNOWN_SIZE, "", 0)
        for bucket, prefix in self._prefixes:
            for page in client.list_objects(bucket, prefix):
                for info in page.object_info:
                    if self._key_filter is None or self._key_filter(info.key):
                        yield ObjectRow(bucket, info.key, info.size, info.etag, info.last_modified)
        if self._function is not None:
            for item in self._function(client):
                known = getattr(item, "object_info", None)
                if known is None:
                    yield ObjectRow(item.bucket, item.key, _UNKNOWN_SIZE, "", 0)
                else:
                    yield ObjectRow(
                        item.bucket, item.key, known.size, known.etag, known.last_modified
                    )


@dataclass(frozen=True)
class ShardSpec:
    """Which part of an epoch this iterator serves: one DataLoader worker of one rank."""

    rank: int = 0
    world_size: int = 1
    worker_id: int = 0
    num_workers: int = 1

    @property
    def num_shards(self) -> int:
        return self.world_size * self.num_workers

    @property
    def index(self) -> int:
        """This shard's number in ``range(num_shards)``."""
        return self.rank * self.num_workers + self.worker_id


def shard_positions(num_items: int, spec: ShardSpec) -> range:
    """Positions (in epoch order) of the items that shard ``spec`` serves.

    Position ``p`` goes to rank ``p % world_size``; within that rank, its ``q = p // world_size``
    goes to worker ``q % num_workers``. The shards partition ``range(num_items)``: every position
    belongs to exactly one (rank, worker), whatever the counts, and a rank's share does not
    depend on how many workers it runs.
    """
    if num_items < 0:
        raise ValueError(f"num_items must be >= 0, got {num_items}")
    if not 0 <= spec.rank < spec.world_size:
        raise ValueError(f"rank {spec.rank} is not in range(world_size={spec.world_size})")
    if not 0 <= spec.worker_id < spec.num_workers:
        raise ValueError(
            f"worker_id {spec.worker_id} is not in range(num_workers={spec.num_workers})"
        )
    first = spec.rank + spec.world_size * spec.worker_id
    return range(min(first, num_items), num_items, spec.world_size * spec.num_workers)


_MASK64 = (1 << 64) - 1


def mix_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (SplitMix64 over each part in turn)."""
    state = 0x9E3779B97F4A7C15
    for part in parts:
        state = (state ^ (part & _MASK64)) & _MASK64
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        state = z ^ (z >> 31)
    return state >> 1


def epoch_order(num_items: int, shuffle: bool, seed: int, epoch: int) -> Sequence[int]:
    """The order in which an epoch visits ``range(num_items)``.

    Without shuffling, the listing order. With it, a permutation that depends only on
    ``(seed, epoch, num_items)``: every rank and worker computes the same one, and sharding
    splits it afterwards.
    """
    if not shuffle or num_items < 2:
        return range(num_items)
    import torch

    generator = torch.Generator()
    generator.manual_seed(mix_seed(seed, epoch))
    order: list[int] = torch.randperm(num_items, generator=generator).tolist()
    return order


def current_shard(
    enable_sharding: bool, rank: int, world_size: int, worker_info: Any = None
) -> ShardSpec:
    """The shard this process serves: ``(rank, world_size)`` and the DataLoader worker."""
    if not enable_sharding:
        return ShardSpec()
    if worker_info is None:
        import torch.utils.data

        worker_info = torch.utils.data.get_worker_info()
    if worker_info is None:
        return ShardSpec(rank, world_size)
    return ShardSpec(rank, world_size, worker_info.id, worker_info.num_workers)


def distributed_rank(default: tuple[int, int] = (0, 1)) -> tuple[int, int]:
    """``(rank, world_size)`` from ``torch.distributed`` when initialised, else ``default``."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch built without distributed support
        return default
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return default


def check_rank(rank: int | None, world_size: int | None) -> tuple[int, int] | None:
    """Validate an explicit ``rank``/``world_size`` pair (both or neither)."""
    if rank is None and world_size is None:
        return None
    if rank is None or world_size is None:
        raise ValueError("give both rank and world_size, or neither")
    for name, value in (("rank", rank), ("world_size", world_size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in range(world_size={world_size})")
    return rank, world_size


def check_prefetch(objects: int, nbytes: int) -> tuple[int, int]:
    for name, value in (("prefetch_objects", objects), ("prefetch_bytes", nbytes)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    return objects, nbytes


def check_seed(seed: int) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    return seed


def check_epoch(epoch: int) -> int:
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    return epoch


Item = TypeVar("Item")
R = TypeVar("R")
_NOTHING: Any = object()


class Prefetcher(Generic[Item, R]):
    """Open items in order, keeping the next ones in flight while the caller uses one.

    ``open_item(item)`` must start the item's request at once (a reader after ``prefetch()``, or a
    GET stream). At most ``max_objects`` opened items wait in the queue, and their sizes add up
    to at most ``max_bytes`` -- except that one item is always allowed, however large, so that
    prefetching never stops. With ``max_objects == 0`` each item is opened only when asked for.
    Sizes below zero (unknown) count as ``unknown_size``.
    """

    def __init__(
        self,
        items: Iterable[Item],
        open_item: Callable[[Item], R],
        size_of: Callable[[Item], int],
        max_objects: int,
        max_bytes: int,
        unknown_size: int,
    ) -> None:
        self._items = iter(items)
        self._open = open_item
        self._size_of = size_of
        self._max_objects = max_objects
        self._max_bytes = max_bytes
        self._unknown_size = unknown_size
        self._queue: deque[tuple[R, int]] = deque()
        self._queued_bytes = 0
        self._pending: Item = _NOTHING  # the next item, not yet opened
        self._exhausted = False

    @property
    def in_flight(self) -> int:
        """Items opened and waiting to be taken."""
        return len(self._queue)

    @property
    def in_flight_bytes(self) -> int:
        """Sum of the (listed) sizes of the waiting items."""
        return self._queued_bytes

    def _peek(self) -> Item:
        if self._pending is _NOTHING and not self._exhausted:
            self._pending = next(self._items, _NOTHING)
            self._exhausted = self._pending is _NOTHING
        return self._pending

    def _weight(self, item: Item) -> int:
        size = self._size_of(item)
        return self._unknown_size if size < 0 else size

    def _fill(self) -> None:
        while len(self._queue) < self._max_objects:
            item = self._peek()
            if item is _NOTHING:
                return
            weight = self._weight(item)
            if self._queue and self._queued_bytes + weight > self._max_bytes:
                return
            self._pending = _NOTHING
            self._queue.append((self._open(item), weight))
            self._queued_bytes += weight

    def __iter__(self) -> Prefetcher[Item, R]:
        return self

    def __next__(self) -> R:
        if self._queue:
            opened, weight = self._queue.popleft()
            self._queued_bytes -= weight
        else:
            item = self._peek()
            if item is _NOTHING:
                raise StopIteration
            self._pending = _NOTHING
            opened = self._open(item)
        # Start the next requests before handing this one over, so that they run while the
        # caller transforms it.
        self._fill()
        return opened

    def close(self) -> None:
        """Drop the waiting items (their requests are cancelled as they are released)."""
        self._queue.clear()
        self._queued_bytes = 0
        self._exhausted = True
        self._pending = _NOTHING


def warn_unsharded(kind: str, spec_world: int, worker_info: Any) -> None:
    """Say once per process that every worker/rank reads the whole dataset."""
    workers = worker_info.num_workers if worker_info is not None else 1
    if (spec_world > 1 or workers > 1) and not _WARNED.get(kind):
        _WARNED[kind] = True
        warnings.warn(
            f"{kind} has enable_sharding=False, so each of the {workers} DataLoader worker(s) "
            f"of each of the {spec_world} rank(s) reads every object; pass "
            "enable_sharding=True to read each object once per epoch across the job",
            stacklevel=3,
        )


_WARNED: dict[str, bool] = {}


def _started(reader: Any) -> Any:
    prefetch = getattr(reader, "prefetch", None)
    if prefetch is not None:
        prefetch()
    return reader


def _row_size(row: ObjectRow) -> int:
    return row.size


class DatasetCore:
    """The state every S3 dataset keeps: where the objects are, how to read them, the client.

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
        self.prefetch_objects, self.prefetch_bytes = check_prefetch(
            prefetch_objects, prefetch_bytes
        )
        self._table: ObjectTable | None = None
        self._client: S3Client | None = None

    def client(self) -> S3Client:
        if self._client is None:
            from ._client import S3Client

            self._client = S3Client(
                self.region, endpoint=self.endpoint, s3client_config=self.s3client_config
            )
        return self._client

    def table(self) -> ObjectTable:
        if self._table is None:
            self._table = self.source.table(self.client())
        return self._table

    @property
    def listed(self) -> bool:
        return self._table is not None

    def open_reader(self, i: int) -> Any:
        """A reader for object ``i`` of the table (no request sent yet)."""
        table = self.table()
        return self.client().get_object(
            table.bucket(i),
            table.key(i),
            object_info=table.object_info(i),
            reader_constructor=self.reader_constructor,
        )

    def open_prefetched(self, i: int) -> Any:
        """A reader for object ``i`` of the table, its GET already started."""
        return _started(self.open_reader(i))

    def open_row_prefetched(self, row: ObjectRow) -> Any:
        """A reader for ``row``, its GET already started."""
        reader = self.client().get_object(
            row.bucket,
            row.key,
            object_info=row.object_info(),
            reader_constructor=self.reader_constructor,
        )
        return _started(reader)

    def prefetcher(
        self, indices: Iterable[int], max_objects: int | None = None
    ) -> Prefetcher[int, Any]:
        """Readers for ``indices`` of the table, GETs started ahead within the bounds."""
        return Prefetcher(
            indices,
            self.open_prefetched,
            self.table().size,
            self.prefetch_objects if max_objects is None else max_objects,
            self.prefetch_bytes,
            unknown_size=self._unknown_size(),
        )

    def row_prefetcher(self, rows: Iterable[ObjectRow]) -> Prefetcher[ObjectRow, Any]:
        """Readers for ``rows``, GETs started ahead within the bounds."""
        return Prefetcher(
            rows,
            self.open_row_prefetched,
            _row_size,
            self.prefetch_objects,
            self.prefetch_bytes,
            unknown_size=self._unknown_size(),
        )

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
