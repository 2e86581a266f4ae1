"""Samples from tar shards in WebDataset format, streamed from S3: :class:`S3TarDataset`.

A shard is a ``.tar`` (or ``.tar.gz``/``.tgz``) object whose consecutive files with the same
*key* form a sample: ``train/0001.jpg`` and ``train/0001.cls`` become
``{"__key__": "train/0001", "__url__": "s3://bucket/shard-000.tar", "jpg": b"...",
"cls": b"..."}``. The key is the path up to the first dot of the file name; the rest, in lower
case, is the extension. Shards are parsed as they stream in: nothing touches the local disk
unless a cache (``cache_dir=``) is asked for.

This is the canonical home of the tar dataset; ``s3torch.webdataset`` re-exports its public
names for code written against earlier releases. It runs to about 400 lines because its
constructors spell out every argument, as the other datasets' do.
"""

from __future__ import annotations

import itertools
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch.utils.data

from ._checks import check_int, check_optional_int
from ._config import S3ClientConfig
from ._datasets.decoders import DEFAULT_DECODERS, Decoder, choose_decoders, decode_sample
from ._datasets.listing import DEFAULT_LIST_CONCURRENCY
from ._datasets.metrics import FLUSH_EVERY, now_ns
from ._datasets.objects import DatasetObjects, manifest_source
from ._datasets.prefetch import DEFAULT_PREFETCH_BYTES, DEFAULT_PREFETCH_OBJECTS
from ._datasets.progress import merge_state_dicts
from ._datasets.sharding import warn_unsharded
from ._datasets.source import ObjectSource
from ._datasets.state import EpochState
from ._datasets.tar import TarShardError, gunzip, is_tar_key, iter_samples, iter_tar_members
from .shuffle import ShuffleDataset

__all__ = ["DEFAULT_DECODERS", "S3TarDataset", "TarShardError", "decode_sample"]

log = logging.getLogger(__name__)

_ON_ERROR = ("raise", "warn", "skip")


def _go_on_after(error: TarShardError, on_error: str) -> bool:
    """Whether to go on after ``error`` (True) or raise it, as ``on_error`` says."""
    if on_error == "raise":
        return False
    if on_error == "warn":
        warnings.warn(f"skipped: {error}", stacklevel=3)
    log.info("S3TarDataset skipped: %s", error)
    return True


