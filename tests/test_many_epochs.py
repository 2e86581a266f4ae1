"""Many epochs on many ranks: equal shards (padding or drop_last), len(), and elastic resume
(a state taken at one world size and worker count, resumed at another).

The arithmetic is checked under Hypothesis against the state object itself (no S3); then the
datasets against the server, through torchdata's StatefulDataLoader, and a 2-rank gloo job that
all-reduces once per batch to the end of the epoch.
"""

from __future__ import annotations

import datetime
import itertools
import json
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.utils.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchdata.stateful_dataloader import StatefulDataLoader

import s3torch
from s3torch import S3IterableDataset, S3TarDataset
from s3torch._datasets.progress import merge_state_dicts
from s3torch._datasets.sharding import ShardSpec, equal_length, remaining, shard_positions
from s3torch._datasets.state import EpochState
from support.datasets import dataset_settings
from support.server import stocked_bucket

KIND = "S3IterableDataset"


def _worker(worker_id: int, num_workers: int) -> Any:
    return SimpleNamespace(id=worker_id, num_workers=num_workers)


def _started_shard(
    kind: str,
    layout: tuple[int, int],
    rank: int,
    worker: int,
    *,
    shuffle: bool,
    seed: int,
    drop_last: bool = False,
    epoch: int | None = None,
    state: Any = None,
) -> EpochState:
    """The sharded EpochState that DataLoader worker *worker* of *rank* keeps in a job of
    *layout* (world size, workers per rank), moved to *epoch* and loaded with *state* where they
    are given, and started."""
    world, workers = layout
    epoch_state = EpochState(
        kind,
        enable_sharding=True,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
        rank=rank,
        world_size=world,
    )
    if epoch is not None:
        epoch_state.set_epoch(epoch)
    if state is not None:
        epoch_state.load_state_dict(state)
    epoch_state.start(_worker(worker, workers))
    return epoch_state


class Job:
    """One job's shards, each an EpochState as a DataLoader worker of a rank keeps it."""

    def __init__(
        self, n: int, world: int, workers: int, drop_last: bool, shuffle: bool, state: Any = None
    ) -> None:
        self.n = n
        self.shards: list[tuple[EpochState, list[int]]] = []
        for rank in range(world):
            for worker in range(workers):
                epoch_state = _started_shard(
                    KIND,
                    (world, workers),
                    rank,
                    worker,
                    shuffle=shuffle,
                    seed=5,
                    drop_last=drop_last,
                    epoch=3,
                    state=state,
                )
                plan = epoch_state.plan(n)
                assert plan.items is not None
                self.shards.append((epoch_state, list(plan.items)))
        self.world, self.workers = world, workers

    def run(self, stops: list[int] | None = None) -> list[int]:
        """Yield each shard's items (up to its stop) and return them all."""
        seen: list[int] = []
        for k, (epoch_state, items) in enumerate(self.shards):
            stop = len(items) if stops is None else min(stops[k % len(stops)], len(items))
            for item in items[:stop]:
                seen.append(item)
                epoch_state.finished_item()
        return seen

    def per_rank(self) -> list[int]:
        return [
            sum(len(items) for _, items in self.shards[r * self.workers : (r + 1) * self.workers])
            for r in range(self.world)
        ]

    def states(self) -> list[list[dict[str, Any]]]:
        """One list of worker states per rank, as a StatefulDataLoader holds them."""
        return [
            [s.state_dict() for s, _ in self.shards[r * self.workers : (r + 1) * self.workers]]
            for r in range(self.world)
        ]


