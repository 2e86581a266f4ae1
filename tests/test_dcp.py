"""torch.distributed.checkpoint on S3 (s3torch.dcp) and the DCP-optimized reader, against the
real server: multi-rank saves and loads, resharding, partial loads with ranged reads, prefix
strategies, and the range arithmetic (hypothesis)."""

from __future__ import annotations

import datetime
import os
import pickle
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.distributed.checkpoint as dcp  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.distributed.checkpoint.api import CheckpointException  # noqa: E402
from torch.distributed.checkpoint.planner import SavePlan  # noqa: E402
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict  # noqa: E402

import s3torch  # noqa: E402
from s3torch import S3NoSuchKeyError, S3ReaderConstructor  # noqa: E402
from s3torch.dcp import (  # noqa: E402
    BinaryPrefixStrategy,
    DefaultPrefixStrategy,
    HexPrefixStrategy,
    NumericPrefixStrategy,
    RoundRobinPrefixStrategy,
    S3FileSystem,
    S3PrefixStrategyBase,
    S3StorageReader,
    S3StorageWriter,
)
from s3torch.s3reader import SequentialS3Reader  # noqa: E402
from s3torch.s3reader._dcp_plan import coalesce_ranges  # noqa: E402
from s3torch.s3reader.dcp_optimized import (  # noqa: E402
    DCPOptimizedConstructor,
    DCPOptimizedS3Reader,
    ItemRange,
)
from support.server import stocked_bucket  # noqa: E402

MiB = 1024 * 1024


def _keys(boto3_client: Any, bucket: str) -> set[str]:
    listing = boto3_client.list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def _model() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8))


def _train_one_step(model: Any, seed: int = 1) -> Any:
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    model(torch.randn(4, 64, generator=generator)).sum().backward()
    optimizer.step()
    return optimizer


class RecordingConstructor(DCPOptimizedConstructor):
    """The DCP-optimized constructor, noting every GET its readers start."""

    def __init__(self, max_gap_size: float = 32 * MiB) -> None:
        super().__init__(max_gap_size)
        self.requests: list[tuple[str, int | None, int | None]] = []

    def __call__(self, bucket: str, key: str, get_object_info: Any, get_stream: Any) -> Any:
        def recording(start: int | None = None, end: int | None = None) -> Any:
            self.requests.append((key, start, end))
            return get_stream(start, end)

        return super().__call__(bucket, key, get_object_info, recording)


# ---------------------------------------------------------------------------------------------
# Range arithmetic
# ---------------------------------------------------------------------------------------------

_ranges = st.lists(
    st.tuples(st.integers(0, 600), st.integers(0, 60)).map(lambda t: ItemRange(t[0], t[0] + t[1])),
    max_size=15,
)


@given(_ranges, st.one_of(st.integers(0, 80), st.just(float("inf"))))
def test_coalescing_covers_exactly_the_ranges_and_splits_only_at_large_gaps(
    ranges: list[ItemRange], gap: float
) -> None:
    groups = coalesce_ranges(ranges, gap)
    spans = [span for group in groups for span in group.item_ranges]
    wanted = {b for r in ranges for b in range(r.start, r.end)}
    assert {b for s in spans for b in range(s.start, s.end)} == wanted
    assert all(s.start < s.end for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    for r in ranges:  # every range lies inside one span, so it is served from one buffer
        if r.end > r.start:
            assert any(s.start <= r.start and r.end <= s.end for s in spans)
    for group in groups:
        assert (group.start, group.end) == (group.item_ranges[0].start, group.item_ranges[-1].end)
        inner = zip(group.item_ranges, group.item_ranges[1:])
        assert all(b.start - a.end <= gap for a, b in inner)
    assert all(b.start - a.end > gap for a, b in zip(groups, groups[1:]))


def test_coalescing_examples() -> None:
    ranges = [ItemRange(100, 110), ItemRange(0, 10), ItemRange(10, 20), ItemRange(5, 8)]
    assert [(g.start, g.end) for g in coalesce_ranges(ranges, 0)] == [(0, 20), (100, 110)]
    assert [(g.start, g.end) for g in coalesce_ranges(ranges, 79)] == [(0, 20), (100, 110)]
    assert [(g.start, g.end) for g in coalesce_ranges(ranges, 79.5)] == [(0, 20), (100, 110)]
    assert [(g.start, g.end) for g in coalesce_ranges(ranges, 80)] == [(0, 110)]
    merged = coalesce_ranges([ItemRange(0, 10), ItemRange(0, 10), ItemRange(4, 12)], 0)
    assert [(s.start, s.end) for s in merged[0].item_ranges] == [(0, 12)]
    assert coalesce_ranges([ItemRange(3, 3)], 0) == []


@pytest.mark.parametrize(
    ("gap", "error"),
    [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError), (True, TypeError)],
)
def test_bad_max_gap_size_is_rejected(gap: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_gap_size"):
        S3ReaderConstructor.dcp_optimized(gap)
    with pytest.raises(error, match="max_gap_size"):
        coalesce_ranges([ItemRange(0, 1)], gap)


def test_invalid_byte_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="5-3"):
        coalesce_ranges([ItemRange(5, 3)], 0)


