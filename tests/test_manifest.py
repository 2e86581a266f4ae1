"""Manifests: a listing saved and loaded back (round trip, compactness, corruption), and the
three datasets built from one without listing."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s3torch
from s3torch import S3IterableDataset, S3MapDataset, S3TarDataset
from s3torch._datasets.manifest import dump_manifest, load_manifest
from s3torch._datasets.table import ObjectRow, ObjectTable, pack_etag, unpack_etag
from support.datasets import dataset_settings
from support.server import put, stocked_bucket

etags = st.one_of(
    st.just(""),
    st.binary(min_size=16, max_size=16).map(lambda b: f'"{b.hex()}"'),
    st.tuples(st.binary(min_size=16, max_size=16), st.integers(1, 10_000)).map(
        lambda t: f'"{t[0].hex()}-{t[1]}"'
    ),
    st.text(max_size=40),
)
rows = st.lists(
    st.builds(
        ObjectRow,
        st.sampled_from(["bucket-a", "bucket.b"]),
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60),
        st.integers(-1, 2**62),
        etags,
        st.integers(0, 2**62),
    ),
    max_size=30,
)


@given(etag=etags)
def test_etags_pack_and_unpack_to_the_same_text(etag: str) -> None:
    assert unpack_etag(pack_etag(etag)) == etag


@settings(max_examples=200, deadline=None)
@given(rows=rows, prefixes=st.lists(st.just("s3://bucket-a/p/"), max_size=2))
def test_a_manifest_loads_back_every_row(rows: list[ObjectRow], prefixes: list[str]) -> None:
    table = ObjectTable.build(rows)
    loaded, header = load_manifest(dump_manifest(table, prefixes), "m")
    assert [loaded.row(i) for i in range(len(loaded))] == rows
    assert header["prefixes"] == prefixes and header["count"] == len(rows)
    assert header["listed_at"] > 1.7e9


def _sample_manifest() -> bytes:
    rows = [
        ObjectRow("bkt", f"train/{i:05d}.jpg", i, f'"{hashlib.md5(bytes([i])).hexdigest()}"', i)
        for i in range(50)
    ]
    return dump_manifest(ObjectTable.build(rows), ["s3://bkt/train/"])


SAMPLE = _sample_manifest()


@settings(max_examples=300, deadline=None)
@given(at=st.integers(0, len(SAMPLE) - 1), flip=st.integers(1, 255))
def test_any_changed_byte_is_a_value_error_naming_the_file(at: int, flip: int) -> None:
    data = bytearray(SAMPLE)
    data[at] ^= flip
    with pytest.raises(ValueError, match=re.escape("manifest /data/m.bin: ")):
        load_manifest(bytes(data), "/data/m.bin")


@settings(max_examples=200, deadline=None)
@given(length=st.integers(0, len(SAMPLE) - 1))
def test_a_truncated_manifest_is_a_value_error(length: int) -> None:
    with pytest.raises(ValueError, match=re.escape("manifest m.bin: ")):
        load_manifest(SAMPLE[:length], "m.bin")


def test_another_version_or_another_file_is_refused() -> None:
    body = bytearray(SAMPLE[:-4])
    struct.pack_into("<I", body, 16, 99)
    newer = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))
    with pytest.raises(ValueError, match="version 99; this s3torch reads version 1"):
        load_manifest(newer, "m")
    with pytest.raises(ValueError, match="not an s3torch manifest"):
        load_manifest(b"PK\x03\x04 a zip file", "m")


def test_the_table_costs_under_64_bytes_a_key_beside_the_key_text() -> None:
    count = 100_000
    rows = (
        ObjectRow(
            "bucket",
            f"train/{i // 1000:04d}/{i:08d}.jpg",
            100_000 + i,
            f'"{hashlib.md5(i.to_bytes(4, "little")).hexdigest()}"',
            1_700_000_000_000 + i,
        )
        for i in range(count)
    )
    table = ObjectTable.build(rows)
    per_key = (table.nbytes() - table.key_bytes()) / count
    assert per_key <= 64, per_key


# -- the datasets against the server -------------------------------------------------------------


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))
    return out.getvalue()


@pytest.fixture
def stored(s3_server: Any, client: s3torch.S3Client) -> Iterator[str]:
    objects = [("d/0.bin", b"zero"), ("d/1.bin", b"one"), ("d/2.tar", _tar())]
    with stocked_bucket(s3_server, client, objects) as name:
        yield name


def _key(reader: Any) -> str:
    return str(reader.key)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_datasets_from_a_manifest_read_what_was_listed_without_listing(
    s3_server: Any, client: s3torch.S3Client, stored: str, tmp_path: Path, where: str
) -> None:
    settings_ = dataset_settings(s3_server)
    listed = S3IterableDataset.from_prefix(f"s3://{stored}/d/", transform=_key, **settings_)
    manifest = str(tmp_path / "m.bin") if where == "local" else f"s3://{stored}/m.bin"
    listed.save_manifest(manifest)
    # An object added since: a dataset that listed again would see it.
    put(client, stored, "d/3.bin", b"late")
    keys = ["d/0.bin", "d/1.bin", "d/2.tar"]
    iterable = S3IterableDataset.from_manifest(manifest, transform=_key, **settings_)
    assert list(iterable) == keys and len(iterable) == 3
    mapped = S3MapDataset.from_manifest(manifest, transform=lambda r: r.read(), **settings_)
    assert len(mapped) == 3 and mapped[1] == b"one"
    tars = S3TarDataset.from_manifest(manifest, **settings_)
    assert [s["__url__"] for s in tars] == [f"s3://{stored}/d/2.tar"]
    if where == "local":
        assert not list(tmp_path.glob(".m.bin.*"))  # no temporary file left behind


def test_a_corrupt_manifest_in_s3_is_a_value_error_naming_it(
    s3_server: Any, client: s3torch.S3Client, stored: str, tmp_path: Path
) -> None:
    settings_ = dataset_settings(s3_server)
    S3MapDataset.from_prefix(f"s3://{stored}/d/", **settings_).save_manifest(tmp_path / "m")
    data = (tmp_path / "m").read_bytes()
    put(client, stored, "cut.bin", data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(f"manifest s3://{stored}/cut.bin: ")):
        S3IterableDataset.from_manifest(f"s3://{stored}/cut.bin", **settings_)
    with pytest.raises(FileNotFoundError):
        S3MapDataset.from_manifest(tmp_path / "missing", **settings_)
    with pytest.raises(TypeError, match="manifest must be a path"):
        S3MapDataset.from_manifest(42, **settings_)  # type: ignore[arg-type]
