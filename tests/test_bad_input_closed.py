"""Bad input: closed readers, writers and streams used again.

See :mod:`support.bad_input` for what the bad-input tests share.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

import s3torch
from support.bad_input import READER_CONSTRUCTORS
from support.server import put

# ---------------------------------------------------------------------------------------------
# Closed readers, writers and streams used again
# ---------------------------------------------------------------------------------------------

# Upload streams written to or closed after close() or abort(): see test_put.py.

# test_reader.py covers read, readinto, seek, tell and readline; these are the rest.
CLOSED_READER_CALLS: list[tuple[str, tuple[Any, ...], bool]] = [
    # (method, arguments, whether s3torch implements it, so its message names the object)
    ("peek", (), True),
    ("peek", (10,), True),
    ("read1", (4,), True),
    ("readinto1", (bytearray(4),), True),
    ("readable", (), True),
    ("seekable", (), True),
    ("writable", (), True),
    ("seek", (0, io.SEEK_END), True),
    ("__next__", (), True),
    # io.BufferedIOBase's own methods, whose message is Python's "I/O operation on closed file."
    ("readlines", (), False),
    ("__iter__", (), False),
    ("__enter__", (), False),
    ("isatty", (), False),
]


@pytest.mark.parametrize("strategy", sorted(READER_CONSTRUCTORS))
def test_a_closed_reader_refuses_every_operation(
    client: s3torch.S3Client, bucket: str, strategy: str
) -> None:
    put(client, bucket, "k", b"line one\nline two\n")
    for name, args, ours in CLOSED_READER_CALLS:
        reader = client.get_object(bucket, "k", reader_constructor=READER_CONSTRUCTORS[strategy])
        reader.read(3)
        reader.close()
        with pytest.raises(ValueError, match="closed") as caught:
            getattr(reader, name)(*args)
        if ours:
            assert f"s3://{bucket}/k" in str(caught.value), name
        reader.close()


@pytest.mark.parametrize(
    "strategy",
    [pytest.param(name) for name in sorted(READER_CONSTRUCTORS)],
)
def test_a_closed_reader_refuses_prefetch(
    client: s3torch.S3Client, bucket: str, strategy: str
) -> None:
    put(client, bucket, "k", b"data")
    reader = client.get_object(bucket, "k", reader_constructor=READER_CONSTRUCTORS[strategy])
    reader.close()
    with pytest.raises(ValueError, match=f"closed reader of s3://{bucket}/k"):
        reader.prefetch()


def test_a_closed_or_aborted_writer_refuses_writes_naming_the_object(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    closed = client.put_object(bucket, "closed")
    closed.write(b"done")
    closed.close()
    aborted = client.put_object(bucket, "aborted")
    aborted.write(b"never")
    aborted.abort()
    for writer, state in ((closed, "closed"), (aborted, "aborted")):
        with pytest.raises(ValueError, match=f"{state} writer of s3://{bucket}/{state}"):
            writer.write(b"more")
        with pytest.raises(ValueError, match="closed"):
            writer.writelines([b"more"])
        with pytest.raises(ValueError, match="closed"):
            writer.flush()
    assert closed.etag is not None
    keys = [o["Key"] for o in boto3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["closed"]


@pytest.mark.parametrize("call", ["read", "read(5)", "readinto"])
def test_a_closed_download_stream_refuses_reads(
    client: s3torch.S3Client, bucket: str, call: str
) -> None:
    put(client, bucket, "k", b"0123456789")
    stream = client.get_object_stream(bucket, "k")
    assert stream.read(2) == b"01"
    stream.close()
    calls: dict[str, Callable[[], Any]] = {
        "read": stream.read,
        "read(5)": lambda: stream.read(5),
        "readinto": lambda: stream.readinto(bytearray(5)),
    }
    with pytest.raises(ValueError, match="closed"):
        calls[call]()