def test_reader_type_string_names_the_dcp_optimized_reader() -> None:
    assert S3ReaderConstructor.get_reader_type_string(S3ReaderConstructor.dcp_optimized()) == (
        "dcp_optimized"
    )
    assert S3ReaderConstructor.dcp_optimized(float("inf")).max_gap_size == float("inf")


# ---------------------------------------------------------------------------------------------
# The DCP-optimized reader against a real object
# ---------------------------------------------------------------------------------------------

OBJECT_SIZE = 7 * MiB + 17  # more than one 5 MiB part: ranges cross chunk boundaries


class Blob(tuple):  # type: ignore[type-arg]
    """(bucket, key, content), with a short repr for hypothesis' failure reports."""

    def __repr__(self) -> str:
        return f"Blob(s3://{self[0]}/{self[1]}, {len(self[2])} bytes)"


@pytest.fixture(scope="module")
def blob(module_client: Any, s3_server: Any) -> Iterator[Blob]:
    """A bucket holding one object of random bytes, shared by the module's reader tests."""
    content = random.Random(11).randbytes(OBJECT_SIZE)
    with stocked_bucket(s3_server, module_client, [("shard.distcp", content)]) as name:
        yield Blob((name, "shard.distcp", content))


def _reader(
    client: Any, bucket: str, key: str, ranges: list[ItemRange], requests: list[Any], **kwargs: Any
) -> DCPOptimizedS3Reader:
    def get_stream(start: int | None = None, end: int | None = None) -> Any:
        requests.append((start, end))
        return client.get_object_stream(bucket, key, start, end)

    return DCPOptimizedS3Reader(
        bucket, key, ranges, lambda: client.head_object(bucket, key), get_stream, **kwargs
    )


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_dcp_reader_serves_the_planned_bytes_with_one_get_per_group(
    module_client: Any, blob: Blob, data: st.DataObject
) -> None:
    bucket, key, content = blob
    starts = sorted(data.draw(st.lists(st.integers(0, OBJECT_SIZE - 1), min_size=1, max_size=6)))
    lengths = st.integers(1, 3 * MiB)
    ranges = [ItemRange(s, min(OBJECT_SIZE, s + data.draw(lengths))) for s in starts]
    gap = data.draw(st.sampled_from([0, 64 * 1024, 2 * MiB, float("inf")]))
    zero_copy_limit = data.draw(st.sampled_from([0, 256 * 1024, 64 * MiB]))
    requests: list[Any] = []
    reader = _reader(
        module_client,
        bucket,
        key,
        ranges,
        requests,
        max_gap_size=gap,
        zero_copy_limit=zero_copy_limit,
    )
    with reader:
        # What torch.load does with each blob: peek at its start, jump to its end, read it all.
        for r in ranges:
            reader.seek(r.start)
            head = min(4, r.end - r.start)
            assert reader.read(head) == content[r.start : r.start + head]
            tail = max(r.start, r.end - 100)
            reader.seek(tail)
            assert reader.read(r.end - tail) == content[tail : r.end]
            assert reader.tell() == r.end
            reader.seek(r.start)
            buffer = bytearray(r.end - r.start)
            assert reader.readinto(buffer) == len(buffer)
            assert buffer == content[r.start : r.end]
    assert reader.closed
    assert requests == [(g.start, g.end) for g in coalesce_ranges(ranges, gap)]


