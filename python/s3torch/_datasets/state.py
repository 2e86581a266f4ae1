"""The one epoch, shard and resume state of an iterable dataset: :class:`EpochState`.

Both :class:`~s3torch.S3IterableDataset` (items are objects) and :class:`~s3torch.S3TarDataset`
(items are tar shards, *parts* their samples) keep one. It knows the epoch, the rank and the
DataLoader worker, plans each iteration (which items, in which order, what to skip) and records
how far the latest one went, as a small JSON-friendly dict.

A saved state names its generations (see :mod:`.sharding`): the layouts the epoch ran under and,
per shard, how many items it finished. A state from one DataLoader worker resumes that worker at
the same layout; :func:`merge_state_dicts` joins the states of every worker of every rank into a
job state, which resumes at any world size and worker count. Counts are run-length encoded by
shard, so a job state stays small when ranks run in step (as under DDP).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._checks import check_int
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

__all__ = ["EpochPlan", "EpochProgress", "EpochState", "merge_state_dicts"]

STATE_VERSION = 2
_MARK = "s3torch_epoch_state"
_STATE_ENTRIES = (
    "kind",
    "epoch",
    "num_items",
    "history",
    "world_size",
    "num_workers",
    "rank",
    "worker_id",
    "drop_last",
    "consumed",
    "parts",
    "yielded",
    "quota",
)

# One generation: (world_size, num_workers, drop_last, {residue: (items finished, parts read)}).
Generation = tuple[int, int, bool, dict[int, tuple[int, int]]]


def _encode_counts(counts: Mapping[int, tuple[int, int]], shards: int) -> list[list[int]]:
    runs: list[list[int]] = []
    for residue in range(shards):
        count, parts = counts[residue]
        if runs and runs[-1][0] == count and runs[-1][1] == parts:
            runs[-1][2] += 1
        else:
            runs.append([count, parts, 1])
    return runs


def _decode_counts(runs: Any, shards: int, where: str) -> dict[int, tuple[int, int]]:
    counts: dict[int, tuple[int, int]] = {}
    try:
        for count, parts, run in runs:
            for _ in range(check_int(f"{where} run", run, minimum=1)):
                counts[len(counts)] = (
                    check_int(f"{where} count", count, minimum=0),
                    check_int(f"{where} parts", parts, minimum=0),
                )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: bad shard counts ({error})") from None
    if len(counts) != shards:
        raise ValueError(f"{where}: counts for {len(counts)} shards, expected {shards}")
    return counts


def _encode_generation(generation: Generation) -> list[Any]:
    world, workers, drop_last, counts = generation
    return [world, workers, drop_last, _encode_counts(counts, world * workers)]


def _decode_generation(raw: Any, where: str) -> Generation:
    if not isinstance(raw, Sequence) or len(raw) != 4:
        raise ValueError(f"{where}: a generation is [world_size, num_workers, drop_last, counts]")
    world, workers, drop_last, runs = raw
    try:
        world = check_int("world_size", world, minimum=1)
        workers = check_int("num_workers", workers, minimum=1)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    if not isinstance(drop_last, bool):
        raise ValueError(f"{where}: drop_last must be a bool, got {drop_last!r}")
    return world, workers, drop_last, _decode_counts(runs, world * workers, where)


@dataclass
class EpochProgress:
    """How far one iteration has gone in its epoch, and where it stood when it started."""

    kind: str
    epoch: int
    num_items: int | None = None
    history: list[Generation] = field(default_factory=list)
    # This generation's layout and this shard's place in it; None in a job state, whose
    # every generation is complete.
    shard: ShardSpec | None = None
    drop_last: bool = False
    consumed: int = 0  # items finished
    parts: int = 0  # parts (tar samples) read of the next item
    yielded: int = 0  # parts yielded in the epoch, with a quota
    quota: int | None = None  # parts per rank and epoch, reading the items again if need be

    @property
    def is_job_state(self) -> bool:
        return self.shard is None

    def to_dict(self) -> dict[str, Any]:
        shard = self.shard
        return {
            _MARK: STATE_VERSION,
            "kind": self.kind,
            "epoch": self.epoch,
            "num_items": self.num_items,
            "history": [_encode_generation(g) for g in self.history],
            "world_size": None if shard is None else shard.world_size,
            "num_workers": None if shard is None else shard.num_workers,
            "rank": None if shard is None else shard.rank,
            "worker_id": None if shard is None else shard.worker_id,
            "drop_last": self.drop_last,
            "consumed": self.consumed,
            "parts": self.parts,
            "yielded": self.yielded,
            "quota": self.quota,
        }

    @classmethod
    def from_dict(cls, state: Any, kind: str) -> EpochProgress:
        """Check a saved state; raise ValueError naming what is wrong."""
        if not isinstance(state, Mapping):
            raise TypeError(f"{kind} state must be a mapping, not {type(state).__name__}")
        if _MARK not in state:
            raise ValueError(f"{kind} state has no {_MARK!r} entry: it is not a dataset state")
        if state[_MARK] != STATE_VERSION:
            raise ValueError(
                f"{kind} state has version {state[_MARK]!r}; this s3torch reads {STATE_VERSION}"
            )
        for name in _STATE_ENTRIES:
            if name not in state:
                raise ValueError(f"{kind} state has no {name!r} entry")
        if state["kind"] != kind:
            raise ValueError(f"{kind} cannot load a state saved by {state['kind']!r}")
        try:
            epoch = check_int("epoch", state["epoch"], minimum=0)
            consumed = check_int("consumed", state["consumed"], minimum=0)
            parts = check_int("parts", state["parts"], minimum=0)
            yielded = check_int("yielded", state["yielded"], minimum=0)
            quota = state["quota"]
            if quota is not None:
                check_int("quota", quota, minimum=0)
            num_items = state["num_items"]
            if num_items is not None:
                check_int("num_items", num_items, minimum=0)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{kind} state: {error}") from None
        if not isinstance(state["drop_last"], bool):
            raise ValueError(f"{kind} state: drop_last must be a bool")
        if not isinstance(state["history"], Sequence):
            raise ValueError(f"{kind} state: history must be a list")
        history = [_decode_generation(g, f"{kind} state history") for g in state["history"]]
        layout = [state[n] for n in ("rank", "world_size", "worker_id", "num_workers")]
        shard: ShardSpec | None = None
        if any(v is not None for v in layout):
            try:
                world = check_int("world_size", layout[1], minimum=1)
                workers = check_int("num_workers", layout[3], minimum=1)
                rank = check_int("rank", layout[0], minimum=0, maximum=world - 1)
                worker = check_int("worker_id", layout[2], minimum=0, maximum=workers - 1)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{kind} state: {error}") from None
            shard = ShardSpec(rank, world, worker, workers)
        return cls(
            kind,
            epoch,
            num_items,
            history,
            shard,
            state["drop_last"],
            consumed,
            parts,
            yielded,
            quota,
        )


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


def _find_states(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every dataset state inside ``value``: a state, a StatefulDataLoader state, or any nest
    of mappings and lists of them."""
    if isinstance(value, Mapping):
        if _MARK in value:
            yield value
            return
        if "buffered" in value and "inner" in value:
            raise ValueError(
                "cannot join states saved through a ShuffleDataset buffer: the samples it held "
                "would be read twice; resume at another layout without shuffle_buffer"
            )
        for inner in value.values():
            yield from _find_states(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            yield from _find_states(inner)


def merge_state_dicts(states: Iterable[Any], kind: str) -> dict[str, Any]:
    """One job state from the states of every DataLoader worker of every rank of a job.

    States from before any iteration (an epoch from its start) add nothing and are left out.

    Raises:
        ValueError: the states are not from one epoch of one job, or some shard is missing.
    """
    found = [EpochProgress.from_dict(s, kind) for s in _find_states(list(states))]
    if not found:
        raise ValueError(f"no {kind} state found in what was given")
    untouched = [p for p in found if p.is_job_state and not p.history]
    found = [p for p in found if p not in untouched] or untouched[:1]
    if any(p.quota is not None for p in found):
        raise ValueError(
            f"cannot join {kind} states saved with samples_per_rank: a quota per rank does not "
            "carry over to another world size"
        )
    jobs = [p for p in found if p.is_job_state]
    if jobs:
        if any(p != jobs[0] for p in found):
            raise ValueError(f"cannot join a {kind} job state with other states")
        return jobs[0].to_dict()
    first = found[0]
    assert first.shard is not None
    world, workers = first.shard.world_size, first.shard.num_workers
    num_items = next((p.num_items for p in found if p.num_items is not None), None)
    counts: dict[int, tuple[int, int]] = {}
    for p in found:
        assert p.shard is not None
        layout = (p.shard.world_size, p.shard.num_workers)
        if (p.epoch, p.history, p.drop_last, layout) != (
            first.epoch,
            first.history,
            first.drop_last,
            (world, workers),
        ) or p.num_items not in (None, num_items):
            raise ValueError(
                f"cannot join {kind} states of different epochs, listings or layouts "
                f"(epoch {p.epoch} vs {first.epoch}, world_size x num_workers {layout} vs "
                f"{(world, workers)}, {p.num_items} vs {num_items} items)"
            )
        mine = (p.consumed, p.parts)
        if counts.setdefault(p.shard.residue, mine) != mine:
            raise ValueError(f"two different {kind} states for shard {p.shard.index}")
    if len(counts) != world * workers:
        missing = sorted(
            ShardSpec(r % world, world, r // world, workers).index
            for r in range(world * workers)
            if r not in counts
        )
        raise ValueError(
            f"cannot join {kind} states: shards {missing} of {world * workers} are missing; "
            "give the state of every DataLoader worker of every rank"
        )
    generation = (world, workers, first.drop_last, counts)
    job = EpochProgress(kind, first.epoch, num_items, [*first.history, generation])
    return job.to_dict()
