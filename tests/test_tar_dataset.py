"""WebDataset-format tar shards: the streaming parser, sample grouping, decoders, and
S3TarDataset (sharding, shuffling, resuming, corrupt shards)."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import pickle
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy
import pytest
import torch
import torch.utils.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchdata.stateful_dataloader import StatefulDataLoader

import s3torch
from s3torch import S3ClientConfig
from s3torch._datasets.tar import (
    _unsigned_checksum,
    iter_samples,
    iter_tar_members,
    split_name,
)
from s3torch.tar_dataset import DEFAULT_DECODERS, S3TarDataset, TarShardError, decode_sample
from support.server import stocked_bucket

URI = "s3://bucket/shard.tar"


def make_tar(members: list[tuple[str, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def chunked(data: bytes, cuts: list[int]) -> list[memoryview]:
    """``data`` split at ``cuts`` (as a GET stream's buffers would split it)."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [memoryview(data)[a:b] for a, b in itertools.pairwise(points)]


names = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
        lambda s: "\x00" not in s and s not in (".", "..") and not s.endswith("/")
    ),
    min_size=1,
    max_size=6,
).map("/".join)


@settings(max_examples=80, deadline=None)
@given(
    members=st.lists(st.tuples(names, st.binary(max_size=1500)), max_size=8),
    fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]),
    cuts=st.lists(st.integers(0, 10**6), max_size=12),
)
def test_the_parser_reads_back_what_tarfile_wrote(
    members: list[tuple[str, bytes]], fmt: int, cuts: list[int]
) -> None:
    data = make_tar(members, fmt)
    parsed = list(iter_tar_members(chunked(data, cuts), URI))
    assert [(m.name, m.data) for m in parsed] == members
    assert all(m.offset % 512 == 0 for m in parsed)


def test_ustar_prefixes_directories_links_and_long_sizes() -> None:
    long_dir = "d" * 120
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo("dir"), None)
        tar.getmember("dir").type = tarfile.DIRTYPE
        directory = tarfile.TarInfo("adir")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        link = tarfile.TarInfo("alink")
        link.type, link.linkname = tarfile.SYMTYPE, "target"
        tar.addfile(link)
        info = tarfile.TarInfo(f"{long_dir}/file.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    members = list(iter_tar_members([out.getvalue()], URI))
    assert [(m.name, m.data) for m in members if m.data] == [(f"{long_dir}/file.txt", b"abc")]


@settings(max_examples=40, deadline=None)
@given(
    members=st.lists(st.tuples(names, st.binary(max_size=700)), min_size=1, max_size=5),
    cut=st.integers(0, 10**5),
)
def test_a_truncated_archive_is_an_error_naming_shard_and_offset(
    members: list[tuple[str, bytes]], cut: int
) -> None:
    data = make_tar(members)
    # The end-of-archive block starts after the last member's padded data (found by tarfile:
    # the data itself may end in NUL bytes).
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1] if members else None
    end = 0 if last is None else last.offset_data + last.size + (-last.size % 512)
    cut %= end + 512
    with pytest.raises(TarShardError) as raised:
        list(iter_tar_members([data[:cut]], URI))
    assert raised.value.uri == URI and raised.value.offset is not None
    assert raised.value.offset <= cut and URI in str(raised.value)
    # Anything past the first end-of-archive block may be missing.
    assert [m.data for m in iter_tar_members([data[: end + 512]], URI)] == [d for _, d in members]


def test_a_corrupt_header_is_an_error_at_its_offset() -> None:
    data = bytearray(make_tar([("a.txt", b"x" * 600), ("b.txt", b"y")], tarfile.USTAR_FORMAT))
    second = 512 + 1024  # header, 600 bytes padded to 1024
    data[second + 10] ^= 0xFF
    with pytest.raises(TarShardError, match=f"offset {second}.*checksum") as raised:
        list(iter_tar_members([bytes(data)], URI))
    assert raised.value.offset == second
    with pytest.raises(TarShardError, match=r"offset 0.*checksum"):
        list(iter_tar_members([b"not a tar file at all" * 100], URI))