def test_dcp_reader_matches_the_sequential_reader(module_client: Any, blob: Any) -> None:
    bucket, key, content = blob
    ranges = [ItemRange(10, 5000), ItemRange(5000, 6 * MiB), ItemRange(6 * MiB + 3, OBJECT_SIZE)]
    requests: list[Any] = []
    optimized = _reader(module_client, bucket, key, ranges, requests)
    sequential = module_client.get_object(bucket, key)
    assert isinstance(sequential, SequentialS3Reader)
    for r in ranges:
        for reader in (optimized, sequential):
            reader.seek(r.start)
        assert optimized.read(r.end - r.start) == sequential.read(r.end - r.start)
    assert requests == [(10, OBJECT_SIZE)]
    # Touching ranges read as one: a read may run from one into the next.
    spanning = _reader(module_client, bucket, key, ranges, requests, max_gap_size=0)
    spanning.seek(4000)
    assert spanning.read(2000) == content[4000:6000]
    assert requests[1:] == [(10, 6 * MiB)]  # the next group is fetched only when read


def test_dcp_reader_refuses_reads_outside_the_plan(module_client: Any, blob: Any) -> None:
    bucket, key, content = blob
    requests: list[Any] = []
    reader = _reader(
        module_client, bucket, key, [ItemRange(100, 200), ItemRange(300, 400)], requests
    )
    with pytest.raises(ValueError, match="outside the byte ranges"):
        reader.read(10)  # position 0
    with pytest.raises(ValueError, match="not supported"):
        reader.read()
    reader.seek(150)
    assert reader.read(100) == content[150:200]  # short: the plan stops at 200
    with pytest.raises(ValueError, match="outside the byte ranges"):
        reader.read(1)
    reader.seek(-10, os.SEEK_END)
    assert reader.tell() == OBJECT_SIZE - 10
    reader.seek(300)
    assert reader.read(5) == content[300:305]
    reader.seek(120)
    with pytest.raises(ValueError, match="already read"):
        reader.read(1)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)
    assert requests == [(100, 400)]


def test_dcp_reader_reports_an_object_shorter_than_the_plan(module_client: Any, blob: Any) -> None:
    bucket, key, _ = blob
    for limit in (0, 64 * MiB):  # copied and zero-copy buffers
        reader = _reader(
            module_client,
            bucket,
            key,
            [ItemRange(OBJECT_SIZE - 10, OBJECT_SIZE + 10)],
            [],
            zero_copy_limit=limit,
        )
        reader.seek(OBJECT_SIZE - 10)
        with pytest.raises(EOFError, match=f"ended at byte {OBJECT_SIZE}"):
            reader.read(1)


def test_dcp_constructor_reads_files_outside_the_plan_sequentially(
    module_client: Any, blob: Any
) -> None:
    bucket, key, content = blob
    constructor = S3ReaderConstructor.dcp_optimized()
    reader = module_client.get_object(bucket, key, reader_constructor=constructor)
    assert isinstance(reader, SequentialS3Reader)

    class Item:
        storage_index = "only"

    class Info:
        relative_path, offset, length = key, 10, 20

    constructor.set_item_ranges_by_file([Item()], {"only": Info()}, Path(f"s3://{bucket}"))
    reader = module_client.get_object(bucket, key, reader_constructor=constructor)
    assert isinstance(reader, DCPOptimizedS3Reader)
    reader.seek(10)
    assert reader.read(20) == content[10:30]


def test_bad_reader_arguments_are_value_errors() -> None:
    def nothing(*args: Any) -> Any:
        raise AssertionError("no request expected")

    with pytest.raises(ValueError, match="no non-empty byte range"):
        DCPOptimizedS3Reader("bucket", "k", [ItemRange(4, 4)], nothing, nothing)
    with pytest.raises(ValueError, match="key"):
        DCPOptimizedS3Reader("bucket", "", [ItemRange(0, 4)], nothing, nothing)
    with pytest.raises(ValueError, match="zero_copy_limit"):
        DCPOptimizedS3Reader("bucket", "k", [ItemRange(0, 4)], nothing, nothing, zero_copy_limit=-1)


# ---------------------------------------------------------------------------------------------
# Prefix strategies
# ---------------------------------------------------------------------------------------------


