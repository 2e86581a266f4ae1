"""S3Reader: both strategies behave like io.BytesIO on the same bytes, against the real server."""

from __future__ import annotations

import io
import os
import random
import tarfile
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import s3torch
from s3torch import S3ReaderConstructor
from s3torch.s3reader import RangedS3Reader, SequentialS3Reader
from support.server import stocked_bucket

MiB = 1024 * 1024

# Object sizes that reach the readers' edges: empty, one byte, one small chunk, and several
# 5 MiB parts (longer than the sequential reader's forward skip, so far seeks restart the GET).
SIZES = {"empty": 0, "one": 1, "small": 100_003, "large": 11 * MiB + 17}


@pytest.fixture(scope="module")
def objects(module_client: Any, s3_server: Any) -> Iterator[tuple[str, dict[str, bytes]]]:
    """One bucket with an object of each size, shared by the module's tests."""
    rng = random.Random(7)
    contents = {key: rng.randbytes(size) for key, size in SIZES.items()}
    with stocked_bucket(s3_server, module_client, contents.items()) as name:
        yield name, contents


class Counting:
    """Wraps a client's get_object_stream / head_object to count requests."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.gets: list[tuple[int | None, int | None]] = []
        self.heads = 0

    def get_stream(self, start: int | None = None, end: int | None = None) -> Any:
        self.gets.append((start, end))
        return self.client.get_object_stream(self.bucket, self.key, start, end)

    def info(self) -> Any:
        self.heads += 1
        return self.client.head_object(self.bucket, self.key)

    def sequential_reader(self) -> SequentialS3Reader:
        """A sequential reader of the object, its requests counted here."""
        return SequentialS3Reader(self.bucket, self.key, self.info, self.get_stream)


@pytest.fixture
def small(objects: Any, module_client: Any) -> tuple[Counting, SequentialS3Reader, bytes]:
    """A sequential reader of the "small" object, its requests counted, and the object's bytes."""
    bucket, contents = objects
    counting = Counting(module_client, bucket, "small")
    return counting, counting.sequential_reader(), contents["small"]


CONSTRUCTORS = {
    "sequential": S3ReaderConstructor.sequential(),
    "sequential-nohistory": lambda **kw: SequentialS3Reader(**kw, history_size=0),
    "range": S3ReaderConstructor.range_based(),
    "range-unbuffered": S3ReaderConstructor.range_based(buffer_size=0),
    "range-small-buffer": S3ReaderConstructor.range_based(buffer_size=1000),
}


