"""The one epoch, shard and resume state of an iterable dataset: :class:`EpochState`.

Both :class:`~s3torch.S3IterableDataset` (items are objects) and :class:`~s3torch.S3TarDataset`
(items are tar shards, *parts* their samples) keep one. It knows the epoch, the rank and the
DataLoader worker, plans each iteration (which items, in which order, what to skip) and records
how far the latest one went as an :class:`~.progress.EpochProgress`, which a state from one
worker resumes at the same layout and a job state (:func:`~.progress.merge_state_dicts`) at any.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._checks import check_int
from .progress import EpochProgress
from .sharding import (
    ShardSpec,
    check_rank,
    current_shard,
    distributed_rank,
    epoch_order,
    equal_length,
    remaining,
    shard_positions,
)

__all__ = ["EpochPlan", "EpochState"]


@dataclass
class EpochPlan:
    """What one iteration serves: table indices in order (None: stream the listing, taking
    every ``shard.num_shards``-th row from ``shard.residue``), and parts of items to skip."""

    shard: ShardSpec
    items: Iterable[int] | None
    skip_parts: dict[int, int]


class EpochState:
    """The epoch, the shard this process serves, a state to resume from, and the progress of
    the latest iteration, for one iterable dataset (see the module docs)."""

    def __init__(
        self,
        kind: str,
        *,
        enable_sharding: bool,
        shuffle: bool,
        seed: object,
        drop_last: bool,
        rank: object,
        world_size: object,
        quota: int | None = None,
    ) -> None:
        self.kind = kind
        self.quota = quota
        self.enable_sharding = bool(enable_sharding)
        self.shuffle = bool(shuffle)
        self.seed = check_int("seed", seed)
        self.drop_last = bool(drop_last)
        self._explicit_rank = check_rank(rank, world_size)
        self._rank_world = self._explicit_rank or distributed_rank()
        self.epoch = 0
        self._loaded: EpochProgress | None = None
        self._resuming: EpochProgress | None = None
        self.progress = self._fresh()

    def _fresh(self) -> EpochProgress:
        return EpochProgress(self.kind, self.epoch, drop_last=self.drop_last, quota=self.quota)

    def rank(self) -> tuple[int, int]:
        """``(rank, world_size)``: given, or from ``torch.distributed``, or carried from the
        parent process into DataLoader workers."""
        if self._explicit_rank is not None:
            return self._explicit_rank
        return distributed_rank(self._rank_world)

    def shard(self, worker_info: Any = None) -> ShardSpec:
        rank, world_size = self.rank()
        return current_shard(self.enable_sharding, rank, world_size, worker_info)

    def items_per_epoch(self, num_items: int) -> int:
        """How many items this rank serves per epoch, over ``num_items`` in all."""
        if not self.enable_sharding:
            return num_items
        world_size = self.rank()[1]
        return equal_length(num_items, world_size, self.drop_last) // world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check_int("epoch", epoch, minimum=0)
        if self._loaded is not None and self._loaded.epoch != self.epoch:
            self._loaded = None
        if self._loaded is None:
            self.progress = self._fresh()

    def state_dict(self) -> dict[str, Any]:
        """The latest iteration's progress (before any: the epoch, from its start)."""
        return self.progress.to_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = EpochProgress.from_dict(state, self.kind)
        self.epoch = saved.epoch
        self._loaded = saved
        self.progress = saved

    def start(self, worker_info: Any = None) -> None:
        """Begin an iteration in this process: take the loaded state (a later iteration does
        not resume again) and record progress from where it stood."""
        loaded, self._loaded = self._loaded, None
        self._resuming = loaded
        shard = self.shard(worker_info)
        progress = self._fresh()
        progress.shard = shard
        if loaded is not None:
            progress.num_items = loaded.num_items
            progress.history = list(loaded.history)
            if self._same_shard(loaded, shard):
                progress.consumed, progress.parts = loaded.consumed, loaded.parts
                progress.yielded = loaded.yielded
        self.progress = progress

    def _same_shard(self, loaded: EpochProgress, shard: ShardSpec) -> bool:
        return (
            loaded.shard == shard
            and loaded.drop_last == self.drop_last
            and loaded.quota == self.quota
        )

    def worker_quota(self) -> int | None:
        """The parts this shard yields per epoch: its worker's share of the rank's quota."""
        shard = self.progress.shard
        if self.quota is None or shard is None:
            return self.quota
        share, extra = divmod(self.quota, shard.num_workers)
        return share + (1 if shard.worker_id < extra else 0)

    def quota_reached(self) -> bool:
        quota = self.worker_quota()
        return quota is not None and self.progress.yielded >= quota

    def yielded_part(self) -> None:
        self.progress.parts += 1
        self.progress.yielded += 1

    def plan(self, num_items: int | None) -> EpochPlan:
        """What the iteration begun by :meth:`start` serves.

        ``num_items`` is None when the objects are not listed yet: the plan then streams the
        listing (``items`` is None) if nothing needs the count (no shuffle, one rank, no state
        to resume), and raises LookupError otherwise, asking for the count.

        Raises:
            ValueError: the loaded state cannot resume here (another layout, and not a job
                state from :func:`merge_state_dicts`; or another listing).
        """
        progress, loaded = self.progress, self._resuming
        shard = progress.shard
        assert shard is not None, "start() comes first"
        if num_items is None:
            if loaded is None and not self.shuffle and shard.world_size == 1:
                return EpochPlan(shard, None, {})
            raise LookupError("the plan needs the number of items")
        self._resuming = None
        progress.num_items = num_items
        if loaded is None and self.quota is None:
            order = epoch_order(num_items, self.shuffle, self.seed, self.epoch)
            length = equal_length(num_items, shard.world_size, self.drop_last)
            positions = shard_positions(length, shard)
            return EpochPlan(shard, (order[p % num_items] for p in positions), {})
        return self._resume(loaded or self._fresh(), num_items, shard)

    def _resume(self, loaded: EpochProgress, num_items: int, shard: ShardSpec) -> EpochPlan:
        if loaded.num_items is not None and loaded.num_items != num_items:
            raise ValueError(
                f"cannot resume {self.kind}: the state was saved with {loaded.num_items} "
                f"items, but the dataset now has {num_items}; the objects changed since the "
                "state was saved"
            )
        same_shard = self._same_shard(loaded, shard)
        if self.quota is not None and loaded.history:
            raise ValueError(
                f"cannot resume {self.kind} with samples_per_rank from a joined state: a quota "
                "per rank does not carry over to another world size"
            )
        if not same_shard and not loaded.is_job_state:
            saved = loaded.shard
            assert saved is not None
            raise ValueError(
                f"cannot resume {self.kind}: the state was saved by shard {saved.index} of "
                f"{saved.num_shards} (rank {saved.rank} of {saved.world_size}, worker "
                f"{saved.worker_id} of {saved.num_workers}), but this iterator is shard "
                f"{shard.index} of {shard.num_shards}; to resume at another world size or "
                "number of DataLoader workers, join the states of every worker of every rank "
                f"with {self.kind}.merge_state_dicts() and load that"
            )
        # Replay the finished generations: what is left of the epoch, in order, and the parts
        # already read of items begun but not finished.
        sequence: Sequence[int] = range(num_items)
        skips: dict[int, int] = {}
        for world, workers, drop_last, counts in loaded.history:
            left, partial = remaining(len(sequence), world, workers, drop_last, counts)
            for i, parts in partial.items():
                skips[sequence[i]] = parts
            sequence = [sequence[i] for i in left]
        n = len(sequence)
        length = equal_length(n, shard.world_size, self.drop_last)
        mine: Sequence[int] = shard_positions(length, shard)
        if self.quota is not None and not mine:
            # A worker without items of its own meets its quota from its rank's share.
            mine = shard_positions(length, ShardSpec(shard.rank, shard.world_size))
            if not mine and self.quota:
                raise ValueError(f"{self.kind} has no items for rank {shard.rank} to read")
        consumed = loaded.consumed if same_shard else 0
        if same_shard and loaded.parts and mine:
            skips[sequence[mine[consumed % len(mine)] % n]] = loaded.parts
        order = epoch_order(num_items, self.shuffle, self.seed, self.epoch)
        base = [order[sequence[p % n]] for p in mine]
        wanted = set(base)
        skip_parts = {order[pos]: parts for pos, parts in skips.items() if order[pos] in wanted}
        if self.quota is not None:
            return EpochPlan(
                shard, itertools.islice(itertools.cycle(base), consumed, None), skip_parts
            )
        return EpochPlan(shard, base[consumed:], skip_parts)

    def finished_item(self) -> None:
        self.progress.consumed += 1
        self.progress.parts = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rank_world"] = self.rank()
        return state