def test_prefix_strategies_name_each_rank_as_documented() -> None:
    assert [DefaultPrefixStrategy()(r) for r in (0, 7)] == ["__0_", "__7_"]
    binary = BinaryPrefixStrategy(prefix_count=4)
    assert [binary(r) for r in range(5)] == [
        "0000000000/__0_",
        "1000000000/__1_",
        "0100000000/__2_",
        "1100000000/__3_",
        "0000000000/__4_",
    ]
    hexa = HexPrefixStrategy(prefix_count=20, min_prefix_length=1, epoch_num=2)
    assert [hexa(r) for r in (0, 1, 15, 16, 17, 20)] == [
        f"{p}/epoch_2/__{r}_"
        for p, r in [("00", 0), ("10", 1), ("f0", 15), ("01", 16), ("11", 17), ("00", 20)]
    ]
    assert NumericPrefixStrategy(3, prefix_count=10, min_prefix_length=1)(5) == "210/__5_"
    # Without torch.distributed initialised, the default is one prefix for every rank.
    assert {HexPrefixStrategy(min_prefix_length=3)(r) for r in range(3)} == {
        "000/__0_",
        "000/__1_",
        "000/__2_",
    }
    robin = RoundRobinPrefixStrategy(["hot", "cold", "warm"], epoch_num=7)
    assert [robin(r) for r in (0, 4)] == ["hot/epoch_7/__0_", "cold/epoch_7/__4_"]
    assert isinstance(robin, S3PrefixStrategyBase)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: BinaryPrefixStrategy(prefix_count=0), "prefix_count"),
        (lambda: HexPrefixStrategy(min_prefix_length=0), "min_prefix_length"),
        (lambda: HexPrefixStrategy(epoch_num="1"), "epoch_num"),
        (lambda: NumericPrefixStrategy(1), "base"),
        (lambda: RoundRobinPrefixStrategy([]), "user_prefixes"),
        (lambda: RoundRobinPrefixStrategy(["a", ""]), "user_prefixes"),
        (lambda: DefaultPrefixStrategy()(-1), "rank"),
    ],
)
def test_bad_prefix_strategy_arguments_are_value_errors(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


def test_writer_gives_each_rank_its_strategys_prefix(s3_env: Any) -> None:
    writer = S3StorageWriter(
        None, "s3://bucket/ckpt", prefix_strategy=RoundRobinPrefixStrategy(["a", "b"])
    )
    plans = writer.prepare_global_plan([SavePlan([]) for _ in range(3)])
    assert [plan.storage_data.prefix for plan in plans] == ["a/__0_", "b/__1_", "a/__2_"]


@pytest.mark.parametrize(
    ("strategy", "key"),
    [
        (DefaultPrefixStrategy(), "ck/__0_0.distcp"),
        (BinaryPrefixStrategy(), "ck/0000000000/__0_0.distcp"),
        (HexPrefixStrategy(epoch_num=3, min_prefix_length=4), "ck/0000/epoch_3/__0_0.distcp"),
        (RoundRobinPrefixStrategy(["hot", "cold"]), "ck/hot/__0_0.distcp"),
    ],
    ids=["default", "binary", "hex", "round-robin"],
)
def test_each_prefix_strategy_writes_the_expected_keys(
    s3_env: Any, bucket: str, boto3_client: Any, strategy: Any, key: str
) -> None:
    state = {"w": torch.arange(10.0), "step": 3}
    dcp.save(
        state, storage_writer=S3StorageWriter(None, f"s3://{bucket}/ck", prefix_strategy=strategy)
    )
    assert _keys(boto3_client, bucket) == {"ck/.metadata", key}
    loaded = {"w": torch.zeros(10), "step": 0}
    dcp.load(loaded, storage_reader=S3StorageReader(None, f"s3://{bucket}/ck"))
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 3


def test_saving_without_collectives_uses_the_prefix_strategy(
    s3_env: Any, bucket: str, boto3_client: Any
) -> None:
    writer = S3StorageWriter(None, f"s3://{bucket}/nc", prefix_strategy=BinaryPrefixStrategy())
    dcp.save({"w": torch.arange(4.0)}, storage_writer=writer, use_collectives=False)
    assert _keys(boto3_client, bucket) == {"nc/__0.metadata", "nc/0000000000/__0_0.distcp"}
    loaded = {"w": torch.zeros(4)}
    dcp.load(loaded, storage_reader=S3StorageReader(None, f"s3://{bucket}/nc"))
    assert torch.equal(loaded["w"], torch.arange(4.0))


# ---------------------------------------------------------------------------------------------
# Saving and loading in one process
# ---------------------------------------------------------------------------------------------


def test_model_and_optimizer_round_trip_with_every_reader(s3_env: Any, bucket: str) -> None:
    model = _model()
    optimizer = _train_one_step(model)
    model_state, optim_state = get_state_dict(model, optimizer)
    uri = f"s3://{bucket}/run/step-1"
    dcp.save(
        {"model": model_state, "optim": optim_state}, storage_writer=S3StorageWriter(None, uri)
    )

    for constructor in (
        None,
        S3ReaderConstructor.dcp_optimized(0),
        S3ReaderConstructor.sequential(),
        S3ReaderConstructor.range_based(),
    ):
        fresh = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8)
        )
        fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.01)
        fresh_model_state, fresh_optim_state = get_state_dict(fresh, fresh_optimizer)
        target = {"model": fresh_model_state, "optim": fresh_optim_state}
        reader = S3StorageReader(None, uri, reader_constructor=constructor)
        dcp.load(target, storage_reader=reader)
        set_state_dict(
            fresh,
            fresh_optimizer,
            model_state_dict=target["model"],
            optim_state_dict=target["optim"],
        )
        for name, value in model.state_dict().items():
            assert torch.equal(fresh.state_dict()[name], value), name
        for (name, state), (_, fresh_state) in zip(
            optimizer.state_dict()["state"].items(), fresh_optimizer.state_dict()["state"].items()
        ):
            for field, value in state.items():
                assert torch.equal(fresh_state[field], value), (name, field)


