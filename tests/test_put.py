"""PUT streams (rust/src/put.rs): single PUT vs multipart, buffers, abort, close semantics."""

from __future__ import annotations

import array
import hashlib
import os
import re
from typing import Any

import numpy as np
import pytest

import s3torch

PART = 5 * 1024 * 1024


def no_pending_uploads(boto3_client: Any, bucket: str) -> bool:
    return not boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def refusal(bucket: str, key: str, why: str) -> str:
    """The pattern of the ValueError a finished upload raises: it names the object and why."""
    return re.escape(f"I/O operation on closed stream: the upload of s3://{bucket}/{key} {why}")


def test_write_accepts_any_bytes_like_and_returns_its_length(
    client: s3torch.S3Client, bucket: str
) -> None:
    stream = client.put_object_stream(bucket, "mixed")
    parts: list[Any] = [
        b"bytes",
        bytearray(b"bytearray"),
        memoryview(b"..memoryview..")[2:-2],
        array.array("i", [1, 2, 3]),
        np.arange(4, dtype=np.int16),
    ]
    expected = b"".join(bytes(memoryview(p).cast("B")) for p in parts)
    assert [stream.write(p) for p in parts] == [len(memoryview(p).cast("B")) for p in parts]
    assert stream.tell() == len(expected)
    stream.close()
    assert client.get_object_stream(bucket, "mixed").read() == expected


def test_write_rejects_non_buffers(client: s3torch.S3Client, bucket: str) -> None:
    stream = client.put_object_stream(bucket, "k")
    with pytest.raises(TypeError, match="bytes-like"):
        stream.write("text is not bytes")  # type: ignore[arg-type]


def test_small_object_is_one_put_with_a_plain_etag(client: s3torch.S3Client, bucket: str) -> None:
    data = os.urandom(PART)
    stream = client.put_object_stream(bucket, "small")
    stream.write(data)
    etag = stream.close()
    assert etag.strip('"') == hashlib.md5(data).hexdigest()
    assert stream.etag == etag
    assert client.head_object(bucket, "small").etag == etag


def test_large_object_is_a_multipart_upload(client: s3torch.S3Client, bucket: str) -> None:
    data = os.urandom(2 * PART + 1)
    stream = client.put_object_stream(bucket, "large")
    for offset in range(0, len(data), 100_000):  # many small writes are gathered into parts
        stream.write(data[offset : offset + 100_000])
    etag = stream.close()
    assert etag.strip('"').endswith("-3"), etag
    assert client.get_object_stream(bucket, "large").read() == data


def test_one_huge_write_streams_straight_through(client: s3torch.S3Client, bucket: str) -> None:
    data = os.urandom(4 * PART + 3)
    stream = client.put_object_stream(bucket, "huge")
    assert stream.write(memoryview(data)) == len(data)
    stream.close()
    assert client.get_object_stream(bucket, "huge").read() == data


def test_nothing_is_visible_before_close(client: s3torch.S3Client, bucket: str) -> None:
    stream = client.put_object_stream(bucket, "pending")
    stream.write(os.urandom(2 * PART))
    with pytest.raises(FileNotFoundError):
        client.head_object(bucket, "pending")
    stream.close()
    assert client.head_object(bucket, "pending").size == 2 * PART


@pytest.mark.parametrize(
    "size", [0, 10, 3 * PART], ids=["nothing-written", "single-put", "multipart"]
)
def test_abort_creates_nothing_and_keeps_the_previous_object(
    client: s3torch.S3Client, bucket: str, boto3_client: Any, size: int
) -> None:
    previous = b"the previous checkpoint"
    first = client.put_object_stream(bucket, "ckpt")
    first.write(previous)
    first.close()

    stream = client.put_object_stream(bucket, "ckpt")
    stream.write(os.urandom(size))
    stream.abort()
    assert stream.closed
    assert client.get_object_stream(bucket, "ckpt").read() == previous
    assert no_pending_uploads(boto3_client, bucket)
    with pytest.raises(ValueError, match=refusal(bucket, "ckpt", "was aborted")):
        stream.write(b"more")
    with pytest.raises(ValueError, match=refusal(bucket, "ckpt", "was aborted")):
        stream.close()
    stream.abort()  # aborting again is harmless
    assert client.get_object_stream(bucket, "ckpt").read() == previous


def test_dropping_an_unclosed_upload_aborts_it(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    stream = client.put_object_stream(bucket, "dropped")
    stream.write(os.urandom(3 * PART))
    del stream
    with pytest.raises(FileNotFoundError):
        client.head_object(bucket, "dropped")
    # The CRT sends AbortMultipartUpload asynchronously after cancellation.
    import time

    deadline = time.monotonic() + 10
    while not no_pending_uploads(boto3_client, bucket) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert no_pending_uploads(boto3_client, bucket)


def test_close_twice_and_write_after_close_are_value_errors_naming_the_object(
    client: s3torch.S3Client, bucket: str
) -> None:
    stream = client.put_object_stream(bucket, "k")
    stream.write(b"x")
    stream.close()
    assert stream.closed
    with pytest.raises(ValueError, match=refusal(bucket, "k", "was already closed")):
        stream.write(b"y")
    with pytest.raises(ValueError, match=refusal(bucket, "k", "was already closed")):
        stream.close()
    stream.abort()  # aborting a finished upload does nothing
    assert client.get_object_stream(bucket, "k").read() == b"x"


def test_overwrite_replaces_the_object(client: s3torch.S3Client, bucket: str) -> None:
    for content in [b"first", os.urandom(PART + 1), b"third"]:
        stream = client.put_object_stream(bucket, "k")
        stream.write(content)
        stream.close()
        assert client.get_object_stream(bucket, "k").read() == content


def test_storage_class_is_sent(client: s3torch.S3Client, bucket: str, boto3_client: Any) -> None:
    stream = client.put_object_stream(bucket, "cold", storage_class="STANDARD_IA")
    stream.write(b"x")
    stream.close()
    head = boto3_client.head_object(Bucket=bucket, Key="cold")
    assert head.get("StorageClass", "STANDARD") in {"STANDARD_IA", "STANDARD"}


def test_uploads_without_checksums_work(make_client: Any, bucket: str) -> None:
    client = make_client(upload_checksum=None)
    for size in [3, 2 * PART + 1]:
        data = os.urandom(size)
        stream = client.put_object_stream(bucket, f"nochecksum{size}")
        stream.write(data)
        stream.close()
        assert client.get_object_stream(bucket, f"nochecksum{size}").read() == data
