"""An iterable dataset over S3 objects: :class:`S3IterableDataset`.

Its policy lives in :mod:`s3torch._datasets`; this module is the public face, a little over 400
lines because each of its three constructors (``from_prefix``, ``from_objects``,
``from_manifest``) spells out every argument, for IDEs and for the s3torchconnector signatures.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch.utils.data

from ._config import S3ClientConfig
from ._datasets.constructors import build_from, build_from_prefix
from ._datasets.listing import DEFAULT_LIST_CONCURRENCY
from ._datasets.metrics import FLUSH_EVERY, now_ns
from ._datasets.objects import DatasetObjects, ObjectsDataset, identity, manifest_source
from ._datasets.prefetch import DEFAULT_PREFETCH_BYTES, DEFAULT_PREFETCH_OBJECTS, Prefetcher
from ._datasets.progress import merge_state_dicts
from ._datasets.sharding import warn_unsharded
from ._datasets.source import ObjectSource
from ._datasets.state import EpochState
from .s3reader import S3Reader, S3ReaderConstructorProtocol

__all__ = ["S3IterableDataset"]

log = logging.getLogger(__name__)


class S3IterableDataset(ObjectsDataset, torch.utils.data.IterableDataset[Any]):
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
    - **Equal shards** (with sharding): every rank yields the same number of objects per
      epoch, as ``DistributedSampler`` makes them: the epoch is padded by repeating its first
      objects (``drop_last=False``, the default) or its tail is dropped (``drop_last=True``),
      so no rank waits at the last collective of an epoch. ``len(dataset)`` is that number.
    - **Resuming**: :meth:`state_dict` / :meth:`load_state_dict` record the epoch and how many
      objects this shard has yielded, so torchdata's ``StatefulDataLoader`` resumes mid-epoch
      without repeating or skipping an object; :meth:`merge_state_dicts` joins the states of
      every rank into one that resumes at another world size or worker count.

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
        drop_last: with sharding, drop the tail of each epoch that does not divide evenly over
            the ranks, instead of padding it with repeated objects.
        cache_dir: a local directory where a stable subset of the objects is kept across
            epochs (see "Many epochs" in the datasets guide); several workers and ranks on a
            host may share it. The order of the samples does not change. None: no cache.
        cache_size: the most bytes the cache may hold; required with ``cache_dir``.

    Raises:
        TypeError: ``cache_dir`` without ``cache_size`` or the reverse, or of the wrong type.
        ValueError: ``cache_size`` below 1.
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
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            region,
            get_dataset_objects,
            endpoint,
            transform,
            s3client_config,
            reader_constructor,
            prefetch_objects=prefetch_objects,
            prefetch_bytes=prefetch_bytes,
            cache_dir=cache_dir,
            cache_size=cache_size,
        )
        self._state = EpochState(
            "S3IterableDataset",
            enable_sharding=enable_sharding,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
        )

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
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
        list_concurrency: int | None = DEFAULT_LIST_CONCURRENCY,
        share_listing: bool = False,
    ) -> S3IterableDataset:
        """A dataset of every object under ``s3_uri`` (``s3://bucket/prefix``), or under each
        of several such URIs, in order (key order within a prefix); a prefix inside another
        one is listed once. The listing is made once, on first use.

        ``list_concurrency``: how many key ranges of a prefix are listed at once (about as
        many ListObjectsV2 requests in flight); 1 lists with one sequential stream. None (the
        default): 8 against AWS S3, 1 against another endpoint, since not every S3-compatible
        server's ``start-after`` follows S3's (SeaweedFS's skips a folder named by it).

        ``share_listing``: under ``torch.distributed``, rank 0 lists now and sends the listing
        to the other ranks, so that the job lists once. Every rank of the default process
        group must then call ``from_prefix`` (a rank that does not leaves the others waiting);
        without a process group it lists as usual.

        The other arguments are those of :class:`S3IterableDataset`.

        Raises:
            ValueError: a URI is not a valid ``s3://`` URI, or ``list_concurrency`` is not a
                positive int.
            S3Exception: listing failed (on first use, or now with ``share_listing``).
        """
        log.debug("S3IterableDataset.from_prefix(%r)", s3_uri)
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
        enable_sharding: bool = False,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        shuffle: bool = False,
        seed: int = 0,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> S3IterableDataset:
        """A dataset of the objects named by ``object_uris`` (``s3://bucket/key`` each), in
        the order given. Their sizes are unknown, so each counts as one part size
        (``S3ClientConfig.part_size``) towards ``prefetch_bytes``.

        The other arguments are those of :class:`S3IterableDataset`.

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
        enable_sharding: bool = False,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
        shuffle: bool = False,
        seed: int = 0,
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> S3IterableDataset:
        """A dataset of the objects recorded in a manifest (a local path or an
        ``s3://bucket/key`` URI) by :meth:`save_manifest`, in its order: nothing is listed.
        The manifest is read now. The other arguments are those of :meth:`from_prefix`.

        Raises:
            ValueError: the manifest is truncated, corrupt, of another version, or not a
                manifest; the message names it.
            OSError, S3Exception: it cannot be read.
        """
        return build_from(
            cls, manifest_source(manifest, region, endpoint, s3client_config), locals(), "manifest"
        )

    @property
    def epoch(self) -> int:
        """The epoch the next iteration serves (see :meth:`set_epoch`)."""
        return self._state.epoch

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
        self._state.set_epoch(epoch)
        if torch.utils.data.get_worker_info() is None:
            self._objects.table()

    def state_dict(self) -> dict[str, Any]:
        """Where this process's iteration stands: the epoch, and how many objects this shard
        (this rank's DataLoader worker) has yielded in it. A small dict of plain values.

        torchdata's ``StatefulDataLoader`` calls this in each worker and saves one per worker.
        """
        return self._state.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Make the next iteration resume where ``state_dict`` was taken: the same epoch,
        skipping what was already yielded. ``state_dict`` is one from :meth:`state_dict`
        (resumed by the same shard: same world size and number of workers) or a job state from
        :meth:`merge_state_dicts` (resumed at any world size and number of workers).

        Raises:
            ValueError: the state is malformed; or, when iteration starts, it was saved by a
                different number of ranks or workers and not joined, or over a different
                listing.
        """
        self._state.load_state_dict(state_dict)

    @staticmethod
    def merge_state_dicts(states: Iterable[Any]) -> dict[str, Any]:
        """Join the states of every DataLoader worker of every rank of a job into one job
        state, which :meth:`load_state_dict` resumes at any world size and worker count: the
        new job reads each object the old one had not yet yielded in the epoch exactly once
        (and pads or drops as ``drop_last`` says).

        ``states`` may hold dataset states or whole ``StatefulDataLoader.state_dict()``s (one
        per rank), in any nest of lists and dicts. Example, on the new job's ranks::

            saved = [torch.load(f"loader-{r}.pt") for r in range(old_world_size)]
            dataset.load_state_dict(S3IterableDataset.merge_state_dicts(saved))
            loader = StatefulDataLoader(dataset, ...)  # a fresh loader: num_workers may differ

        Raises:
            ValueError: the states come from different epochs or layouts, or a shard's state
                is missing.
        """
        return merge_state_dicts(states, "S3IterableDataset")

    def metrics(self) -> dict[str, float]:
        """This dataset's figures, summed over this process and its DataLoader workers, as a
        flat dict for a training loop to log:

        - the cache: ``cache.hits``, ``cache.misses`` (objects read from S3),
          ``cache.bytes_from_cache``, ``cache.bytes_from_s3``, ``cache.stale`` and
          ``cache.corrupt`` (entries found unfit and fetched again), ``cache.write_failures``;
        - how long each sample was waited for (from asking for it to getting it, reads and
          transform included), per epoch: ``wait.<epoch>.samples``, ``.total_s``, ``.p50_s``,
          ``.p95_s``, ``.p99_s``, ``.max_s`` (percentiles to within about 6%), for the last 32
          epochs.

        Workers report every 1024 samples and when they finish an epoch or exit.
        """
        return self._objects.metrics.snapshot()

    def __len__(self) -> int:
        """How many objects this rank yields per epoch: all of them without sharding, its equal
        share with it (after padding or ``drop_last``). Lists the objects on first call.

        Raises:
            TypeError: the objects come from a ``get_dataset_objects`` callable, whose length
                is unknown until it has run.
        """
        source = self._objects.source
        if source.is_callable:
            raise TypeError(
                "S3IterableDataset has no len() when its objects come from a "
                "get_dataset_objects callable; build it with from_prefix or from_objects"
            )
        count = source.count_without_listing
        if count is None:
            count = len(self._objects.table())
        return self._state.items_per_epoch(count)

    def __iter__(self) -> Iterator[Any]:
        """Yield ``transform(reader)`` for each object of this shard in this epoch.

        Nothing is listed or fetched until the first item is asked for.
        """
        worker_info = torch.utils.data.get_worker_info()
        self._state.start(worker_info)
        if not self._state.enable_sharding:
            warn_unsharded("S3IterableDataset", self._state.rank()[1], worker_info)
        return _ObjectIterator(self._objects, self._state, self._transform)

    def __repr__(self) -> str:
        state = self._state
        return (
            f"S3IterableDataset(region={self.region!r}, enable_sharding={state.enable_sharding}, "
            f"shuffle={state.shuffle}, seed={state.seed}, epoch={state.epoch})"
        )


class _ObjectIterator:
    """One pass over this shard's objects in one epoch; starts on the first ``next``."""

    def __init__(
        self, objects: DatasetObjects, state: EpochState, transform: Callable[[S3Reader], Any]
    ) -> None:
        self._objects = objects
        self._state = state
        self._transform = transform
        self._readers: Prefetcher[Any, Any] | None = None
        self._done = False
        self._metrics = objects.metrics
        self._waits = objects.metrics.waits(state.epoch)

    def __iter__(self) -> _ObjectIterator:
        return self

    def _start(self) -> Prefetcher[Any, Any]:
        objects = self._objects
        if not objects.streams_listing:
            objects.table()
        try:
            plan = self._state.plan(len(objects.table()) if objects.listed else None)
        except LookupError:
            plan = self._state.plan(len(objects.table()))
        if plan.items is None:
            # Nothing to permute or check: fetch while the listing is still arriving, and keep
            # it for later epochs.
            mine = itertools.islice(
                objects.stream_rows(), plan.shard.residue, None, plan.shard.num_shards
            )
            return objects.row_readers(mine)
        return objects.readers(plan.items)

    def __next__(self) -> Any:
        start = now_ns()
        if self._done:
            raise StopIteration
        if self._readers is None:
            self._readers = self._start()
        try:
            reader = next(self._readers)
        except StopIteration:
            self._done = True
            self._readers.close()
            self._metrics.flush()
            if self._state.progress.num_items is None and self._objects.listed:
                self._state.progress.num_items = len(self._objects.table())
            raise
        self._state.finished_item()
        item = self._transform(reader)
        waits = self._waits
        waits.append(now_ns() - start)
        if len(waits) >= FLUSH_EVERY:
            self._metrics.flush()
        return item

    def close(self) -> None:
        """Stop: drop the GETs in flight."""
        self._done = True
        if self._readers is not None:
            self._readers.close()
        self._metrics.flush()