@given(st.binary(min_size=512, max_size=512))
def test_the_header_checksum_is_the_byte_sum_with_its_field_as_spaces(header: bytes) -> None:
    assert _unsigned_checksum(header) == sum(header) - sum(header[148:156]) + 8 * ord(" ")
    assert _unsigned_checksum(b"\xff" * 512) == 255 * 504 + 8 * ord(" ")  # the largest sums


def test_errors_pickle_with_their_attributes() -> None:
    error = TarShardError("bad", uri=URI, offset=1024, key="k")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.uri, copy.offset, copy.key, str(copy)) == (URI, 1024, "k", str(error))


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("a/b/c.jpg", ("a/b/c", "jpg")),
        ("x.seg.PNG", ("x", "seg.png")),
        ("dir.v2/file.txt", ("dir.v2/file", "txt")),
        ("noext", None),
        ("dir/.hidden", None),
        ("dir/", None),
    ],
)
def test_split_name(name: str, parts: tuple[str, str] | None) -> None:
    assert split_name(name) == parts


samples_strategy = st.lists(
    st.tuples(
        st.from_regex(r"[a-z0-9_/]{0,12}[a-z0-9]", fullmatch=True),
        st.dictionaries(
            st.from_regex(r"[a-z0-9]{1,4}(\.[a-z0-9]{1,3})?", fullmatch=True),
            st.binary(max_size=300),
            min_size=1,
            max_size=4,
        ),
    ),
    max_size=8,
    unique_by=lambda s: s[0],
)


@settings(max_examples=60, deadline=None)
@given(samples=samples_strategy)
def test_members_group_into_samples_by_key(samples: list[tuple[str, dict[str, bytes]]]) -> None:
    members = [(f"{key}.{ext}", data) for key, fields in samples for ext, data in fields.items()]
    tar = make_tar([*members, ("README", b"not part of a sample")])
    got = list(iter_samples(iter_tar_members([tar], URI), URI))
    assert got == [{"__key__": k, "__url__": URI, **fields} for k, fields in samples]


def test_a_sample_with_two_files_of_one_extension_is_an_error() -> None:
    tar = make_tar([("a.txt", b"1"), ("a.txt", b"2")])
    with pytest.raises(TarShardError, match="two 'txt' files"):
        list(iter_samples(iter_tar_members([tar], URI), URI))


