"""S3IterableDataset: sharding over ranks and workers, per-epoch shuffling, prefetch bounds,
and resuming mid-epoch with torchdata's StatefulDataLoader."""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import torch.distributed
import torch.utils.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchdata.stateful_dataloader import StatefulDataLoader

import s3torch
from s3torch._datasets import sharding
from s3torch.s3iterable_dataset import S3IterableDataset
from s3torch.s3reader import S3Reader
from support.datasets import GetRecorder, ListOnce, dataset_settings
from support.server import stocked_bucket

COUNT = 24


def body(key: str) -> bytes:
    return key.encode() * (1 + sum(key.encode()) % 40)


def read_item(reader: S3Reader) -> tuple[str, bytes]:
    return reader.key, reader.read()


def key_of(reader: S3Reader) -> str:
    return reader.key


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[tuple[str, list[str]]]:
    """A bucket with COUNT objects under "data/", for reading only."""
    keys = [f"data/{i:03d}.bin" for i in range(COUNT)]
    with stocked_bucket(s3_server, module_client, [(key, body(key)) for key in keys]) as name:
        yield name, keys


@pytest.fixture(scope="module")
def make(s3_server: Any, stored: tuple[str, list[str]]) -> Any:
    """Build a dataset over the stored objects, reachable from any process."""
    bucket, _ = stored
    settings = dataset_settings(s3_server)

    def build(**overrides: Any) -> S3IterableDataset:
        arguments = {**settings, "transform": key_of, **overrides}
        return S3IterableDataset.from_prefix(f"s3://{bucket}/data/", **arguments)

    return build


def test_yields_every_object_in_key_order(make: Any, stored: tuple[str, list[str]]) -> None:
    _, keys = stored
    assert list(make(transform=read_item)) == [(k, body(k)) for k in keys]
    assert list(make(prefetch_objects=0)) == keys


def test_from_objects_reads_the_named_objects_and_fails_on_a_missing_one(
    make: Any, s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, keys = stored
    base = make()
    uris = [f"s3://{bucket}/{keys[3]}", f"s3://{bucket}/{keys[1]}"]
    arguments = {
        "region": base.region,
        "endpoint": base.endpoint,
        "s3client_config": base._objects.s3client_config,
        "transform": read_item,
    }
    dataset = S3IterableDataset.from_objects(uris, **arguments)
    assert list(dataset) == [(keys[3], body(keys[3])), (keys[1], body(keys[1]))]
    missing = S3IterableDataset.from_objects([*uris, f"s3://{bucket}/gone"], **arguments)
    with pytest.raises(FileNotFoundError, match="gone"):
        list(missing)


def test_sharding_over_ranks_and_workers_covers_each_object_once(
    make: Any, stored: tuple[str, list[str]]
) -> None:
    _, keys = stored
    seen: list[str] = []
    for rank in range(2):
        loader = torch.utils.data.DataLoader(
            make(enable_sharding=True, shuffle=True, seed=4, rank=rank, world_size=2),
            batch_size=None,
            num_workers=2,
            multiprocessing_context="fork",
        )
        seen += list(loader)
    assert sorted(seen) == keys


def test_the_permutation_is_the_same_on_every_rank_before_sharding(
    make: Any, stored: tuple[str, list[str]]
) -> None:
    _, keys = stored
    whole = list(make(shuffle=True, seed=11))
    assert sorted(whole) == keys and whole != keys
    for rank in range(3):
        shard = make(enable_sharding=True, shuffle=True, seed=11, rank=rank, world_size=3)
        assert list(shard) == whole[rank::3]


def test_epochs_have_their_own_order_and_seeds_reproduce_it(make: Any) -> None:
    def order(seed: int, epoch: int) -> list[str]:
        dataset = make(shuffle=True, seed=seed)
        dataset.set_epoch(epoch)
        return list(dataset)

    assert order(1, 0) == order(1, 0)
    assert order(1, 1) == order(1, 1)
    assert order(1, 0) != order(1, 1)
    assert order(2, 0) != order(1, 0)
    assert sorted(order(1, 5)) == sorted(order(1, 0))


def test_without_sharding_every_worker_reads_everything_and_a_warning_says_so(
    make: Any, stored: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, keys = stored
    monkeypatch.setattr(sharding, "_WARNED", {})
    with pytest.warns(UserWarning, match="enable_sharding=False"):
        assert list(make(rank=1, world_size=2)) == keys


def _fake_rank(monkeypatch: pytest.MonkeyPatch, rank: int, world_size: int) -> None:
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None: rank)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: world_size)