layouts = st.tuples(st.integers(1, 5), st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 60), layout=layouts, drop_last=st.booleans(), shuffle=st.booleans())
def test_every_rank_gets_the_same_share(
    n: int, layout: tuple[int, int], drop_last: bool, shuffle: bool
) -> None:
    world, workers = layout
    job = Job(n, world, workers, drop_last, shuffle)
    shares = job.per_rank()
    assert len(set(shares)) == 1
    assert shares[0] == equal_length(n, world, drop_last) // world
    seen = Counter(job.run())
    if drop_last:
        assert max(seen.values(), default=1) == 1 and n - len(seen) == n % world
    else:
        assert set(seen) == set(range(n)) and sum(seen.values()) - n == (-n % world if n else 0)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 60),
    before=layouts,
    after=layouts,
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    stops=st.lists(st.integers(0, 30), min_size=1, max_size=15),
)
def test_a_job_resumes_at_another_world_size_reading_each_item_once(
    n: int,
    before: tuple[int, int],
    after: tuple[int, int],
    drop_last: bool,
    shuffle: bool,
    stops: list[int],
) -> None:
    first = Job(n, *before, drop_last, shuffle)
    head = first.run(stops)
    state = merge_state_dicts(first.states(), KIND)
    second = Job(n, *after, drop_last, shuffle, state=json.loads(json.dumps(state)))
    shares = second.per_rank()
    assert len(set(shares)) == 1  # equal shards again, after the resume
    seen = Counter(head + second.run())
    repeats = sum(seen.values()) - len(seen)
    slack = (before[0] - 1) + (after[0] - 1)  # padding: fewer than one per rank and layout
    if drop_last:
        assert repeats == 0 and set(seen) <= set(range(n)) and n - len(seen) <= slack
    else:
        assert set(seen) == set(range(n)) and repeats <= slack


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 40),
    layouts_=st.lists(layouts, min_size=2, max_size=4),
    stops=st.lists(st.integers(0, 8), min_size=1, max_size=8),
)
def test_resuming_again_and_again_still_reads_each_item_once(
    n: int, layouts_: list[tuple[int, int]], stops: list[int]
) -> None:
    seen: list[int] = []
    state = None
    for layout in layouts_[:-1]:
        job = Job(n, *layout, True, True, state=state)
        seen += job.run(stops)
        state = merge_state_dicts(job.states(), KIND)
    seen += Job(n, *layouts_[-1], True, True, state=state).run()
    assert len(seen) == len(set(seen))
    assert n - len(seen) <= sum(world - 1 for world, _ in layouts_)


def test_the_same_layout_resumes_from_one_workers_own_state() -> None:
    job = Job(23, 2, 2, False, True)
    head = job.run([3, 1, 0, 5])
    tail: list[int] = []
    for rank_states in job.states():
        for state in rank_states:
            # Each worker loads only its own state, as StatefulDataLoader gives it.
            alone = _started_shard(
                KIND, (2, 2), state["rank"], state["worker_id"], shuffle=True, seed=5, state=state
            )
            tail += list(alone.plan(23).items or ())
    assert Counter(head + tail) == Counter(Job(23, 2, 2, False, True).run())


def test_a_state_from_one_shard_is_refused_at_another_layout() -> None:
    job = Job(10, 2, 1, False, False)
    job.run([2])
    state = job.states()[0][0]
    other = EpochState(
        KIND, enable_sharding=True, shuffle=False, seed=0, drop_last=False, rank=0, world_size=3
    )
    other.load_state_dict(state)
    other.start()
    with pytest.raises(ValueError, match="merge_state_dicts"):
        other.plan(10)


def test_joining_needs_every_shard_of_one_epoch() -> None:
    job = Job(10, 2, 2, False, False)
    job.run([1])
    states = job.states()
    with pytest.raises(ValueError, match=r"shards \[3\] of 4 are missing"):
        merge_state_dicts([states[0], states[1][:1]], KIND)
    later = Job(10, 2, 2, False, False)
    for epoch_state, _ in later.shards:
        epoch_state.set_epoch(4)
        epoch_state.start()
    with pytest.raises(ValueError, match="different epochs"):
        merge_state_dicts([states[0], later.states()[1]], KIND)
    with pytest.raises(ValueError, match="no S3IterableDataset state"):
        merge_state_dicts([{"nothing": 1}], KIND)
    with pytest.raises(ValueError, match="ShuffleDataset"):
        merge_state_dicts([{"buffered": [], "inner": states[0][0]}], KIND)


