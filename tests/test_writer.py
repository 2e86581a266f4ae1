"""S3Writer: a file object whose bytes become one object on close, and nothing on failure."""

from __future__ import annotations

import gc
import io
import logging
import os
from typing import Any

import pytest

from s3torch import S3Writer

MiB = 1024 * 1024


def _pending_uploads(boto3_client: Any, bucket: str) -> list[str]:
    answer = boto3_client.list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def _read(boto3_client: Any, bucket: str, key: str) -> bytes:
    return bytes(boto3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_writer_is_a_binary_file(client: Any, bucket: str, boto3_client: Any) -> None:
    writer = client.put_object(bucket, "small")
    assert isinstance(writer, S3Writer) and isinstance(writer, io.BufferedIOBase)
    assert (writer.bucket, writer.key) == (bucket, "small")
    assert writer.writable() and not writer.readable() and not writer.seekable()
    assert writer.write(b"hello, ") == 7
    assert writer.write(bytearray(b"world")) == 5
    assert writer.write(memoryview(bytearray(8)).cast("I")) == 8  # counts bytes, not items
    writer.flush()
    assert writer.tell() == 20
    assert writer.etag is None and not writer.closed
    writer.close()
    assert writer.closed and not writer.writable() and writer.etag
    assert _read(boto3_client, bucket, "small") == b"hello, world" + bytes(8)


def test_writes_tensors_and_arrays(client: Any, bucket: str, boto3_client: Any) -> None:
    import numpy as np
    import torch

    tensor = torch.arange(1000, dtype=torch.bfloat16)
    array = np.arange(10, dtype=np.int64)
    with client.put_object(bucket, "t") as writer:
        assert writer.write(tensor) == 2000
        assert writer.write(array) == 80
    assert _read(boto3_client, bucket, "t") == tensor.view(torch.uint8).numpy().tobytes() + (
        array.tobytes()
    )
    with pytest.raises(ValueError, match="non-contiguous"), client.put_object(bucket, "u") as w:
        w.write(torch.zeros(3, 3).t())
    with pytest.raises(TypeError), client.put_object(bucket, "u") as w:
        w.write("text")


@pytest.mark.parametrize("size", [0, 1, 3 * MiB, 12 * MiB + 5])
def test_round_trip_of_any_size(client: Any, bucket: str, boto3_client: Any, size: int) -> None:
    data = os.urandom(size)
    with client.put_object(bucket, "obj") as writer:
        # Writes of mixed sizes: tiny ones gathered, big ones streamed.
        view = memoryview(data)
        offset = 0
        for step in (1, 100, 2 * MiB, 7, 3 * MiB, 1 << 40):
            writer.write(view[offset : offset + step])
            offset = min(size, offset + step)
    assert _read(boto3_client, bucket, "obj") == data
    assert client.get_object(bucket, "obj").read() == data
    assert writer.etag is not None
    assert ("-" in writer.etag) == (size > 5 * MiB)  # multipart beyond one 5 MiB part


@pytest.mark.parametrize("size", [10, 12 * MiB])
def test_exception_in_with_aborts_and_keeps_previous_object(
    client: Any, bucket: str, boto3_client: Any, size: int
) -> None:
    with client.put_object(bucket, "ckpt") as writer:
        writer.write(b"previous version")
    with pytest.raises(RuntimeError, match="boom"):
        with client.put_object(bucket, "ckpt") as writer:
            writer.write(os.urandom(size))
            raise RuntimeError("boom")
    assert writer.closed and writer.aborted and writer.etag is None
    assert _read(boto3_client, bucket, "ckpt") == b"previous version"
    assert _pending_uploads(boto3_client, bucket) == []
    with pytest.raises(ValueError, match="aborted writer"):
        writer.write(b"more")


def test_abort_creates_nothing(client: Any, bucket: str, boto3_client: Any) -> None:
    writer = client.put_object(bucket, "never")
    writer.write(os.urandom(11 * MiB))
    writer.abort()
    writer.abort()  # again: nothing happens
    writer.close()  # closing an aborted writer does not publish it
    assert writer.aborted
    assert boto3_client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert _pending_uploads(boto3_client, bucket) == []


def test_abort_after_close_keeps_the_object(client: Any, bucket: str, boto3_client: Any) -> None:
    writer = client.put_object(bucket, "done")
    writer.write(b"data")
    writer.close()
    writer.abort()
    assert not writer.aborted
    assert _read(boto3_client, bucket, "done") == b"data"


def test_garbage_collected_writer_aborts(
    client: Any, bucket: str, boto3_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    writer = client.put_object(bucket, "forgotten")
    writer.write(os.urandom(6 * MiB))
    with caplog.at_level(logging.WARNING, logger="s3torch"):
        del writer
        gc.collect()
    assert "without close()" in caplog.text
    assert boto3_client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert _pending_uploads(boto3_client, bucket) == []


def test_closed_writer_refuses_writes_and_flush(client: Any, bucket: str) -> None:
    writer = client.put_object(bucket, "k")
    writer.close()
    writer.close()  # closing again is fine
    with pytest.raises(ValueError, match="closed writer of s3://"):
        writer.write(b"x")
    with pytest.raises(ValueError, match="closed"):
        writer.flush()
    with pytest.raises(ValueError, match="closed"), writer:
        pass


def test_upload_without_checksum(make_client: Any, bucket: str, boto3_client: Any) -> None:
    client = make_client(upload_checksum=None)
    data = os.urandom(6 * MiB)
    with client.put_object(bucket, "plain") as writer:
        writer.write(data)
    assert _read(boto3_client, bucket, "plain") == data


def test_torch_save_through_writer(client: Any, bucket: str) -> None:
    import torch

    state = {"w": torch.randn(512, 512), "step": 3}
    with client.put_object(bucket, "m.pt") as writer:
        torch.save(state, writer)
    back = torch.load(client.get_object(bucket, "m.pt"), weights_only=True)
    assert torch.equal(back["w"], state["w"]) and back["step"] == 3