def test_partial_load_fetches_only_the_needed_byte_ranges(
    s3_env: Any, bucket: str, client: Any
) -> None:
    generator = torch.Generator().manual_seed(5)
    state = {
        "a": torch.randn(256 * 1024, generator=generator),  # 1 MiB
        "b": torch.randn(512 * 1024, generator=generator),  # 2 MiB, skipped
        "c": torch.randn(256 * 1024, generator=generator),  # 1 MiB
        "d": torch.randn(16, generator=generator),  # skipped
    }
    uri = f"s3://{bucket}/partial"
    dcp.save(state, storage_writer=S3StorageWriter(None, uri))
    metadata = S3StorageReader(None, uri).read_metadata()
    blobs = {index.fqn: info for index, info in metadata.storage_data.items()}
    (shard,) = {info.relative_path for info in blobs.values()}
    shard_size = client.head_object(bucket, f"partial/{shard}").size
    a, b, c = blobs["a"], blobs["b"], blobs["c"]
    assert a.offset + a.length <= b.offset < c.offset  # saved in this order

    def load(constructor: RecordingConstructor) -> list[tuple[int | None, int | None]]:
        loaded = {"c": torch.zeros(256 * 1024), "a": torch.zeros(256 * 1024)}
        dcp.load(loaded, storage_reader=S3StorageReader(None, uri, reader_constructor=constructor))
        assert torch.equal(loaded["a"], state["a"]) and torch.equal(loaded["c"], state["c"])
        assert ("partial/.metadata", None, None) in constructor.requests
        return [(s, e) for k, s, e in constructor.requests if k.endswith(shard)]

    # No coalescing: exactly the two blobs, far less than the file.
    ranges = load(RecordingConstructor(max_gap_size=0))
    assert ranges == [(a.offset, a.offset + a.length), (c.offset, c.offset + c.length)]
    assert sum(e - s for s, e in ranges) == a.length + c.length < shard_size / 2  # type: ignore[operator]
    # A gap smaller than the limit is read through: one GET from a to c, still not the file.
    assert load(RecordingConstructor()) == [(a.offset, c.offset + c.length)]
    assert c.offset + c.length < shard_size