def test_a_job_state_stays_small_when_ranks_run_in_step() -> None:
    # 64 ranks of 8 workers, stopped after 1001 batches of one sample: ranks in step, workers
    # one batch apart, as DDP with a StatefulDataLoader leaves them.
    world, workers, n = 64, 8, 1_000_000
    job = Job(n, world, workers, False, False)
    job.run([1001 // workers + (1 if w < 1001 % workers else 0) for w in range(workers)])
    rank_state = job.states()[0]
    assert len(json.dumps(rank_state)) <= 4096
    job_state = merge_state_dicts(job.states(), KIND)
    assert len(json.dumps(job_state)) <= 4096
    again = Job(n, 4, 2, False, False, state=job_state)
    # A second generation's worker states carry the first one: still small.
    assert len(json.dumps(again.states()[0])) <= 4096


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 30),
    world=st.integers(1, 4),
    workers=st.integers(1, 3),
    drop_last=st.booleans(),
    counts=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3)), min_size=12, max_size=12),
)
def test_remaining_keeps_exactly_the_unfinished_items(
    n: int,
    world: int,
    workers: int,
    drop_last: bool,
    counts: list[tuple[int, int]],
) -> None:
    length = equal_length(n, world, drop_last)
    progress = {}
    finished: set[int] = set()
    for rank in range(world):
        for worker in range(workers):
            spec = ShardSpec(rank, world, worker, workers)
            positions = shard_positions(length, spec)
            count, parts = counts[spec.index]
            count = min(count, len(positions))
            progress[spec.residue] = (count, parts)
            finished |= {p % n for p in positions[:count]}
    left, partial = remaining(n, world, workers, drop_last, progress)
    kept = range(length) if drop_last else range(n)
    assert left == [i for i in kept if i not in finished]
    assert set(partial) <= set(left)


# -- the datasets against the server -------------------------------------------------------------

ODD = 7  # objects: does not divide 2 or 3 ranks
SHARDS, PER_SHARD = 5, 3  # tar shards and samples in each


UNEVEN = [1, 4, 2]  # samples in each shard under "uneven/"


def _tar(shard: int, samples: int = PER_SHARD) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for i in range(samples):
            data = f"{shard}-{i}".encode()
            info = tarfile.TarInfo(f"s{shard}/{i:03d}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[str]:
    objects = (
        [(f"odd/{i:02d}.bin", b"x" * (i + 1)) for i in range(ODD)]
        + [(f"tars/shard-{shard:02d}.tar", _tar(shard)) for shard in range(SHARDS)]
        + [
            (f"uneven/shard-{shard:02d}.tar", _tar(10 + shard, samples))
            for shard, samples in enumerate(UNEVEN)
        ]
    )
    with stocked_bucket(s3_server, module_client, objects) as name:
        yield name


def _key(reader: Any) -> str:
    return str(reader.key)


def _sample_key(sample: dict[str, Any]) -> str:
    return str(sample["__key__"])


@pytest.fixture(scope="module")
def objects(s3_server: Any, stored: str) -> Any:
    def build(**overrides: Any) -> S3IterableDataset:
        arguments = {**dataset_settings(s3_server), "transform": _key, **overrides}
        return S3IterableDataset.from_prefix(f"s3://{stored}/odd/", **arguments)

    return build


@pytest.fixture(scope="module")
def tars(s3_server: Any, stored: str) -> Any:
    def build(prefix: str = "tars/", **overrides: Any) -> S3TarDataset:
        arguments = {**dataset_settings(s3_server), "transform": _sample_key, **overrides}
        return S3TarDataset.from_prefix(f"s3://{stored}/{prefix}", **arguments)

    return build


@pytest.mark.parametrize(("drop_last", "share"), [(False, 4), (True, 3)])
def test_ranks_yield_equal_shares_and_len_says_how_many(
    objects: Any, drop_last: bool, share: int
) -> None:
    seen: list[str] = []
    for rank in range(2):
        dataset = objects(enable_sharding=True, rank=rank, world_size=2, drop_last=drop_last)
        assert len(dataset) == share
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, num_workers=2, multiprocessing_context="fork"
        )
        mine = list(loader)
        assert len(mine) == share
        seen += mine
    counts = Counter(seen)
    assert len(counts) == (ODD if not drop_last else 2 * share)
    assert sum(counts.values()) == 2 * share


def test_len_without_sharding_and_where_it_cannot_be_known(
    objects: Any, tars: Any, s3_server: Any, stored: str
) -> None:
    assert len(objects()) == ODD
    assert len(objects(enable_sharding=True, rank=2, world_size=3)) == 3
    named = S3IterableDataset.from_objects(
        [f"s3://{stored}/odd/00.bin", f"s3://{stored}/odd/01.bin"], **dataset_settings(s3_server)
    )
    assert len(named) == 2
    with pytest.raises(TypeError, match="get_dataset_objects"):
        len(S3IterableDataset(s3_server.region, lambda client: iter(()), s3_server.endpoint))
    with pytest.raises(TypeError, match="samples in each tar shard"):
        len(tars())
    assert len(tars(samples_per_rank=6)) == 6
    with pytest.raises(ValueError, match="samples_per_rank"):
        tars(samples_per_rank=-1)