class _TarSamples:
    """The raw samples this shard of the job serves in one epoch, with the epoch state (items:
    tar shards; parts: their samples). A plain stateful iterable, so that a
    :class:`ShuffleDataset` buffer can sit on it."""

    def __init__(self, objects: DatasetObjects, state: EpochState, on_error: str) -> None:
        self.objects = objects
        self.state = state
        self._on_error = on_error

    def state_dict(self) -> dict[str, Any]:
        return self.state.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.state.load_state_dict(state)

    def set_epoch(self, epoch: int) -> None:
        self.state.set_epoch(epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker_info = torch.utils.data.get_worker_info()
        self.state.start(worker_info)
        if not self.state.enable_sharding:
            warn_unsharded("S3TarDataset", self.state.rank()[1], worker_info)
        return self._generate()

    def _generate(self) -> Iterator[dict[str, Any]]:
        state = self.state
        table = self.objects.table()
        plan = state.plan(len(table))
        if state.quota_reached():
            return
        # Two walks over one (perhaps endless, with a quota) order: the prefetcher's, ahead,
        # and this loop's.
        shards, ahead = itertools.tee(plan.items or ())
        skips = dict(plan.skip_parts)
        streams = self.objects.streams(ahead)
        try:
            for i, stream in zip(shards, streams):
                uri = table.uri(i)
                chunks: Iterable[Any] = stream
                if table.key(i).endswith((".gz", ".tgz")):
                    chunks = gunzip(stream, uri)
                samples = iter_samples(iter_tar_members(chunks, uri), uri)
                skip = skips.pop(i, 0)
                state.progress.parts = skip
                try:
                    for _ in range(skip):
                        next(samples)
                    for sample in samples:
                        state.yielded_part()
                        yield sample
                        if state.quota_reached():
                            return
                except StopIteration:
                    raise TarShardError(
                        "the shard has fewer samples than the saved state says were read",
                        uri=uri,
                    ) from None
                except TarShardError as error:
                    if not _go_on_after(error, self._on_error):
                        raise
                finally:
                    # Release the parser's views of the stream's buffers before the stream: a
                    # buffer must not outlive the client whose memory pool it came from.
                    samples.close()
                    stream.close()
                state.finished_item()
        finally:
            streams.close()


class S3TarDataset(torch.utils.data.IterableDataset[Any]):
    """Samples from WebDataset-format tar shards in S3, streamed (no local disk unless cached).

    Each shard is read with one streaming GET and parsed as it arrives; the next shards' GETs
    start early (``prefetch_objects``/``prefetch_bytes``). Consecutive files with the same key
    form a sample dict ``{"__key__": key, "__url__": shard_uri, "<ext>": bytes, ...}``.

    - ``enable_sharding``, ``shuffle``, ``seed``, :meth:`set_epoch`, ``rank``/``world_size``,
      ``drop_last``: as for :class:`S3IterableDataset`, applied to whole shards: every rank
      gets the same number of shards (the list padded by repeating shards, or cut with
      ``drop_last``), so ranks yield the same number of samples when the shards hold the same
      number each (see "Many epochs" in the datasets guide).
    - ``samples_per_rank``: make every rank yield exactly this many samples per epoch, however
      many each shard holds (its DataLoader workers share them): a rank that runs out of
      shards reads its own shards again from the start, and one that reaches the count stops.
      Use it under DDP with shards of uneven sizes, e.g. ``total_samples // world_size``;
      ``len(dataset)`` is then this number.
    - ``shuffle_buffer``: also shuffle samples through a buffer of this many samples (see
      :class:`ShuffleDataset`), before decoding, so the buffer holds bytes.
    - ``decode``: ``True`` for :data:`DEFAULT_DECODERS`, or a mapping of extension to
      ``function(bytes)``, used before the defaults; ``False`` (default) keeps bytes.
    - ``transform``: applied to each (decoded) sample dict.
    - ``on_error``: ``"raise"`` (default) a :class:`TarShardError` naming the shard and offset
      for a corrupt or truncated shard, or the sample for a failed decoding; ``"warn"`` or
      ``"skip"`` to drop the rest of that shard (or that sample) and go on, with or without a
      warning.
    - :meth:`state_dict`/:meth:`load_state_dict`: resume mid-epoch, at the sample, with
      torchdata's ``StatefulDataLoader`` (a partly read shard is read again from its start,
      and the samples already seen are skipped); at another world size or worker count
      through :meth:`merge_state_dicts` (not through a ``shuffle_buffer``).
    - ``cache_dir`` and ``cache_size`` (bytes, required with it): keep a stable subset of the
      shards on local disk across epochs, shared by the workers and ranks of a host (see
      "Many epochs" in the datasets guide); the samples and their order do not change.
    - :meth:`metrics`: cache hits and bytes, and how long each sample was waited for.

    Example::

        from s3torch import S3TarDataset

        dataset = S3TarDataset.from_prefix(
            "s3://my-bucket/shards/", region="us-east-1", enable_sharding=True,
            shuffle=True, shuffle_buffer=1000, decode=True,
            transform=lambda s: (to_tensor(s["jpg"]), s["cls"]),
        )
    """

    def __init__(
        self,
        region: str | None,
        source: ObjectSource,
        endpoint: str | None = None,
        s3client_config: S3ClientConfig | None = None,
        *,
        enable_sharding: bool = False,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 0,
        decode: bool | Mapping[str, Decoder] = False,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        on_error: str = "raise",
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
        samples_per_rank: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int | None = None,
    ) -> None:
        if not isinstance(source, ObjectSource):
            raise TypeError("S3TarDataset is built with S3TarDataset.from_prefix or from_objects")
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, not {type(transform).__name__}")
        buffer_size = check_int("shuffle_buffer", shuffle_buffer, minimum=0)
        quota = check_optional_int("samples_per_rank", samples_per_rank, minimum=0)
        self._decoders = choose_decoders(decode)
        state = EpochState(
            "S3TarDataset",
            enable_sharding=enable_sharding,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
            quota=quota,
        )
        objects = DatasetObjects(
            source,
            region,
            endpoint,
            s3client_config,
            None,
            prefetch_objects,
            prefetch_bytes,
            cache_dir,
            cache_size,
        )
        self._transform = transform
        self._on_error = on_error
        self._samples = _TarSamples(objects, state, on_error)
        self._buffer: ShuffleDataset | None = (
            ShuffleDataset(self._samples, buffer_size, state.seed) if buffer_size else None
        )

    @classmethod
    def from_prefix(
        cls,
        s3_uri: str | Iterable[str],
        *,
        region: str | None = None,
        list_concurrency: int | None = DEFAULT_LIST_CONCURRENCY,
        share_listing: bool = False,
        **kwargs: Any,
    ) -> S3TarDataset:
        """Every ``.tar``, ``.tar.gz`` and ``.tgz`` object under ``s3_uri``
        (``s3://bucket/prefix``, or several), in key order. ``list_concurrency`` and
        ``share_listing``: see :meth:`S3IterableDataset.from_prefix`. Other keyword
        arguments: see the class.

        Raises:
            ValueError: a URI is invalid, or ``list_concurrency`` is not a positive int.
        """
        source = ObjectSource.from_prefixes(
            s3_uri,
            key_filter=is_tar_key,
            list_concurrency=list_concurrency,
            share_listing=share_listing,
        )
        return cls(region, source, **kwargs)

    @classmethod
    def from_objects(
        cls, object_uris: str | Iterable[str], *, region: str | None = None, **kwargs: Any
    ) -> S3TarDataset:
        """The shards named by ``object_uris`` (``s3://bucket/key``), in order; keys ending in
        ``.gz`` or ``.tgz`` are decompressed. Other keyword arguments: see the class."""
        return cls(region, ObjectSource.from_uris(object_uris), **kwargs)

    @classmethod
    def from_manifest(
        cls,
        manifest: str | os.PathLike[str],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        s3client_config: S3ClientConfig | None = None,
        **kwargs: Any,
    ) -> S3TarDataset:
        """The tar shards recorded in a manifest (a local path or an ``s3://bucket/key`` URI)
        by :meth:`save_manifest` (objects that are not tar shards are left out): nothing is
        listed. The manifest is read now. Other keyword arguments: see the class.

        Raises:
            ValueError: the manifest is truncated, corrupt, of another version, or not a
                manifest; the message names it.
            OSError, S3Exception: it cannot be read.
        """
        source = manifest_source(manifest, region, endpoint, s3client_config, is_tar_key)
        return cls(region, source, endpoint, s3client_config, **kwargs)

    def save_manifest(self, manifest: str | os.PathLike[str]) -> None:
        """Save the list of shards (listing them now if need be) as a manifest at a local path
        or an ``s3://bucket/key`` URI, for :meth:`from_manifest`.

        Raises:
            S3Exception, OSError: listing or writing failed.
        """
        self._samples.objects.save_manifest(manifest)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration serves (see :meth:`set_epoch`)."""
        return self._samples.state.epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration serves (see :meth:`S3IterableDataset.set_epoch`;
        this also lists the shards in the parent process)."""
        if self._buffer is not None:
            self._buffer.set_epoch(epoch)  # passes it on to the samples
        else:
            self._samples.set_epoch(epoch)
        if torch.utils.data.get_worker_info() is None:
            self._samples.objects.table()

    def state_dict(self) -> dict[str, Any]:
        """Where this process's iteration stands (one per DataLoader worker)."""
        if self._buffer is not None:
            return self._buffer.state_dict()
        return self._samples.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Make the next iteration resume from ``state_dict``: a state from
        :meth:`state_dict` (same world size and workers) or from :meth:`merge_state_dicts`
        (any).

        Raises:
            ValueError: the state is malformed, or (when iteration starts) was saved by a
                different number of ranks or workers and not joined, or over different shards.
        """
        if self._buffer is not None:
            self._buffer.load_state_dict(state_dict)
        else:
            self._samples.load_state_dict(state_dict)

    @staticmethod
    def merge_state_dicts(states: Iterable[Any]) -> dict[str, Any]:
        """Join the states of every DataLoader worker of every rank (dataset states, or whole
        ``StatefulDataLoader.state_dict()``s, in any nest of lists) into one job state that
        :meth:`load_state_dict` resumes at any world size and worker count, reading each
        remaining sample once across the new job.

        Raises:
            ValueError: the states come from different epochs or layouts, a shard's state is
                missing, or they were saved through a ``shuffle_buffer``.
        """
        return merge_state_dicts(states, "S3TarDataset")

    def __len__(self) -> int:
        """``samples_per_rank``, when given: the samples this rank yields per epoch.

        Raises:
            TypeError: no ``samples_per_rank``: the number of samples in a tar shard shows
                only when it is read.
        """
        quota = self._samples.state.quota
        if quota is None:
            raise TypeError(
                "S3TarDataset has no len() without samples_per_rank: the number of samples "
                "in each tar shard is unknown until the shard is read"
            )
        return quota

    def __iter__(self) -> Iterator[Any]:
        # Take a loaded state now, not at the first item: StatefulDataLoader may replace this
        # iterator before using it, and the next one must not resume again.
        source: Iterable[dict[str, Any]] = self._samples if self._buffer is None else self._buffer
        return self._finish(iter(source))

    def _finish(self, samples: Iterator[dict[str, Any]]) -> Iterator[Any]:
        metrics = self._samples.objects.metrics
        waits = metrics.waits(self._samples.state.epoch)
        try:
            start = now_ns()
            for sample in samples:
                if self._decoders:
                    try:
                        sample = decode_sample(sample, self._decoders)
                    except TarShardError as error:
                        if not _go_on_after(error, self._on_error):
                            raise
                        continue
                item = sample if self._transform is None else self._transform(sample)
                waits.append(now_ns() - start)
                if len(waits) >= FLUSH_EVERY:
                    metrics.flush()
                yield item
                start = now_ns()
        finally:
            metrics.flush()

    def metrics(self) -> dict[str, float]:
        """This dataset's figures, summed over this process and its DataLoader workers: the
        cache's (``cache.hits``, ``cache.misses``, ``cache.bytes_from_cache``,
        ``cache.bytes_from_s3``, ``cache.stale``, ``cache.corrupt``,
        ``cache.write_failures``; counted in shards) and how long each sample was waited for,
        per epoch (``wait.<epoch>.samples``, ``.total_s``, ``.p50_s``, ``.p95_s``, ``.p99_s``,
        ``.max_s``). See :meth:`S3IterableDataset.metrics`.
        """
        return self._samples.objects.metrics.snapshot()

    def __repr__(self) -> str:
        state = self._samples.state
        return (
            f"S3TarDataset(enable_sharding={state.enable_sharding}, shuffle={state.shuffle}, "
            f"seed={state.seed}, epoch={state.epoch})"
        )
