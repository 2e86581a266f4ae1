"""The saved form of an iterable dataset's progress in an epoch, and joining a job's states.

:class:`EpochProgress` is what ``state_dict()`` returns, as a small JSON-friendly dict: the
epoch, the listing's length, the generations the epoch already ran under (see
:mod:`.sharding`) and, for one DataLoader worker of one rank, how far it went in the current
one. :func:`merge_state_dicts` joins the states of every worker of every rank into a *job
state*, whose generations are all complete, so that it resumes at any world size and worker
count. Counts are run-length encoded by shard, so a job state stays small when ranks run in
step (as under DDP).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._checks import check_int
from .sharding import ShardSpec

__all__ = ["STATE_VERSION", "EpochProgress", "Generation", "merge_state_dicts"]

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