@pytest.mark.parametrize(("world", "workers", "quota"), [(2, 2, 4), (2, 0, 3), (3, 2, 1)])
def test_samples_per_rank_evens_out_uneven_shards(
    tars: Any, world: int, workers: int, quota: int
) -> None:
    every = {f"s{10 + shard}/{i:03d}" for shard, n in enumerate(UNEVEN) for i in range(n)}
    for rank in range(world):
        dataset = tars(
            "uneven/", enable_sharding=True, rank=rank, world_size=world, samples_per_rank=quota
        )
        assert len(dataset) == quota
        mine = _run(_loader(dataset, workers))
        assert len(mine) == quota and set(mine) <= every


def test_samples_per_rank_resumes_at_the_sample(tars: Any) -> None:
    def loader() -> StatefulDataLoader:
        dataset = tars("uneven/", enable_sharding=True, rank=1, world_size=2, samples_per_rank=9)
        return _loader(dataset, 2)

    full = _run(loader())
    assert len(full) == 9  # more than rank 1 holds: its workers read their shards again
    for cut in (1, 2, 4):
        first = loader()
        head = _run(first, cut)
        second = loader()
        second.load_state_dict(first.state_dict())
        assert head + _run(second) == full
        with pytest.raises(ValueError, match="samples_per_rank"):
            S3TarDataset.merge_state_dicts([first.state_dict()])


def _run(loader: Any, batches: int | None = None) -> list[str]:
    taken = itertools.islice(loader, batches) if batches is not None else loader
    return [key for batch in taken for key in batch]


def _loader(dataset: Any, workers: int) -> StatefulDataLoader:
    return StatefulDataLoader(
        dataset,
        batch_size=2,
        num_workers=workers,
        collate_fn=list,
        multiprocessing_context="fork" if workers else None,
    )


def _elastic(
    build: Any, before: tuple[int, int], after: tuple[int, int], cut: int
) -> tuple[list[str], list[str], list[int]]:
    """Run ``cut`` batches on each rank at ``before`` (world size, workers), save every rank's
    loader state, and resume the epoch at ``after``; return what each part read and the new
    ranks' shares."""
    head: list[str] = []
    saved = []
    for rank in range(before[0]):
        dataset = build(enable_sharding=True, shuffle=True, seed=9, rank=rank, world_size=before[0])
        dataset.set_epoch(2)
        loader = _loader(dataset, before[1])
        head += _run(loader, cut)
        saved.append(loader.state_dict())
    job = type(build()).merge_state_dicts(saved)
    assert len(json.dumps(job)) <= 4096
    tail: list[str] = []
    shares = []
    for rank in range(after[0]):
        dataset = build(enable_sharding=True, shuffle=True, seed=9, rank=rank, world_size=after[0])
        dataset.set_epoch(2)
        dataset.load_state_dict(job)
        mine = _run(_loader(dataset, after[1]))
        shares.append(len(mine))
        tail += mine
    return head, tail, shares


layouts_small = st.tuples(st.integers(1, 3), st.integers(0, 2))


@pytest.mark.timeout(300)
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=layouts_small, after=layouts_small, cut=st.integers(0, 3))
def test_stateful_dataloader_resumes_objects_at_another_world_size(
    objects: Any, before: tuple[int, int], after: tuple[int, int], cut: int
) -> None:
    head, tail, shares = _elastic(objects, before, after, cut)
    seen = Counter(head + tail)
    assert len(set(shares)) == 1
    assert len(seen) == ODD
    assert sum(seen.values()) - ODD <= (before[0] - 1) + (after[0] - 1)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("before", "after", "cut"),
    [((2, 2), (3, 1), 1), ((1, 0), (2, 2), 2), ((3, 1), (1, 2), 1), ((1, 2), (1, 0), 1)],
)
def test_stateful_dataloader_resumes_tar_samples_at_another_world_size(
    tars: Any, before: tuple[int, int], after: tuple[int, int], cut: int
) -> None:
    head, tail, _ = _elastic(tars, before, after, cut)
    every = {f"s{s}/{i:03d}" for s in range(SHARDS) for i in range(PER_SHARD)}
    seen = Counter(head + tail)
    # Shards are padded per layout, so some samples of a repeated shard come twice; none is
    # lost, and a shard begun before the stop is not read again from its start.
    assert set(seen) == every
    assert sum(seen.values()) - len(every) <= PER_SHARD * ((before[0] - 1) + (after[0] - 1))
    if before[0] == after[0] == 1:  # no padding: every sample exactly once
        assert max(seen.values()) == 1