def _listing_once(base: S3IterableDataset, bucket: str, **options: Any) -> S3IterableDataset:
    """A sharded dataset over "data/" that reaches the server as *base* does, its objects from a
    ``get_dataset_objects`` callable that fails if it is called a second time."""
    return S3IterableDataset(
        base.region,
        ListOnce(bucket, "data/"),
        base.endpoint,
        transform=key_of,
        s3client_config=base._objects.s3client_config,
        enable_sharding=True,
        **options,
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_workers_get_the_rank_and_the_listing_from_the_parent(
    make: Any, stored: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    bucket, _keys = stored
    whole = list(make(shuffle=True, seed=5))
    base = make()
    # Rank 1 of a 2-rank job, as torch.distributed reports it in the parent only: the spawned
    # workers have no process group and must use what the pickled dataset carries.
    _fake_rank(monkeypatch, 1, 2)
    dataset = _listing_once(base, bucket, shuffle=True, seed=5)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, num_workers=2, multiprocessing_context=method, collate_fn=list
    )
    got = [key for batch in loader for key in batch]
    monkeypatch.undo()
    assert sorted(got) == sorted(whole[1::2])
    # Worker w of rank 1 serves positions 1 + 2 * (w + 2k) of the epoch's permutation.
    assert got[:2] == whole[1::4][:2] and got[2:4] == whole[3::4][:2]


def test_set_epoch_lists_in_the_parent_so_forked_workers_inherit_it(
    make: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, keys = stored
    base = make()
    dataset = _listing_once(base, bucket)
    dataset.set_epoch(0)
    dataset._objects.source._function.calls = 1  # type: ignore[union-attr]  # listing again fails
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=2, multiprocessing_context="fork"
    )
    assert sorted(loader) == keys


class Recorder(GetRecorder):
    """A reader constructor recording when each GET starts, and a transform recording use."""

    def transform(self, reader: S3Reader) -> str:
        self.events.append(("transform", reader.key))
        assert reader.read() == body(reader.key)
        return reader.key


@pytest.mark.parametrize("ahead", [0, 1, 5, 100])
def test_prefetch_keeps_the_next_gets_in_flight_up_to_the_count(
    make: Any, stored: tuple[str, list[str]], ahead: int
) -> None:
    _, keys = stored
    recorder = Recorder()
    dataset = make(
        transform=recorder.transform, reader_constructor=recorder, prefetch_objects=ahead
    )
    assert list(dataset) == keys
    transformed = 0
    gets = 0
    for event, _ in recorder.events:
        if event == "GET":
            gets += 1
        else:
            transformed += 1
            assert gets == min(len(keys), transformed + ahead)


@pytest.mark.parametrize("budget", [1, 1500, 5000])
def test_prefetch_respects_the_byte_bound(
    make: Any, stored: tuple[str, list[str]], budget: int
) -> None:
    _, keys = stored
    sizes = {k: len(body(k)) for k in keys}
    recorder = Recorder()
    dataset = make(
        transform=recorder.transform,
        reader_constructor=recorder,
        prefetch_objects=100,
        prefetch_bytes=budget,
    )
    assert list(dataset) == keys
    transformed = 0
    requested: list[str] = []
    most_ahead = 0
    for event, key in recorder.events:
        if event == "GET":
            requested.append(key)
        else:
            transformed += 1
            # Requested but not yet handed over: one object, or within the byte budget.
            waiting = requested[transformed:]
            assert len(waiting) <= 1 or sum(sizes[k] for k in waiting) <= budget
            most_ahead = max(most_ahead, len(waiting))
    assert most_ahead >= 1  # a GET is always in flight ahead, however small the budget


def _collect(loader: Any, batches: int | None = None) -> list[str]:
    taken = itertools.islice(loader, batches) if batches is not None else loader
    return [key for batch in taken for key in batch]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batch_size=st.integers(1, 7),
    cut=st.integers(0, 30),
    shuffle=st.booleans(),
    world=st.sampled_from([(0, 1), (0, 2), (1, 2), (2, 3)]),
)
def test_stateful_dataloader_resumes_from_any_batch(
    make: Any, batch_size: int, cut: int, shuffle: bool, world: tuple[int, int]
) -> None:
    rank, world_size = world

    def loader() -> StatefulDataLoader:
        dataset = make(
            enable_sharding=True, shuffle=shuffle, seed=3, rank=rank, world_size=world_size
        )
        dataset.set_epoch(2)
        return StatefulDataLoader(dataset, batch_size=batch_size, collate_fn=list)

    full = _collect(loader())
    first = loader()
    head = _collect(first, cut)
    state = first.state_dict()
    second = loader()
    second.load_state_dict(state)
    rest = _collect(second)
    if cut > -(-len(full) // batch_size):
        # The first loader ran out: a state saved after the end starts the next epoch.
        assert head == full and rest == full
    else:
        assert head + rest == full
    # The next epoch starts afresh.
    assert sorted(_collect(second)) == sorted(full)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("method", "cuts"), [("fork", [0, 1, 3, 5]), ("forkserver", [3])])
