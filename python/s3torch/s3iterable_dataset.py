"""An iterable dataset over S3 objects: :class:`S3IterableDataset`."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch.utils.data

from ._config import S3ClientConfig
from ._dataset_common import (
    DEFAULT_PREFETCH_BYTES,
    DEFAULT_PREFETCH_OBJECTS,
    DatasetCore,
    ObjectSource,
    Prefetcher,
    ShardSpec,
    check_epoch,
    check_rank,
    check_seed,
    current_shard,
    distributed_rank,
    epoch_order,
    identity,
    shard_positions,
    warn_unsharded,
)
from .s3reader import S3Reader, S3ReaderConstructorProtocol

__all__ = ["S3IterableDataset"]

log = logging.getLogger(__name__)

_STATE_VERSION = 1


@dataclass
class Progress:
    """How far the latest iterator has gone in its epoch, for :meth:`state_dict`."""

    epoch: int
    consumed: int
    # The shard (index, count) and the number of items in the epoch; None until known.
    shard: tuple[int, int] | None = None
    num_items: int | None = None

    def start(self, shard: ShardSpec, num_items: int | None) -> None:
        self.shard = (shard.index, shard.num_shards)
        self.num_items = num_items

    def state(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "epoch": self.epoch,
            "consumed": self.consumed,
            "shard_index": None if self.shard is None else self.shard[0],
            "num_shards": None if self.shard is None else self.shard[1],
            "num_items": self.num_items,
        }


def parse_progress(state: Mapping[str, Any], owner: str) -> Progress:
    """Check a saved progress state; raise ValueError naming what is wrong."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{owner} state must be a mapping, not {type(state).__name__}")
    try:
        version, epoch, consumed = state["version"], state["epoch"], state["consumed"]
        shard_index, num_shards, num_items = (
            state["shard_index"],
            state["num_shards"],
            state["num_items"],
        )
    except KeyError as missing:
        raise ValueError(f"{owner} state has no {missing.args[0]!r} entry") from None
    if version != _STATE_VERSION:
        raise ValueError(f"{owner} state has version {version!r}; this s3torch reads 1")
    for name, value in (("epoch", epoch), ("consumed", consumed)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{owner} state: {name} must be an int >= 0, got {value!r}")
    shard: tuple[int, int] | None = None
    if shard_index is not None or num_shards is not None:
        if not (isinstance(shard_index, int) and isinstance(num_shards, int)):
            raise ValueError(f"{owner} state: bad shard {shard_index!r} of {num_shards!r}")
        shard = (shard_index, num_shards)
    if num_items is not None and not isinstance(num_items, int):
        raise ValueError(f"{owner} state: num_items must be an int, got {num_items!r}")
    return Progress(epoch, consumed, shard, num_items)


def check_resume(saved: Progress, shard: ShardSpec, num_items: int | None, owner: str) -> int:
    """How many items of this shard to skip to resume from ``saved``.

    Raises:
        ValueError: the state was saved by a different shard layout or a different listing,
            so resuming would repeat or skip items.
    """
    if saved.shard is not None and saved.shard != (shard.index, shard.num_shards):
        raise ValueError(
            f"cannot resume {owner}: the state was saved by shard {saved.shard[0]} of "
            f"{saved.shard[1]} (rank * num_workers + worker), but this iterator is "
            f"shard {shard.index} of {shard.num_shards}; resume with the same world size and "
            "number of DataLoader workers"
        )
    if saved.num_items is not None and num_items is not None and saved.num_items != num_items:
        raise ValueError(
            f"cannot resume {owner}: the state was saved with {saved.num_items} items, but "
            f"the dataset now has {num_items}; the objects changed since the state was saved"
        )
    return saved.consumed


class S3IterableDataset(torch.utils.data.IterableDataset[Any]):
    """An iterable dataset: yields ``transform(reader)`` for each object, with the next
    objects' GETs already in flight.

    Make one with :meth:`from_prefix` or :meth:`from_objects`.

    - **Sharding** (``enable_sharding=True``): the objects of an epoch are split over the
      ``torch.distributed`` ranks (read when the dataset is built and again when it is pickled
      into DataLoader workers; or ``rank``/``world_size`` given explicitly) and over each
      rank's DataLoader workers, so that every object is read exactly once per epoch across the
      job. Without it (the default, as in s3torchconnector) every worker of every rank reads
      every object, and a warning says so.
    - **Shuffling** (``shuffle=True``): each epoch visits the objects in a permutation that
      depends only on ``seed`` and the epoch (see :meth:`set_epoch`), the same on every rank
      before sharding, so runs are reproducible.
    - **Prefetch**: up to ``prefetch_objects`` GETs (adding up to at most ``prefetch_bytes`` by
      listed size; one object is always allowed) run while the current object is transformed.
    - **Resuming**: :meth:`state_dict` / :meth:`load_state_dict` record the epoch and how many
      objects this shard has yielded, so torchdata's ``StatefulDataLoader`` resumes mid-epoch
      without repeating or skipping an object.

    Example::

        from torch.utils.data import DataLoader
        from s3torch import S3IterableDataset

        dataset = S3IterableDataset.from_prefix(
            "s3://my-bucket/train/", region="us-east-1", enable_sharding=True,
            shuffle=True, seed=7, transform=lambda reader: reader.read(),
        )
        loader = DataLoader(dataset, batch_size=32, num_workers=4)
        for epoch in range(3):
            dataset.set_epoch(epoch)
            for batch in loader:
                ...

    Args:
        region: the region of the bucket; None finds it as :class:`S3Client` does.
        get_dataset_objects: what to read; use :meth:`from_prefix` or :meth:`from_objects`.
        endpoint: an S3-compatible endpoint URL, or None.
        transform: turns each object's :class:`S3Reader` into a sample.
        s3client_config: client settings; see :class:`S3ClientConfig`.
        enable_sharding: split the objects over ranks and DataLoader workers.
        reader_constructor: how objects are read; see :class:`S3ReaderConstructor`.
        shuffle: visit the objects in a new seeded permutation each epoch.
        seed: the seed of those permutations; use the same one on every rank.
        prefetch_objects: most GETs in flight ahead of the current object (0: none).
        prefetch_bytes: most bytes (by listed size) those GETs may add up to.
        rank: this process's rank, when not taken from an initialised ``torch.distributed``
            (give both ``rank`` and ``world_size`` or neither).
        world_size: the number of ranks, given together with ``rank``.
    """

    def __init__(
        self,
        region: str | None,
        get_dataset_objects: Callable[[Any], Iterable[Any]] | ObjectSource,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        enable_sharding: bool = False,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        *,
        shuffle: bool = False,
        seed: int = 0,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if not callable(transform):
            raise TypeError(f"transform must be callable, not {type(transform).__name__}")
        source = (
            get_dataset_objects
            if isinstance(get_dataset_objects, ObjectSource)
            else ObjectSource.from_callable(get_dataset_objects)
        )
        self._core = DatasetCore(
            source,
            region,
            endpoint,
            s3client_config,
            reader_constructor,
            prefetch_objects,
            prefetch_bytes,
        )
        self._transform = transform
        self._enable_sharding = bool(enable_sharding)
        self._shuffle = bool(shuffle)
        self._seed = check_seed(seed)
        self._explicit_rank = check_rank(rank, world_size)
        self._rank_world = self._explicit_rank or distributed_rank()
        self._epoch = 0
        self._resume: Progress | None = None
        self._progress = Progress(0, 0)

    @classmethod
    def from_prefix(
        cls,
        s3_uri: str | Iterable[str],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        enable_sharding: bool = False,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        shuffle: bool = False,
        seed: int = 0,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> S3IterableDataset:
        """A dataset of every object under ``s3_uri`` (``s3://bucket/prefix``), or under each
        of several such URIs, in order (key order within a prefix); a prefix inside another
        one is listed once. The listing is made once, on first use.

        The other arguments are those of :class:`S3IterableDataset`.

        Raises:
            ValueError: a URI is not a valid ``s3://`` URI.
            S3Exception: listing failed (on first use).
        """
        log.debug("S3IterableDataset.from_prefix(%r)", s3_uri)
        return cls(
            region,
            ObjectSource.from_prefixes(s3_uri),
            endpoint,
            transform=transform,
            s3client_config=s3client_config,
            enable_sharding=enable_sharding,
            reader_constructor=reader_constructor,
            shuffle=shuffle,
            seed=seed,
            prefetch_objects=prefetch_objects,
            prefetch_bytes=prefetch_bytes,
            rank=rank,
            world_size=world_size,
        )

    @classmethod
    def from_objects(
        cls,
        object_uris: str | Iterable[str],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        transform: Callable[[S3Reader], Any] = identity,
        s3client_config: S3ClientConfig | None = None,
        enable_sharding: bool = False,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        shuffle: bool = False,
        seed: int = 0,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> S3IterableDataset:
        """A dataset of the objects named by ``object_uris`` (``s3://bucket/key`` each), in
        the order given. Their sizes are unknown, so each counts as one part size
        (``S3ClientConfig.part_size``) towards ``prefetch_bytes``.

        The other arguments are those of :class:`S3IterableDataset`.

        Raises:
            ValueError: a URI is invalid or has no key.
        """
        return cls(
            region,
            ObjectSource.from_uris(object_uris),
            endpoint,
            transform=transform,
            s3client_config=s3client_config,
            enable_sharding=enable_sharding,
            reader_constructor=reader_constructor,
            shuffle=shuffle,
            seed=seed,
            prefetch_objects=prefetch_objects,
            prefetch_bytes=prefetch_bytes,
            rank=rank,
            world_size=world_size,
        )

    @property
    def region(self) -> str | None:
        """The region given at construction (None: found the AWS way)."""
        return self._core.region

    @property
    def endpoint(self) -> str | None:
        """The endpoint given at construction (None: found the AWS way)."""
        return self._core.endpoint

    @property
    def epoch(self) -> int:
        """The epoch the next iteration serves (see :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration serves; with ``shuffle``, each epoch has its own
        permutation. Call it before each epoch, as with ``DistributedSampler`` (with
        ``persistent_workers=True``, before the DataLoader's workers start, or not at all:
        workers keep the copy of the dataset they started with).

        A state loaded with :meth:`load_state_dict` for another epoch is dropped.

        Outside DataLoader workers, this also lists the objects if they are not listed yet, so
        that workers started by ``fork`` inherit the listing instead of each making its own
        (workers started by ``spawn`` or ``forkserver`` receive it with the pickled dataset).

        Raises:
            S3Exception: listing failed.
        """
        self._epoch = check_epoch(epoch)
        if self._resume is not None and self._resume.epoch != self._epoch:
            self._resume = None
        if self._resume is None:
            self._progress = Progress(self._epoch, 0)
        if torch.utils.data.get_worker_info() is None:
            self._core.table()

    def state_dict(self) -> dict[str, Any]:
        """Where this process's iteration stands: the epoch, and how many objects this shard
        (this rank's DataLoader worker) has yielded in it.

        torchdata's ``StatefulDataLoader`` calls this in each worker and saves one per worker.
        """
        return self._progress.state()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Make the next iteration resume where ``state_dict`` (from :meth:`state_dict`) was
        taken: the same epoch, skipping the objects this shard had already yielded.

        Raises:
            ValueError: the state is malformed; or, when iteration starts, it was saved by a
                different number of ranks or workers, or over a different listing.
        """
        saved = parse_progress(state_dict, "S3IterableDataset")
        self._epoch = saved.epoch
        self._resume = saved
        self._progress = Progress(saved.epoch, saved.consumed, saved.shard, saved.num_items)

    def _rank(self) -> tuple[int, int]:
        if self._explicit_rank is not None:
            return self._explicit_rank
        return distributed_rank(self._rank_world)

    def __iter__(self) -> Iterator[Any]:
        """Yield ``transform(reader)`` for each object of this shard in this epoch.

        Nothing is listed or fetched until the first item is asked for.
        """
        resume, self._resume = self._resume, None
        progress = Progress(self._epoch, 0 if resume is None else resume.consumed)
        if resume is not None:
            progress.shard, progress.num_items = resume.shard, resume.num_items
        self._progress = progress
        return _ObjectIterator(self, progress, resume)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rank_world"] = self._rank()
        return state

    def __repr__(self) -> str:
        return (
            f"S3IterableDataset(region={self.region!r}, enable_sharding={self._enable_sharding}, "
            f"shuffle={self._shuffle}, seed={self._seed}, epoch={self._epoch})"
        )


class _ObjectIterator:
    """One pass over this shard's objects in one epoch; starts on the first ``next``."""

    def __init__(
        self, dataset: S3IterableDataset, progress: Progress, resume: Progress | None
    ) -> None:
        self._dataset = dataset
        self._progress = progress
        self._resume = resume
        self._readers: Prefetcher[Any, Any] | None = None
        self._done = False

    def __iter__(self) -> _ObjectIterator:
        return self

    def _start(self) -> Prefetcher[Any, Any]:
        dataset = self._dataset
        core = dataset._core
        rank, world_size = dataset._rank()
        worker_info = torch.utils.data.get_worker_info()
        shard = current_shard(dataset._enable_sharding, rank, world_size, worker_info)
        if not dataset._enable_sharding:
            warn_unsharded("S3IterableDataset", world_size, worker_info)
        first = shard_positions(shard.num_shards, shard).start
        checks_count = self._resume is not None and self._resume.num_items is not None
        if not dataset._shuffle and not core.listed and not checks_count:
            # Nothing to permute (and no saved count to check the listing against): fetch
            # while the listing is still arriving, and keep it for later epochs.
            skip = 0
            if self._resume is not None:
                skip = check_resume(self._resume, shard, None, "S3IterableDataset")
            self._progress.start(shard, None)
            mine = itertools.islice(core.stream_rows(), first, None, shard.num_shards)
            return core.row_prefetcher(itertools.islice(mine, skip, None))
        num_items = len(core.table())
        skip = 0
        if self._resume is not None:
            skip = check_resume(self._resume, shard, num_items, "S3IterableDataset")
        self._progress.start(shard, num_items)
        order = epoch_order(num_items, dataset._shuffle, dataset._seed, self._progress.epoch)
        positions = shard_positions(num_items, shard)[skip:]
        return core.prefetcher(map(order.__getitem__, positions))

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        if self._readers is None:
            self._readers = self._start()
        try:
            reader = next(self._readers)
        except StopIteration:
            self._done = True
            self._readers.close()
            if self._progress.num_items is None and self._dataset._core.listed:
                self._progress.num_items = len(self._dataset._core.table())
            raise
        self._progress.consumed += 1
        return self._dataset._transform(reader)

    def close(self) -> None:
        """Stop: drop the GETs in flight."""
        self._done = True
        if self._readers is not None:
            self._readers.close()