def _ddp_rank(
    rank: int, store: str, settings_: dict[str, Any], uri: str, kind: str, out: Any
) -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        dataset: Any
        if kind == "objects":
            dataset = S3IterableDataset.from_prefix(
                uri, transform=_key, enable_sharding=True, shuffle=True, **settings_
            )
        else:  # uneven tar shards, evened out by a quota of samples
            dataset = S3TarDataset.from_prefix(
                uri, enable_sharding=True, shuffle=True, samples_per_rank=3, **settings_
            )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=1, num_workers=2, collate_fn=list, multiprocessing_context="fork"
        )
        batches = 0
        for _batch in loader:
            total = torch.ones(1)
            dist.all_reduce(total)  # every rank must join every batch's collective
            batches += 1
        count = torch.tensor([batches])
        dist.all_reduce(count)
        out.put((rank, batches, int(count.item()), len(dataset)))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("kind", "prefix", "per_rank"),
    [("objects", "odd/", 4), ("tar", "uneven/", 3)],
)
def test_a_two_rank_gloo_job_all_reduces_every_batch_to_the_end(
    s3_server: Any, stored: str, tmp_path: Any, kind: str, prefix: str, per_rank: int
) -> None:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    settings_ = dataset_settings(s3_server)
    processes = [
        context.Process(
            target=_ddp_rank,
            args=(rank, str(tmp_path / "store"), settings_, f"s3://{stored}/{prefix}", kind, out),
        )
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    try:
        results = sorted(out.get(timeout=180) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    # 7 objects over 2 ranks: each yields 4 (one repeated); 7 tar samples in shards of 1, 4
    # and 2, with samples_per_rank=3: each yields 3. So both ranks reach the end together.
    assert results == [(r, per_rank, 2 * per_rank, per_rank) for r in range(2)]
    assert all(process.exitcode == 0 for process in processes)


def _tar_job(
    parts_of: list[int],
    layout: tuple[int, int],
    state: Any,
    budgets: list[int] | None,
) -> tuple[list[tuple[int, int]], list[list[dict[str, Any]]]]:
    """Read (item, part) pairs as S3TarDataset's shards do, each shard stopping after its
    budget of parts; return them and the states, one list per rank."""
    world, workers = layout
    seen: list[tuple[int, int]] = []
    states: list[list[dict[str, Any]]] = [[] for _ in range(world)]
    for k in range(world * workers):
        rank, worker = divmod(k, workers)
        epoch_state = _started_shard(
            "S3TarDataset", layout, rank, worker, shuffle=True, seed=1, state=state
        )
        plan = epoch_state.plan(len(parts_of))
        skips = dict(plan.skip_parts)
        budget = None if budgets is None else budgets[k % len(budgets)]
        for item in plan.items or ():
            skip = skips.pop(item, 0)
            epoch_state.progress.parts = skip
            for part in range(skip, parts_of[item]):
                if budget == 0:
                    break
                epoch_state.yielded_part()
                seen.append((item, part))
                budget = None if budget is None else budget - 1
            if budget == 0:
                # Stopped here: like the dataset's generator suspended after a sample, the
                # item is not finished, even if that was its last sample.
                break
            epoch_state.finished_item()
        states[rank].append(epoch_state.state_dict())
    return seen, states


@settings(max_examples=300, deadline=None)
@given(
    parts_of=st.lists(st.integers(0, 5), min_size=1, max_size=12),
    before=layouts,
    after=layouts,
    budgets=st.lists(st.integers(0, 9), min_size=1, max_size=15),
)
def test_tar_shards_resume_at_another_world_size_down_to_the_sample(
    parts_of: list[int],
    before: tuple[int, int],
    after: tuple[int, int],
    budgets: list[int],
) -> None:
    head, states = _tar_job(parts_of, before, None, budgets)
    job = merge_state_dicts(states, "S3TarDataset")
    tail, _ = _tar_job(parts_of, after, json.loads(json.dumps(job)), None)
    every = {(item, part) for item, n in enumerate(parts_of) for part in range(n)}
    seen = Counter(head + tail)
    assert set(seen) == every
    # Repeats come only from padding: whole items, fewer than one per rank and layout.
    repeats = sum(seen.values()) - len(seen)
    assert repeats <= max(parts_of) * ((before[0] - 1) + (after[0] - 1))
    if before[0] == after[0] == 1:
        assert repeats == 0