def test_stateful_dataloader_resumes_with_workers(
    make: Any, stored: tuple[str, list[str]], method: str, cuts: list[int]
) -> None:
    _, keys = stored

    def loader() -> StatefulDataLoader:
        dataset = make(enable_sharding=True, shuffle=True, seed=8)
        dataset.set_epoch(1)
        return StatefulDataLoader(
            dataset,
            batch_size=2,
            num_workers=2,
            multiprocessing_context=method,
            collate_fn=list,
        )

    full = _collect(loader())
    assert sorted(full) == keys
    for cut in cuts:
        first = loader()
        head = _collect(first, cut)
        state = first.state_dict()
        second = loader()
        second.load_state_dict(state)
        assert head + _collect(second) == full, f"resumed after {cut} batches"


def test_resuming_with_another_shard_layout_or_listing_is_refused(make: Any) -> None:
    dataset = make(enable_sharding=True, rank=0, world_size=2)
    it = iter(dataset)
    next(it)
    state = dataset.state_dict()
    assert state["consumed"] == 1 and state["world_size"] == 2
    other = make(enable_sharding=True)
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="shard 0 of 2"):
        next(iter(other))
    changed = make(enable_sharding=True, rank=0, world_size=2)
    changed.load_state_dict({**state, "num_items": COUNT + 1})
    with pytest.raises(ValueError, match=f"saved with {COUNT + 1} items"):
        next(iter(changed))


def test_state_dict_round_trips_through_pickle_and_set_epoch_drops_it(make: Any) -> None:
    dataset = make(shuffle=True)
    dataset.set_epoch(3)
    it = iter(dataset)
    head = [next(it) for _ in range(5)]
    state = pickle.loads(pickle.dumps(dataset.state_dict()))
    assert state["epoch"] == 3
    resumed = make(shuffle=True)
    resumed.load_state_dict(state)
    assert resumed.epoch == 3
    fresh = make(shuffle=True)
    fresh.set_epoch(3)
    whole = list(fresh)
    assert head + list(resumed) == whole
    dropped = make(shuffle=True)
    dropped.load_state_dict(state)
    dropped.set_epoch(4)
    fresh.set_epoch(4)
    assert list(dropped) == list(fresh)


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"seed": "1"}, TypeError, "seed"),
        ({"rank": 0}, ValueError, "both rank and world_size"),
        ({"rank": 2, "world_size": 2}, ValueError, "rank=2"),
        ({"rank": 0, "world_size": True}, TypeError, "world_size"),
        ({"rank": 0, "world_size": 0}, ValueError, "world_size"),
        ({"prefetch_objects": -1}, ValueError, "prefetch_objects"),
        ({"prefetch_objects": 1.5}, TypeError, "prefetch_objects"),
        ({"transform": None}, TypeError, "transform"),
        ({"reader_constructor": 5}, TypeError, "reader_constructor"),
    ],
)
def test_bad_arguments_raise_typed_errors(
    make: Any, arguments: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        make(**arguments)


def test_bad_epochs_and_states_are_refused(make: Any) -> None:
    dataset = make()
    with pytest.raises(ValueError, match="epoch"):
        dataset.set_epoch(-1)
    with pytest.raises(TypeError, match="epoch"):
        dataset.set_epoch("1")
    state = dataset.state_dict()
    with pytest.raises(ValueError, match="not a dataset state"):
        dataset.load_state_dict({"version": 1, "epoch": 0})
    with pytest.raises(ValueError, match="no 'consumed'"):
        dataset.load_state_dict({k: v for k, v in state.items() if k != "consumed"})
    with pytest.raises(ValueError, match="version"):
        dataset.load_state_dict({**state, "s3torch_epoch_state": 9})
    with pytest.raises(ValueError, match="consumed"):
        dataset.load_state_dict({**state, "consumed": -1})
    with pytest.raises(ValueError, match="S3TarDataset"):
        dataset.load_state_dict({**state, "kind": "S3TarDataset"})