def test_thread_count_and_overwrite_are_passed_to_pytorch(
    s3_env: Any, bucket: str, boto3_client: Any
) -> None:
    state = {"x": torch.ones(1000), "y": torch.zeros(2000)}
    uri = f"s3://{bucket}/threads"
    dcp.save(state, storage_writer=S3StorageWriter(None, uri, thread_count=2, overwrite=False))
    assert _keys(boto3_client, bucket) == {
        "threads/.metadata",
        "threads/__0_0.distcp",
        "threads/__0_1.distcp",
    }
    with pytest.raises(CheckpointException, match="already exists"):
        dcp.save(state, storage_writer=S3StorageWriter(None, uri, overwrite=False))


def test_a_missing_checkpoint_is_s3_no_such_key(s3_env: Any, bucket: str) -> None:
    reader = S3StorageReader(None, f"s3://{bucket}/never-saved")
    with pytest.raises(S3NoSuchKeyError, match=r"never-saved/\.metadata") as error:
        reader.read_metadata()
    assert isinstance(error.value, FileNotFoundError)
    # dcp.load reports each rank's failure inside a CheckpointException.
    with pytest.raises(CheckpointException, match=r"never-saved/\.metadata"):
        dcp.load({"x": torch.zeros(1)}, storage_reader=reader)


def test_rename_keeps_keys_with_spaces_and_unicode_verbatim(bucket: str, make_client: Any) -> None:
    fs = S3FileSystem(s3_client=make_client(max_attempts=1))
    path = f"s3://{bucket}/runs/exp 1/ünï/.metadata"
    with fs.create_stream(path + ".tmp", "wb") as stream:
        stream.write(b"metadata")
    fs.rename(path + ".tmp", path)
    assert fs.exists(path) and not fs.exists(path + ".tmp")


@pytest.mark.parametrize("path", ["/local/dir", "s3:/", "gs://bucket/ckpt", "s3://ab/x"])
def test_a_path_that_is_not_an_s3_uri_is_a_value_error_naming_it(s3_env: Any, path: str) -> None:
    with pytest.raises(ValueError, match=path):
        S3StorageWriter(None, path)
    with pytest.raises(ValueError, match=path):
        S3StorageReader(None, path)
    assert not S3FileSystem.validate_checkpoint_id(path)


def test_checkpoint_ids(s3_env: Any, bucket: str) -> None:
    assert S3StorageWriter.validate_checkpoint_id("s3://bucket/ckpt")
    # pathlib turns "s3://" into "s3:/"; such paths still work.
    assert S3StorageReader.validate_checkpoint_id(Path("s3://bucket/ckpt"))
    writer = S3StorageWriter(None, Path(f"s3://{bucket}/p"))
    assert writer.checkpoint_id == f"s3://{bucket}/p"
    writer.reset(f"s3://{bucket}/other/")
    assert writer.fs.concat_path(writer.path, ".metadata") == f"s3://{bucket}/other/.metadata"
    with pytest.raises(ValueError, match="nope"):
        writer.reset("nope")


def test_storage_objects_pickle(s3_env: Any, bucket: str) -> None:
    reader = pickle.loads(pickle.dumps(S3StorageReader(None, f"s3://{bucket}/ck")))
    assert reader.fs.client.endpoint == s3_env.endpoint
    assert S3ReaderConstructor.get_reader_type_string(reader._reader_constructor) == (
        "dcp_optimized"
    )
    writer = pickle.loads(pickle.dumps(S3StorageWriter(None, f"s3://{bucket}/ck")))
    assert writer.path == f"s3://{bucket}/ck"


def test_file_system_operations(s3_env: Any, bucket: str, client: Any) -> None:
    fs = S3FileSystem(s3_client=client)
    path = fs.concat_path(f"s3://{bucket}/dir", "a.bin")
    assert not fs.exists(path)
    with fs.create_stream(path, "wb") as stream:
        stream.write(b"payload")
    assert fs.exists(path)
    with fs.create_stream(path, "rb") as stream:
        assert stream.read() == b"payload"
    fs.rename(path, f"s3://{bucket}/dir/b.bin")
    assert not fs.exists(path) and fs.exists(f"s3://{bucket}/dir/b.bin")
    fs.rm_file(f"s3://{bucket}/dir/b.bin")
    assert not fs.exists(f"s3://{bucket}/dir/b.bin")
    with pytest.raises(RuntimeError), fs.create_stream(path, "wb") as stream:
        stream.write(b"half")
        raise RuntimeError("crash while writing")
    assert not fs.exists(path)  # the upload was aborted
    with pytest.raises(ValueError, match="'ab'"), fs.create_stream(path, "ab"):
        pass
    with pytest.raises(ValueError, match="not both"):
        S3FileSystem(s3_client=client, s3client_config=s3torch.S3ClientConfig())