def test_default_decoders() -> None:
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (3, 2), (10, 20, 30)).save(png, format="PNG")
    array = io.BytesIO()
    numpy.save(array, numpy.arange(6).reshape(2, 3))
    tensor = io.BytesIO()
    torch.save({"w": torch.ones(2)}, tensor)
    sample = {
        "__key__": "k",
        "__url__": URI,
        "cls": b" 7\n",
        "txt": "héllo".encode(),
        "json": b'{"a": [1, 2]}',
        "npy": array.getvalue(),
        "pth": tensor.getvalue(),
        "seg.png": png.getvalue(),
        "bin": b"\x00\x01",
    }
    decoded = decode_sample(sample)
    assert decoded["cls"] == 7 and decoded["txt"] == "héllo" and decoded["json"] == {"a": [1, 2]}
    assert decoded["npy"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert torch.equal(decoded["pth"]["w"], torch.ones(2))
    assert decoded["seg.png"].size == (3, 2)
    assert decoded["seg.png"].getpixel((0, 0)) == (10, 20, 30)
    assert decoded["bin"] == b"\x00\x01" and decoded["__key__"] == "k"
    with pytest.raises(TarShardError, match="field 'json' of sample 'k'"):
        decode_sample({**sample, "json": b"{"}, DEFAULT_DECODERS)


# -- S3TarDataset against the server -------------------------------------------------------------

SHARDS = 6
PER_SHARD = 5


def shard_samples(shard: int) -> list[tuple[str, dict[str, bytes]]]:
    return [
        (
            f"s{shard}/{i:03d}",
            {"cls": str(shard * 100 + i).encode(), "txt": f"sample {shard}-{i}".encode()},
        )
        for i in range(PER_SHARD)
    ]


def shard_bytes(shard: int) -> bytes:
    return make_tar(
        [
            (f"{key}.{ext}", data)
            for key, fields in shard_samples(shard)
            for ext, data in fields.items()
        ]
    )


ALL_KEYS = [key for shard in range(SHARDS) for key, _ in shard_samples(shard)]


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[str]:
    objects = [
        (f"shards/shard-{shard:02d}.tar.gz", gzip.compress(shard_bytes(shard)))
        if shard == 4
        else (f"shards/shard-{shard:02d}.tar", shard_bytes(shard))
        for shard in range(SHARDS)
    ]
    objects += [
        ("shards/index.json", b"{}"),  # not a shard: left out by from_prefix
        ("bad/corrupt.tar", shard_bytes(0)[:1024] + b"\xff" * 512 + shard_bytes(1)[1536:]),
        ("bad/truncated.tar", shard_bytes(1)[:2500]),
        ("bad/undecodable.tar", make_tar([("a.json", b"{"), ("b.json", b"[1]")])),
    ]
    with stocked_bucket(s3_server, module_client, objects) as name:
        yield name


@pytest.fixture(scope="module")
def make(s3_server: Any, stored: str) -> Any:
    config = S3ClientConfig(
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        session_token=s3_server.session_token,
    )

    def build(uri: str | list[str] = "shards/", **overrides: Any) -> S3TarDataset:
        arguments = {"region": s3_server.region, "endpoint": s3_server.endpoint}
        arguments.update(s3client_config=config, **overrides)  # type: ignore[arg-type]
        if isinstance(uri, list):
            return S3TarDataset.from_objects([f"s3://{stored}/{u}" for u in uri], **arguments)
        return S3TarDataset.from_prefix(f"s3://{stored}/{uri}", **arguments)

    return build


def sample_key(sample: dict[str, Any]) -> str:
    return str(sample["__key__"])


def test_samples_stream_from_every_shard_in_order(make: Any, stored: str) -> None:
    samples = list(make())
    assert [s["__key__"] for s in samples] == ALL_KEYS
    assert samples[0] == {
        "__key__": "s0/000",
        "__url__": f"s3://{stored}/shards/shard-00.tar",
        "cls": b"0",
        "txt": b"sample 0-0",
    }
    assert samples[-1]["__url__"].endswith("shard-05.tar")
    assert samples[4 * PER_SHARD]["__url__"].endswith("shard-04.tar.gz")


def test_decode_and_transform(make: Any) -> None:
    dataset = make(decode=True, transform=lambda s: (s["cls"], s["txt"]))
    assert list(dataset)[:2] == [(0, "sample 0-0"), (1, "sample 0-1")]
    custom = make(decode={"txt": lambda b: b.upper()}, transform=lambda s: (s["cls"], s["txt"]))
    assert next(iter(custom)) == (0, b"SAMPLE 0-0")


def test_sharding_and_shuffling_cover_every_sample_once_per_epoch(make: Any) -> None:
    whole = [s["__key__"] for s in make(shuffle=True, seed=1)]
    assert sorted(whole) == sorted(ALL_KEYS) and whole != ALL_KEYS
    seen = []
    for rank in range(2):
        loader = torch.utils.data.DataLoader(
            make(
                enable_sharding=True,
                shuffle=True,
                seed=1,
                rank=rank,
                world_size=2,
                transform=sample_key,
            ),
            batch_size=None,
            num_workers=2,
            multiprocessing_context="fork",
        )
        seen += list(loader)
    assert sorted(seen) == sorted(ALL_KEYS)
    shuffled = make(shuffle=True, seed=1)
    shuffled.set_epoch(1)
    assert [s["__key__"] for s in shuffled] != whole


def test_a_sample_shuffle_buffer_mixes_samples_within_the_bound(make: Any) -> None:
    def order(epoch: int) -> list[str]:
        dataset = make(shuffle_buffer=8, seed=3, transform=sample_key)
        dataset.set_epoch(epoch)
        return list(dataset)

    first = order(0)
    assert sorted(first) == sorted(ALL_KEYS) and first != ALL_KEYS
    assert first == order(0) and first != order(1)
    assert all(ALL_KEYS.index(key) < k + 8 for k, key in enumerate(first))


def _collect(loader: Any, batches: int | None = None) -> list[str]:
    taken = itertools.islice(loader, batches) if batches is not None else loader
    return [key for batch in taken for key in batch]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(0, 16),
    shuffle=st.booleans(),
    buffer=st.sampled_from([0, 4]),
    world=st.sampled_from([(0, 1), (1, 2)]),
)
def test_stateful_dataloader_resumes_at_the_sample(
    make: Any, cut: int, shuffle: bool, buffer: int, world: tuple[int, int]
) -> None:
    def loader() -> StatefulDataLoader:
        dataset = make(
            enable_sharding=True,
            shuffle=shuffle,
            shuffle_buffer=buffer,
            seed=2,
            rank=world[0],
            world_size=world[1],
            transform=sample_key,
        )
        dataset.set_epoch(1)
        return StatefulDataLoader(dataset, batch_size=2, collate_fn=list)

    full = _collect(loader())
    first = loader()
    head = _collect(first, cut)
    second = loader()
    second.load_state_dict(first.state_dict())
    rest = _collect(second)
    if cut > -(-len(full) // 2):
        assert head == full and rest == full
    else:
        assert head + rest == full


@pytest.mark.timeout(180)
def test_workers_started_by_forkserver_resume_too(make: Any) -> None:
    def loader() -> StatefulDataLoader:
        dataset = make(enable_sharding=True, shuffle=True, shuffle_buffer=3, transform=sample_key)
        return StatefulDataLoader(
            dataset,
            batch_size=2,
            num_workers=2,
            multiprocessing_context="forkserver",
            collate_fn=list,
        )

    first = loader()
    head = _collect(first, 5)
    state = first.state_dict()
    del first
    second = loader()
    second.load_state_dict(state)
    rest = _collect(second)
    assert sorted(head + rest) == sorted(ALL_KEYS) and len(head) == 10


@pytest.mark.parametrize(
    ("shard", "match"),
    [
        ("bad/corrupt.tar", "corrupt.tar at offset 1024: bad tar header checksum"),
        ("bad/truncated.tar", "truncated.tar at offset 2048: the archive ends inside"),
    ],
)
def test_corrupt_shards_raise_or_are_skipped(make: Any, shard: str, match: str) -> None:
    uris = ["shards/shard-00.tar", shard, "shards/shard-02.tar"]
    with pytest.raises(TarShardError, match=match):
        list(make(uris))
    good = [s["__key__"] for s in make(["shards/shard-00.tar", "shards/shard-02.tar"])]
    skipped = [s["__key__"] for s in make(uris, on_error="skip")]
    # The samples before the damage are kept; the rest of the shard is dropped.
    assert skipped[:PER_SHARD] == good[:PER_SHARD] and skipped[-PER_SHARD:] == good[-PER_SHARD:]
    with pytest.warns(UserWarning, match="skipped"):
        assert [s["__key__"] for s in make(uris, on_error="warn")] == skipped


def test_undecodable_samples_raise_or_are_skipped(make: Any) -> None:
    with pytest.raises(TarShardError, match="field 'json' of sample 'a'"):
        list(make(["bad/undecodable.tar"], decode=True))
    assert [s["json"] for s in make(["bad/undecodable.tar"], decode=True, on_error="skip")] == [[1]]


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"on_error": "ignore"}, ValueError, "on_error"),
        ({"shuffle_buffer": -1}, ValueError, "shuffle_buffer"),
        ({"decode": "yes"}, TypeError, "decode"),
        ({"decode": {"txt": 3}}, TypeError, "decode"),
        ({"transform": 3}, TypeError, "transform"),
    ],
)
def test_bad_arguments(make: Any, arguments: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make(**arguments)


def test_state_is_json_serialisable(make: Any) -> None:
    dataset = make(enable_sharding=True, shuffle_buffer=4)
    it = iter(dataset)
    next(it)
    json.dumps(dataset.state_dict())
