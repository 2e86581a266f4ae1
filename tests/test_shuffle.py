"""ShuffleDataset: a bounded shuffle buffer over any iterable dataset, and its resumption."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import torch.utils.data
from hypothesis import given, settings
from hypothesis import strategies as st

from s3torch.shuffle import ShuffleDataset


class Numbers(torch.utils.data.IterableDataset[int]):
    """0..n-1 (times 1000 * epoch), with state: how many were yielded in this epoch."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.epoch = 0
        self.consumed = 0
        self._resume: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self._resume = state["consumed"]

    def __iter__(self) -> Iterator[int]:
        start, self._resume = self._resume or 0, None
        self.consumed = start
        for i in range(start, self.n):
            self.consumed = i + 1
            yield 1000 * self.epoch + i


class PlainNumbers(torch.utils.data.IterableDataset[int]):
    """0..n-1 with no state of its own."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))


def _order(n: int, buffer_size: int, seed: int, epoch: int = 0) -> list[int]:
    dataset = ShuffleDataset(Numbers(n), buffer_size, seed)
    dataset.set_epoch(epoch)
    return list(dataset)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), buffer_size=st.integers(1, 64), seed=st.integers(0, 2**40))
def test_yields_every_input_exactly_once(n: int, buffer_size: int, seed: int) -> None:
    assert sorted(_order(n, buffer_size, seed)) == list(range(n))


def test_buffer_of_one_keeps_the_order() -> None:
    assert _order(50, 1, seed=3) == list(range(50))


def test_same_seed_and_epoch_give_the_same_order_and_others_differ() -> None:
    first = _order(200, 32, seed=5, epoch=2)
    assert first == _order(200, 32, seed=5, epoch=2)
    assert first != list(range(2000, 2200))
    assert [x % 1000 for x in _order(200, 32, seed=5, epoch=3)] != [x % 1000 for x in first]
    assert _order(200, 32, seed=6, epoch=2) != first


def test_items_move_at_most_as_far_back_as_the_buffer_allows() -> None:
    # Output k is chosen among inputs 0..k+buffer_size-1.
    order = _order(500, 16, seed=1)
    assert all(item < k + 16 for k, item in enumerate(order))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 200),
    buffer_size=st.integers(1, 40),
    seed=st.integers(0, 1000),
    cut=st.integers(0, 220),
    stateful=st.booleans(),
)
def test_resumes_exactly_from_any_point(
    n: int, buffer_size: int, seed: int, cut: int, stateful: bool
) -> None:
    def make() -> ShuffleDataset:
        inner = Numbers(n) if stateful else PlainNumbers(n)
        dataset = ShuffleDataset(inner, buffer_size, seed)
        dataset.set_epoch(1)
        return dataset

    full = list(make())
    first = make()
    head = list(itertools.islice(iter(first), cut))
    state = first.state_dict()
    second = make()
    second.set_epoch(0)  # a state for epoch 1 overrides the epoch
    second.load_state_dict(state)
    assert second.state_dict() == state
    assert head + list(second) == full


def test_state_survives_two_resumes() -> None:
    def make() -> ShuffleDataset:
        return ShuffleDataset(Numbers(100), 10, seed=9)

    full = list(make())
    a = make()
    it = iter(a)
    part1 = [next(it) for _ in range(30)]
    b = make()
    b.load_state_dict(a.state_dict())
    it = iter(b)
    part2 = [next(it) for _ in range(30)]
    c = make()
    c.load_state_dict(b.state_dict())
    assert part1 + part2 + list(c) == full


def test_set_epoch_reaches_the_inner_dataset_and_drops_a_state_for_another_epoch() -> None:
    inner = Numbers(10)
    dataset = ShuffleDataset(inner, 4)
    dataset.set_epoch(3)
    assert inner.epoch == 3
    assert sorted(dataset) == list(range(3000, 3010))
    it = iter(dataset)
    next(it)
    state = dataset.state_dict()
    dataset.load_state_dict(state)
    dataset.set_epoch(4)
    assert sorted(dataset) == list(range(4000, 4010))


def test_resume_fails_when_the_inner_dataset_is_shorter_than_before() -> None:
    dataset = ShuffleDataset(PlainNumbers(50), 8)
    it = iter(dataset)
    for _ in range(30):
        next(it)
    state = dataset.state_dict()
    shorter = ShuffleDataset(PlainNumbers(10), 8)
    shorter.load_state_dict(state)
    with pytest.raises(ValueError, match="ended after"):
        list(shorter)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((PlainNumbers(3), 0), ValueError, "buffer_size"),
        ((PlainNumbers(3), 2.5), TypeError, "buffer_size must be an int"),
        ((PlainNumbers(3), True), TypeError, "buffer_size must be an int"),
        ((42, 2), TypeError, "iterable"),
        ((PlainNumbers(3), 2, "seed"), TypeError, "seed"),
    ],
)
def test_bad_arguments_are_refused(args: tuple[Any, ...], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ShuffleDataset(*args)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"version": 2}, "version"),
        ({"outputs": -1}, "outputs"),
        ({"buffered": list(range(20))}, "buffer_size"),
        ({"buffered": [99]}, "first, taken"),
    ],
)
def test_malformed_states_are_refused(change: dict[str, Any], match: str) -> None:
    dataset = ShuffleDataset(PlainNumbers(30), 8)
    it = iter(dataset)
    next(it)
    state = dataset.state_dict() | change
    with pytest.raises(ValueError, match=match):
        ShuffleDataset(PlainNumbers(30), 8).load_state_dict(state)
    with pytest.raises(ValueError, match="no 'epoch'"):
        dataset.load_state_dict({k: v for k, v in state.items() if k != "epoch"})


def test_dataloader_workers_each_shuffle_their_own_share() -> None:
    class Shared(torch.utils.data.IterableDataset[int]):
        def __iter__(self) -> Iterator[int]:
            info = torch.utils.data.get_worker_info()
            worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
            return iter(range(worker, 100, workers))

    loader = torch.utils.data.DataLoader(
        ShuffleDataset(Shared(), 10, seed=2), batch_size=None, num_workers=2
    )
    got = [int(x) for x in loader]
    assert sorted(got) == list(range(100))
    assert got != sorted(got)