# ---------------------------------------------------------------------------------------------
# Two ranks: a sharded (FSDP2) model and optimizer, saved and loaded back, resharded
# ---------------------------------------------------------------------------------------------


def _sharded_model(mesh: Any) -> Any:
    from torch.distributed.fsdp import fully_shard

    model = _model()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def _rank_main(rank: int, world: int, store: str, env: dict[str, str], uri: str, out: str) -> None:
    """One rank: save a sharded model and optimizer, load them back into the same sharding and
    into full tensors on every rank."""
    from torch.distributed.device_mesh import init_device_mesh

    os.environ.update(env)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        os.environ.pop(name, None)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        mesh = init_device_mesh("cpu", (world,))
        model = _sharded_model(mesh)
        optimizer = _train_one_step(model, seed=rank)
        model_state, optim_state = get_state_dict(model, optimizer)
        writer = S3StorageWriter(None, uri, prefix_strategy=HexPrefixStrategy())
        dcp.save({"model": model_state, "optim": optim_state}, storage_writer=writer)

        full_model = {k: v.full_tensor() for k, v in model_state.items()}
        full_optim = {
            fqn: {f: v.full_tensor() if f != "step" else v for f, v in state.items()}
            for fqn, state in optim_state["state"].items()
        }
        if rank == 0:
            torch.save({"model": full_model, "optim": full_optim}, os.path.join(out, "full.pt"))

        # The same sharding, into a fresh model and optimizer.
        fresh = _sharded_model(mesh)
        fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.01)
        fresh_model_state, fresh_optim_state = get_state_dict(fresh, fresh_optimizer)
        target = {"model": fresh_model_state, "optim": fresh_optim_state}
        dcp.load(target, storage_reader=S3StorageReader(None, uri))
        for name, value in model_state.items():
            assert torch.equal(target["model"][name].to_local(), value.to_local()), name
        for fqn, state in optim_state["state"].items():
            for field in ("exp_avg", "exp_avg_sq"):
                loaded = target["optim"]["state"][fqn][field]
                assert torch.equal(loaded.to_local(), state[field].to_local()), (fqn, field)

        # Another sharding: every rank loads the full weights (from both ranks' files).
        full = {k: torch.zeros(v.shape) for k, v in full_model.items()}
        dcp.load({"model": full}, storage_reader=S3StorageReader(None, uri))
        for name, value in full.items():
            assert torch.equal(value, full_model[name]), name
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_ranks_save_and_load_sharded_state_and_one_process_reshards_it(
    s3_env: Any, bucket: str, boto3_client: Any
) -> None:
    env = {
        name: os.environ[name]
        for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
    }
    if "AWS_SESSION_TOKEN" in os.environ:
        env["AWS_SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    env["GLOO_SOCKET_IFNAME"] = "lo"
    uri = f"s3://{bucket}/fsdp/step-1"
    with tempfile.TemporaryDirectory() as scratch:
        store = os.path.join(scratch, "store")
        mp.spawn(_rank_main, args=(2, store, env, uri, scratch), nprocs=2, join=True)
        expected = torch.load(os.path.join(scratch, "full.pt"))

    assert _keys(boto3_client, bucket) == {
        "fsdp/step-1/.metadata",
        "fsdp/step-1/0000000000/__0_0.distcp",
        "fsdp/step-1/1000000000/__1_0.distcp",
    }
    # One process, no process group: an unsharded model and optimizer from both ranks' shards.
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model_state, optim_state = get_state_dict(model, optimizer)
    target = {"model": model_state, "optim": optim_state}
    dcp.load(target, storage_reader=S3StorageReader(None, uri))
    set_state_dict(
        model, optimizer, model_state_dict=target["model"], optim_state_dict=target["optim"]
    )
    for name, value in expected["model"].items():
        assert torch.equal(model.state_dict()[name], value), name
    _, loaded_optim = get_state_dict(model, optimizer)
    for fqn, state in expected["optim"].items():
        for field in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(loaded_optim["state"][fqn][field], state[field]), (fqn, field)