@pytest.mark.parametrize("strategy", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("key", sorted(SIZES))
def test_read_all_and_in_pieces(objects: Any, module_client: Any, strategy: str, key: str) -> None:
    bucket, contents = objects
    data = contents[key]
    reader = module_client.get_object(bucket, key, reader_constructor=CONSTRUCTORS[strategy])
    assert isinstance(reader, s3torch.S3Reader) and isinstance(reader, io.BufferedIOBase)
    assert (reader.bucket, reader.key) == (bucket, key)
    assert reader.read() == data
    assert reader.tell() == len(data)
    assert reader.read() == b""
    reader.seek(0)
    pieces = []
    while piece := reader.read(65_537):
        pieces.append(piece)
    assert b"".join(pieces) == data
    reader.seek(0)
    target = bytearray(len(data) + 10)
    assert reader.readinto(target) == len(data)
    assert target[: len(data)] == data


class ReaderMachine(RuleBasedStateMachine):
    """Any sequence of reader operations gives what io.BytesIO gives on the same bytes."""

    client: Any = None
    bucket = ""
    contents: ClassVar[dict[str, bytes]] = {}
    strategy = ""

    @initialize(key=st.sampled_from(sorted(SIZES)))
    def open(self, key: str) -> None:
        self.data = self.contents[key]
        self.model = io.BytesIO(self.data)
        self.reader = self.client.get_object(
            self.bucket, key, reader_constructor=CONSTRUCTORS[self.strategy]
        )

    def _size_strategy(self) -> Any:
        return st.one_of(st.none(), st.integers(-1, 300), st.integers(0, 7 * MiB))

    @rule(size=st.one_of(st.none(), st.integers(-2, 300), st.integers(0, 7 * MiB)))
    def read(self, size: int | None) -> None:
        assert self.reader.read(size) == self.model.read(size)

    @rule(size=st.one_of(st.integers(-1, 300), st.integers(0, 6 * MiB)))
    def read1(self, size: int) -> None:
        got = self.reader.read1(size)
        expected = self.model.read(len(got))
        assert got == expected
        # read1 returns something unless at the end (or asked for nothing).
        if size != 0 and self.model.tell() < len(self.data):
            assert got

    @rule(size=st.one_of(st.integers(0, 300), st.integers(0, 6 * MiB)))
    def readinto(self, size: int) -> None:
        got = bytearray(size)
        expected = bytearray(size)
        assert self.reader.readinto(got) == self.model.readinto(expected)
        assert got == expected

    @rule(size=st.one_of(st.none(), st.integers(-1, 500)))
    def readline(self, size: int | None) -> None:
        assert self.reader.readline(size) == self.model.readline(size)

    @rule(
        offset=st.one_of(st.integers(-100, 100), st.integers(-12 * MiB, 12 * MiB)),
        whence=st.sampled_from([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END]),
    )
    def seek(self, offset: int, whence: int) -> None:
        try:
            expected: Any = self.model.seek(offset, whence)
        except ValueError as err:
            expected = err
        if isinstance(expected, ValueError):
            with pytest.raises(ValueError):
                self.reader.seek(offset, whence)
            self.reader.seek(self.model.tell())
        else:
            assert self.reader.seek(offset, whence) == expected

    @invariant()
    def same_position(self) -> None:
        if hasattr(self, "reader"):
            assert self.reader.tell() == self.model.tell()

    def teardown(self) -> None:
        if hasattr(self, "reader"):
            self.reader.close()
            assert self.reader.closed


@pytest.mark.parametrize("strategy", ["sequential", "sequential-nohistory", "range-small-buffer"])
def test_reader_state_machine(objects: Any, module_client: Any, strategy: str) -> None:
    bucket, contents = objects

    class Machine(ReaderMachine):
        pass

    Machine.client, Machine.bucket, Machine.contents, Machine.strategy = (
        module_client,
        bucket,
        contents,
        strategy,
    )
    Machine.TestCase.settings = settings(
        max_examples=100,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Machine.TestCase().runTest()


def test_seek_from_end_uses_known_size_without_head(objects: Any, module_client: Any) -> None:
    bucket, contents = objects
    counting = Counting(module_client, bucket, "small")
    info = module_client.head_object(bucket, "small")
    for constructor in (S3ReaderConstructor.sequential(), S3ReaderConstructor.range_based()):
        reader = constructor(
            bucket=bucket, key="small", get_object_info=lambda: info, get_stream=counting.get_stream
        )
        assert reader.seek(-10, io.SEEK_END) == len(contents["small"]) - 10
        assert reader.read() == contents["small"][-10:]
    assert counting.heads == 0


def test_sequential_reader_asks_for_size_once_when_unknown(small: Any) -> None:
    counting, reader, data = small
    reader.seek(-3, io.SEEK_END)
    reader.seek(-4, io.SEEK_END)
    assert reader.read() == data[-4:]
    assert counting.heads == 1


def test_sequential_reader_looks_back_without_new_requests(small: Any) -> None:
    """The parser pattern (read a header, seek back, read all) costs one GET."""
    counting, reader, data = small
    assert reader.read(16) == data[:16]
    reader.seek(0)
    assert reader.read() == data
    reader.seek(5)
    assert reader.read(10) == data[5:15]
    assert counting.gets == [(None, None)]
    assert counting.heads == 0


def test_sequential_reader_far_seeks(objects: Any, module_client: Any) -> None:
    """A small read far away is a bounded side request that keeps the stream; reading on from
    there, or a large read, moves the stream."""
    bucket, contents = objects
    data = contents["large"]
    counting = Counting(module_client, bucket, "large")
    reader = counting.sequential_reader()
    assert reader.read(100) == data[:100]
    reader.seek(10 * MiB)
    assert reader.read(100) == data[10 * MiB : 10 * MiB + 100]
    assert counting.gets == [(None, None), (10 * MiB - 256 * 1024, 10 * MiB + 64 * 1024)]
    reader.seek(10 * MiB - 1000)  # just before: the side request fetched a margin
    assert reader.read(10) == data[10 * MiB - 1000 : 10 * MiB - 990]
    reader.seek(100)  # back to the stream: no new request
    assert reader.read(1000) == data[100:1100]
    assert len(counting.gets) == 2
    reader.seek(10 * MiB + 64 * 1024)  # past the side request's end: the stream moves there
    assert reader.read(10) == data[10 * MiB + 64 * 1024 : 10 * MiB + 64 * 1024 + 10]
    assert counting.gets[2:] == [(10 * MiB + 64 * 1024, None)]
    reader.seek(3 * MiB)
    assert reader.read(2 * MiB) == data[3 * MiB : 5 * MiB]  # large: moves the stream
    assert counting.gets[3:] == [(3 * MiB, None)]


def test_torch_load_makes_few_requests(client: Any, bucket: str) -> None:
    """torch.load reads the zip directory at the end first, then the records from the start:
    the directory comes from a side request and the stream runs once from the start."""
    import torch

    state = {f"t{i}": torch.randn(256, 1024) for i in range(12)}  # 12 MiB
    with client.put_object(bucket, "ckpt.pt") as writer:
        torch.save(state, writer)
    counting = Counting(client, bucket, "ckpt.pt")
    reader = counting.sequential_reader()
    back = torch.load(reader, weights_only=True)
    assert all(torch.equal(back[name], tensor) for name, tensor in state.items())
    assert len(counting.gets) <= 3, counting.gets
    assert counting.gets[0] == (None, None)


def test_sequential_reader_prefetch_sends_get_before_first_read(small: Any) -> None:
    counting, reader, data = small
    reader.prefetch()
    assert counting.gets == [(None, None)]
    assert reader.read() == data
    assert counting.gets == [(None, None)]


def test_read_past_end_after_seek(objects: Any, module_client: Any) -> None:
    bucket, contents = objects
    for constructor in CONSTRUCTORS.values():
        reader = module_client.get_object(bucket, "small", reader_constructor=constructor)
        assert reader.seek(len(contents["small"]) + 50) == len(contents["small"]) + 50
        assert reader.read() == b""
        assert reader.read(10) == b""
        assert reader.readinto(bytearray(10)) == 0


@pytest.mark.parametrize("strategy", ["sequential", "range"])
def test_readinto_tensors_and_arrays(objects: Any, module_client: Any, strategy: str) -> None:
    import torch

    bucket, contents = objects
    data = contents["large"]
    reader = module_client.get_object(bucket, "large", reader_constructor=CONSTRUCTORS[strategy])
    tensor = torch.empty(len(data) // 2, dtype=torch.bfloat16)
    assert reader.readinto(tensor) == tensor.numel() * 2
    assert bytes(tensor.view(torch.uint8).numpy()) == data[: tensor.numel() * 2]
    reader.seek(0)
    array = np.zeros((10, 25), dtype=np.float64)
    assert reader.readinto(array) == array.nbytes
    assert array.tobytes() == data[: array.nbytes]
    reader.seek(3)
    words = memoryview(bytearray(40)).cast("I")
    assert reader.readinto(words) == 40
    assert words.tobytes() == data[3:43]


def test_readinto_rejects_what_it_cannot_fill(objects: Any, module_client: Any) -> None:
    import torch

    bucket, _ = objects
    reader = module_client.get_object(bucket, "small")
    with pytest.raises(TypeError, match="read-only"):
        reader.readinto(b"immutable")
    with pytest.raises(TypeError, match="bytes-like"):
        reader.readinto("text")
    with pytest.raises(ValueError, match="non-contiguous"):
        reader.readinto(torch.zeros(4, 4).t())


def test_lines_and_iteration(client: Any, bucket: str) -> None:
    lines = [f"line {i} {'x' * (i % 50)}\n".encode() for i in range(20_000)] + [b"no newline"]
    with client.put_object(bucket, "lines.txt") as writer:
        writer.write(b"".join(lines))
    for constructor in CONSTRUCTORS.values():
        reader = client.get_object(bucket, "lines.txt", reader_constructor=constructor)
        assert list(reader) == lines
        reader.seek(0)
        assert reader.readlines()[:3] == lines[:3]
        text = io.TextIOWrapper(client.get_object(bucket, "lines.txt"), encoding="utf-8")
        assert text.readline() == "line 0 \n"


def test_closed_reader_refuses_everything(objects: Any, module_client: Any) -> None:
    bucket, _ = objects
    for constructor in CONSTRUCTORS.values():
        reader = module_client.get_object(bucket, "small", reader_constructor=constructor)
        reader.read(5)
        with reader:
            pass
        assert reader.closed
        for name, args in (
            ("read", ()),
            ("read", (1,)),
            ("readinto", (bytearray(1),)),
            ("seek", (0,)),
            ("tell", ()),
            ("readline", ()),
        ):
            with pytest.raises(ValueError, match="closed"):
                getattr(reader, name)(*args)
        reader.close()  # closing again is fine


def test_bad_arguments_are_typed_errors(objects: Any, module_client: Any) -> None:
    bucket, _ = objects
    reader = module_client.get_object(bucket, "small")
    with pytest.raises(TypeError):
        reader.read("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        reader.seek(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whence"):
        reader.seek(0, 7)
    with pytest.raises(ValueError, match="negative seek position -1"):
        reader.seek(-1)
    with pytest.raises(ValueError, match="buffer_size"):
        S3ReaderConstructor.range_based(buffer_size=-1)
    with pytest.raises(ValueError, match="key must not be empty"):
        module_client.get_object(bucket, "")
    with pytest.raises(ValueError, match="bucket name is empty"):
        module_client.get_object("", "k")


def test_missing_object_fails_on_first_read(client: Any, bucket: str) -> None:
    for constructor in CONSTRUCTORS.values():
        reader = client.get_object(bucket, "missing", reader_constructor=constructor)
        with pytest.raises(s3torch.S3NoSuchKeyError) as caught:
            reader.read()
        assert isinstance(caught.value, FileNotFoundError)
        assert caught.value.key == "missing"


def test_object_info_from_listing_spares_the_head(client: Any, bucket: str) -> None:
    with client.put_object(bucket, "obj") as writer:
        writer.write(b"0123456789")
    [page] = list(client.list_objects(bucket))
    [info] = page.object_info
    reader = client.get_object(
        bucket, "obj", object_info=info, reader_constructor=S3ReaderConstructor.range_based()
    )
    reader.seek(-4, io.SEEK_END)
    assert reader.read() == b"6789"


def test_reader_type_strings() -> None:
    get = S3ReaderConstructor.get_reader_type_string
    assert get(None) == "sequential"
    assert get(S3ReaderConstructor.sequential()) == "sequential"
    assert get(S3ReaderConstructor.range_based(buffer_size=5)) == "range_based"
    assert get(lambda **kw: None) == "unknown"  # type: ignore[arg-type,return-value]
    assert isinstance(S3ReaderConstructor.default(), s3torch.s3reader.S3ReaderConstructorProtocol)
    assert RangedS3Reader.__mro__[1] is s3torch.S3Reader


def test_file_parsers_read_through_the_reader(client: Any, bucket: str) -> None:
    """tarfile, PIL and torch.load work on both strategies."""
    import torch
    from PIL import Image

    members = {f"sample{i}.bin": os.urandom(1000 + i * 3000) for i in range(5)}
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    image = Image.new("RGB", (32, 16), (10, 200, 30))
    png = io.BytesIO()
    image.save(png, format="PNG")
    state = {"w": torch.randn(300, 300), "b": torch.arange(10, dtype=torch.int16), "meta": "x"}
    saved = io.BytesIO()
    torch.save(state, saved)
    for key, payload in (
        ("a.tar", tar_bytes.getvalue()),
        ("i.png", png.getvalue()),
        ("s.pt", saved.getvalue()),
    ):
        with client.put_object(bucket, key) as writer:
            writer.write(payload)
    for constructor in CONSTRUCTORS.values():
        with tarfile.open(
            fileobj=client.get_object(bucket, "a.tar", reader_constructor=constructor), mode="r"
        ) as archive:
            got = {m.name: archive.extractfile(m).read() for m in archive}  # type: ignore[union-attr]
        assert got == members
        with Image.open(client.get_object(bucket, "i.png", reader_constructor=constructor)) as im:
            assert im.size == (32, 16) and im.getpixel((3, 3)) == (10, 200, 30)
        back = torch.load(
            client.get_object(bucket, "s.pt", reader_constructor=constructor), weights_only=True
        )
        assert torch.equal(back["w"], state["w"]) and torch.equal(back["b"], state["b"])
        assert back["meta"] == "x"
