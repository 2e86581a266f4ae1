"""The arithmetic of epochs and shards: epoch order, equal shards over ranks and workers, seeds.

An epoch visits ``range(n)`` in :func:`epoch_order`. With sharding, the order is first made a
multiple of the world size (:func:`equal_length`: padded by repeating its start, as
``DistributedSampler`` does, or cut with ``drop_last``), so every rank yields the same number
of items; then position ``p`` goes to rank ``p % world_size`` and, within that rank, to worker
``(p // world_size) % num_workers`` (:func:`shard_positions`).

A resumed epoch is a sequence of *generations*, one per layout it ran under: each generation
serves what the previous ones left (:func:`remaining`), split by its own layout, so a job can
stop at one world size and worker count and go on at another.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._checks import check_int

__all__ = [
    "ShardSpec",
    "check_rank",
    "current_shard",
    "distributed_rank",
    "epoch_order",
    "equal_length",
    "mix_seed",
    "remaining",
    "shard_positions",
    "warn_unsharded",
]


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
        """This shard's number in ``range(num_shards)``, rank-major (as users count them)."""
        return self.rank * self.num_workers + self.worker_id

    @property
    def residue(self) -> int:
        """The first epoch position this shard serves; it serves every ``num_shards``-th."""
        return self.rank + self.world_size * self.worker_id


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
    return range(min(spec.residue, num_items), num_items, spec.num_shards)


def equal_length(num_items: int, world_size: int, drop_last: bool) -> int:
    """The epoch's length once every rank has the same share: ``num_items`` rounded up to a
    multiple of ``world_size`` (positions past the end repeat the order from its start), or
    down with ``drop_last``. An empty epoch stays empty."""
    if num_items == 0:
        return 0
    if drop_last:
        return num_items - num_items % world_size
    return num_items + (-num_items % world_size)


def remaining(
    num_items: int,
    world_size: int,
    num_workers: int,
    drop_last: bool,
    progress: Mapping[int, tuple[int, int]],
) -> tuple[list[int], dict[int, int]]:
    """What one generation leaves of a sequence of ``num_items`` items for the next one.

    ``progress`` maps each shard's :attr:`ShardSpec.residue` to ``(items finished, parts of the
    next item already read)`` (parts: samples of a tar shard; 0 for whole objects). Returns the
    indices not finished, in order, and the parts to skip of those partly read. An item reached
    through padding counts as read; items that ``drop_last`` cut are dropped for the epoch.
    """
    shards = world_size * num_workers
    length = equal_length(num_items, world_size, drop_last)
    done = bytearray(num_items)
    partial: dict[int, int] = {}
    for residue, (count, parts) in progress.items():
        for p in range(residue, min(length, residue + shards * count), shards):
            done[p % num_items] = 1
        nxt = residue + shards * count
        if parts and nxt < length:
            partial[nxt % num_items] = max(parts, partial.get(nxt % num_items, 0))
    kept = num_items if not drop_last else length
    left = [i for i in range(kept) if not done[i]]
    return left, {i: parts for i, parts in partial.items() if not done[i]}


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


def check_rank(rank: object, world_size: object) -> tuple[int, int] | None:
    """Validate an explicit ``rank``/``world_size`` pair (both or neither)."""
    if rank is None and world_size is None:
        return None
    if rank is None or world_size is None:
        raise ValueError("give both rank and world_size, or neither")
    size = check_int("world_size", world_size, minimum=1)
    return check_int("rank", rank, minimum=0, maximum=size - 1), size


_WARNED: dict[str, bool] = {}


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
