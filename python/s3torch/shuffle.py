"""A bounded shuffle buffer for any iterable dataset: :class:`ShuffleDataset`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch.utils.data

from ._checks import check_int
from ._datasets.sharding import mix_seed

__all__ = ["ShuffleDataset"]

_STATE_VERSION = 1


def _is_stateful(obj: object) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    )


class ShuffleDataset(torch.utils.data.IterableDataset[Any]):
    """Shuffle the items of an iterable dataset through a buffer of ``buffer_size`` items.

    The buffer is filled from ``dataset``; each step yields a random item of the buffer and
    puts the next input in its place. Items move at most as far as the buffer allows, so use
    it on top of a coarse shuffle (``S3IterableDataset(shuffle=True)``, shuffled tar shards)
    when the inputs are ordered. The order depends only on ``seed``, the epoch (see
    :meth:`set_epoch`), the DataLoader worker id, and the inputs' order: the same seed and epoch
    give the same order.

    In DataLoader workers each worker shuffles the share its copy of ``dataset`` yields (shard
    the inner dataset, e.g. ``enable_sharding=True``); the buffer lives in the worker.

    **Resuming.** :meth:`state_dict` records the epoch, the RNG position, which inputs sit in
    the buffer and, when ``dataset`` has ``state_dict``/``load_state_dict`` of its own, its
    state from just before the oldest input still buffered. :meth:`load_state_dict` then
    re-reads from there (a few times ``buffer_size`` inputs, usually) to rebuild the buffer, and
    iteration continues exactly where it stopped, as torchdata's ``StatefulDataLoader``
    expects. An inner dataset without state is re-read from the start of the epoch instead
    (correct, but slower); either way the inner dataset must yield the same items in the same
    order when read again.

    Example::

        from s3torch import S3IterableDataset, ShuffleDataset

        objects = S3IterableDataset.from_prefix("s3://bucket/train/", enable_sharding=True,
                                                shuffle=True, transform=decode)
        dataset = ShuffleDataset(objects, buffer_size=1000, seed=7)

    Args:
        dataset: any iterable of items (typically an ``IterableDataset``).
        buffer_size: how many items the buffer holds (1 means no shuffling).
        seed: the seed of the buffer's choices.

    Raises:
        ValueError: ``buffer_size`` < 1.
        TypeError: ``dataset`` is not iterable.
    """

    def __init__(self, dataset: Iterable[Any], buffer_size: int, seed: int = 0) -> None:
        if not isinstance(dataset, Iterable):
            raise TypeError(f"dataset must be iterable, not {type(dataset).__name__}")
        size = check_int("buffer_size", buffer_size, minimum=1)
        self._dataset = dataset
        self._buffer_size = size
        self._seed = check_int("seed", seed)
        self._epoch = 0
        self._resume: dict[str, Any] | None = None
        self._current: _ShuffleIterator | None = None

    @property
    def dataset(self) -> Iterable[Any]:
        """The dataset being shuffled."""
        return self._dataset

    @property
    def buffer_size(self) -> int:
        """How many items the buffer holds."""
        return self._buffer_size

    @property
    def epoch(self) -> int:
        """The epoch the next iteration serves (see :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration serves; passed on to ``dataset.set_epoch`` if it
        has one. A loaded state for another epoch is dropped."""
        self._epoch = check_int("epoch", epoch, minimum=0)
        if self._resume is not None and self._resume["epoch"] != self._epoch:
            self._resume = None
        self._current = None
        set_inner = getattr(self._dataset, "set_epoch", None)
        if callable(set_inner):
            set_inner(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where the latest iteration stands (see the class docs)."""
        if self._resume is not None:
            return dict(self._resume)
        if self._current is not None:
            return self._current.state()
        return _initial_state(self._epoch, self._inner_state())

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Make the next iteration continue from ``state_dict`` (from :meth:`state_dict`).

        Raises:
            ValueError: the state is malformed or does not fit this dataset.
        """
        state = _check_state(state_dict, self._buffer_size)
        self._epoch = state["epoch"]
        self._resume = state
        self._current = None

    def _inner_state(self) -> Any:
        return self._dataset.state_dict() if _is_stateful(self._dataset) else None  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Any]:
        resume, self._resume = self._resume, None
        worker = torch.utils.data.get_worker_info()
        stream = mix_seed(self._seed, self._epoch, 0 if worker is None else worker.id)
        self._current = _ShuffleIterator(
            self._dataset, self._buffer_size, stream, self._epoch, resume
        )
        return self._current

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_current"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"ShuffleDataset({self._dataset!r}, buffer_size={self._buffer_size}, seed={self._seed})"
        )


def _initial_state(epoch: int, inner: Any) -> dict[str, Any]:
    return {
        "version": _STATE_VERSION,
        "epoch": epoch,
        "outputs": 0,
        "taken": 0,
        "buffered": [],
        "first": 0,
        "inner": inner,
    }


def _check_state(state: Mapping[str, Any], buffer_size: int) -> dict[str, Any]:
    if not isinstance(state, Mapping):
        raise TypeError(f"ShuffleDataset state must be a mapping, not {type(state).__name__}")
    names = ("version", "epoch", "outputs", "taken", "buffered", "first", "inner")
    missing = [name for name in names if name not in state]
    if missing:
        raise ValueError(f"ShuffleDataset state has no {missing[0]!r} entry")
    if state["version"] != _STATE_VERSION:
        raise ValueError(f"ShuffleDataset state has version {state['version']!r}; expected 1")
    for name in ("epoch", "outputs", "taken", "first"):
        value = state[name]
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"ShuffleDataset state: {name} must be an int >= 0, got {value!r}")
    buffered = list(state["buffered"])
    if len(buffered) > buffer_size:
        raise ValueError(
            f"ShuffleDataset state holds {len(buffered)} buffered items, more than "
            f"buffer_size={buffer_size}"
        )
    if any(not isinstance(i, int) or not state["first"] <= i < state["taken"] for i in buffered):
        raise ValueError("ShuffleDataset state: buffered inputs must lie in [first, taken)")
    return {name: state[name] for name in names} | {"buffered": buffered}


class _ShuffleIterator:
    """One epoch through the buffer.

    Inputs are numbered from 0 in the order ``dataset`` yields them. Output ``n`` takes slot
    ``mix_seed(stream, n) % len(slots)`` of the buffer: a pure function of the output number,
    so the RNG state is just ``outputs``.
    """

    def __init__(
        self,
        dataset: Iterable[Any],
        buffer_size: int,
        stream: int,
        epoch: int,
        resume: dict[str, Any] | None,
    ) -> None:
        self._dataset = dataset
        self._stateful = _is_stateful(dataset)
        self._buffer_size = buffer_size
        self._stream = stream
        self._epoch = epoch
        self._resume = resume
        self._inputs: Iterator[Any] | None = None
        self._slots: list[Any] = []
        self._slot_inputs: list[int] = []
        # The inner dataset's state just before each buffered input was read.
        self._snapshots: dict[int, Any] = {}
        self._taken = 0
        self._outputs = 0 if resume is None else resume["outputs"]
        self._exhausted = False

    def __iter__(self) -> _ShuffleIterator:
        return self

    def _read(self) -> tuple[bool, Any]:
        """The next input, recording the inner state before it; (False, None) at the end."""
        assert self._inputs is not None
        snapshot = self._dataset.state_dict() if self._stateful else None  # type: ignore[attr-defined]
        try:
            item = next(self._inputs)
        except StopIteration:
            self._exhausted = True
            return False, None
        self._snapshots[self._taken] = snapshot
        self._taken += 1
        return True, item

    def _start(self) -> None:
        resume = self._resume
        if resume is None:
            self._inputs = iter(self._dataset)
            return
        first, taken = resume["first"], resume["taken"]
        if self._stateful and resume["inner"] is not None:
            self._dataset.load_state_dict(resume["inner"])  # type: ignore[attr-defined]
            skip = 0
        else:
            skip = first  # no inner state: read the epoch again from its start
        self._inputs = iter(self._dataset)
        for _ in range(skip):
            if next(self._inputs, _END) is _END:
                raise ValueError(
                    f"cannot resume ShuffleDataset: the dataset ended after fewer than {first} "
                    "items; it must yield the same items when read again"
                )
        wanted = {index: slot for slot, index in enumerate(resume["buffered"])}
        slots: list[Any] = [None] * len(wanted)
        self._taken = first
        while self._taken < taken:
            index = self._taken
            got, item = self._read()
            if not got:
                raise ValueError(
                    f"cannot resume ShuffleDataset: the dataset ended after {index} items, "
                    f"before the {taken} read when the state was saved"
                )
            slot = wanted.get(index)
            if slot is None:
                del self._snapshots[index]
            else:
                slots[slot] = item
        self._slots = slots
        self._slot_inputs = list(resume["buffered"])

    def __next__(self) -> Any:
        if self._inputs is None:
            self._start()
        while len(self._slots) < self._buffer_size and not self._exhausted:
            got, item = self._read()
            if got:
                self._slots.append(item)
                self._slot_inputs.append(self._taken - 1)
        if not self._slots:
            raise StopIteration
        slot = mix_seed(self._stream, self._outputs) % len(self._slots)
        item = self._slots[slot]
        del self._snapshots[self._slot_inputs[slot]]
        got, replacement = (False, None) if self._exhausted else self._read()
        if got:
            self._slots[slot] = replacement
            self._slot_inputs[slot] = self._taken - 1
        else:
            self._slots[slot] = self._slots[-1]
            self._slot_inputs[slot] = self._slot_inputs[-1]
            self._slots.pop()
            self._slot_inputs.pop()
        self._outputs += 1
        return item

    def state(self) -> dict[str, Any]:
        if self._inputs is None and self._resume is not None:
            return dict(self._resume)
        if self._slot_inputs:
            first = min(self._slot_inputs)
            inner = self._snapshots[first]
        else:
            first = self._taken
            inner = self._dataset.state_dict() if self._stateful else None  # type: ignore[attr-defined]
        return {
            "version": _STATE_VERSION,
            "epoch": self._epoch,
            "outputs": self._outputs,
            "taken": self._taken,
            "buffered": list(self._slot_inputs),
            "first": first,
            "inner": inner,
        }


_END: Any = object()
