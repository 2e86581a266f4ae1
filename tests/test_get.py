"""GET streams (rust/src/get.rs): whole objects, ranges, read/readinto/iteration, zero copies."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s3torch
from s3torch import _core
from s3torch._settings import ClientSettings
from support.faults import FaultRig, journal_tail
from support.server import ServerInfo, put

PART = 5 * 1024 * 1024


@pytest.mark.parametrize(
    "size",
    [0, 1, PART - 1, PART, PART + 1, 3 * PART + 12345],
    ids=["0B", "1B", "part-1", "part", "part+1", "3parts+"],
)
def test_round_trip_at_part_boundaries(client: s3torch.S3Client, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put(client, bucket, "obj", data)
    assert client.get_object_stream(bucket, "obj").read() == data


def test_round_trip_over_100_mib(client: s3torch.S3Client, bucket: str, boto3_client) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(100 * 1024 * 1024 + 3)
    put(client, bucket, "big", data)
    # An independent client sees the same bytes.
    assert boto3_client.get_object(Bucket=bucket, Key="big")["Body"].read() == data
    buffer = bytearray(len(data))
    stream = client.get_object_stream(bucket, "big")
    assert stream.readinto(buffer) == len(data)
    assert buffer == data
    assert stream.read() == b""


def test_read_in_pieces_returns_consecutive_bytes(client: s3torch.S3Client, bucket: str) -> None:
    data = os.urandom(2 * PART + 77)
    put(client, bucket, "obj", data)
    stream = client.get_object_stream(bucket, "obj")
    pieces = []
    for size in [0, 1, 1000, PART, PART, 10**9]:
        pieces.append(stream.read(size))
        assert stream.tell() == sum(map(len, pieces))
    assert [len(p) for p in pieces] == [0, 1, 1000, PART, PART - 924, 0]
    assert b"".join(pieces) == data
    assert stream.read(10) == b""


def test_iteration_yields_zero_copy_read_only_buffers(
    client: s3torch.S3Client, bucket: str
) -> None:
    data = os.urandom(PART + 5)
    put(client, bucket, "obj", data)
    chunks = list(client.get_object_stream(bucket, "obj"))
    assert all(isinstance(chunk, s3torch._core.Buffer) for chunk in chunks)
    views = [memoryview(chunk) for chunk in chunks]
    assert all(view.readonly for view in views)
    assert b"".join(views) == data
    assert len(chunks) >= 2, "a multi-part object arrives as several buffers"


def test_a_buffer_outlives_its_stream_and_client(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str
) -> None:
    # The CRT aborts the process if a client's buffer pool goes while one of its blocks is still
    # handed out; a buffer must keep what holds its memory alive. Run in a child: an abort here
    # would take the test session with it.
    put(client, bucket, "kept", b"x" * 10_000)
    script = f"""
import gc, s3torch
client = s3torch.S3Client(endpoint={s3_server.endpoint!r})
stream = client.get_object_stream({bucket!r}, "kept")
view = memoryview(next(iter(stream)))
del stream, client
gc.collect()
assert bytes(view[:3]) == b"xxx", bytes(view[:3])
del view
gc.collect()
print("survived")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=s3_server.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]


def test_readinto_fills_numpy_arrays_and_memoryview_slices(
    client: s3torch.S3Client, bucket: str
) -> None:
    values = np.arange(1000, dtype=np.float32)
    put(client, bucket, "floats", values.tobytes())
    target = np.zeros(1000, dtype=np.float32)
    assert client.get_object_stream(bucket, "floats").readinto(target) == 4000
    np.testing.assert_array_equal(target, values)

    window = bytearray(b"x" * 10)
    stream = client.get_object_stream(bucket, "floats", 0, 4)
    assert stream.readinto(memoryview(window)[3:9]) == 4
    assert window[:3] == b"xxx" and window[7:] == b"xxx"
    assert bytes(window[3:7]) == values.tobytes()[:4]


def test_readinto_rejects_read_only_and_non_buffers(client: s3torch.S3Client, bucket: str) -> None:
    put(client, bucket, "obj", b"abc")
    stream = client.get_object_stream(bucket, "obj")
    with pytest.raises(TypeError, match="writable"):
        stream.readinto(b"123")
    with pytest.raises(TypeError, match="bytes-like"):
        stream.readinto("not a buffer")  # type: ignore[arg-type]
    assert stream.read() == b"abc", "a rejected readinto consumes nothing"


def test_range_edges(client: s3torch.S3Client, bucket: str) -> None:
    data = os.urandom(PART + 10)
    size = len(data)
    put(client, bucket, "obj", data)

    def read(start: int | None, end: int | None) -> bytes:
        return client.get_object_stream(bucket, "obj", start, end).read()

    assert read(0, 1) == data[:1]
    assert read(size - 1, size) == data[-1:]
    assert read(0, size) == data
    assert read(PART - 1, PART + 1) == data[PART - 1 : PART + 1]
    assert read(7, None) == data[7:]
    assert read(None, 9) == data[:9]
    assert read(5, 5) == b""
    assert read(size - 3, size + 1000) == data[-3:], "a range past the end stops at the end"
    stream = client.get_object_stream(bucket, "obj", 100, 200)
    assert (stream.start, stream.end, stream.tell()) == (100, 200, 100)


# A range that starts past the end is an S3InvalidRangeError: see test_bad_input_refusals.py.
def test_range_with_end_before_start_is_a_value_error(
    client: s3torch.S3Client, bucket: str
) -> None:
    with pytest.raises(ValueError, match="before start"):
        client.get_object_stream(bucket, "obj", 10, 5)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_range_matches_slicing(
    client: s3torch.S3Client, ranged_object: tuple[str, str, bytes], data: st.DataObject
) -> None:
    bucket, key, content = ranged_object
    start = data.draw(st.integers(0, len(content) - 1), label="start")
    end = data.draw(st.integers(start, len(content) + 100), label="end")
    read_size = data.draw(st.integers(1, 3 * 1024 * 1024), label="read size")
    stream = client.get_object_stream(bucket, key, start, end)
    pieces = []
    while piece := stream.read(read_size):
        pieces.append(piece)
    assert b"".join(pieces) == content[start:end]


@pytest.fixture(scope="module")
def ranged_object(s3_server, module_client: s3torch.S3Client) -> Iterator[tuple[str, str, bytes]]:  # type: ignore[no-untyped-def]
    bucket = "ranges-" + os.urandom(6).hex()
    s3_server.create_bucket(bucket)
    content = os.urandom(2 * PART + 4321)
    put(module_client, bucket, "ranged", content)
    yield bucket, "ranged", content
    s3_server.delete_bucket(bucket)


def _wait_for_requests(rig: FaultRig, operation: str, count: int) -> None:
    """Wait (30 s at most) until the fault proxy has seen ``count`` requests of ``operation``."""
    deadline = time.monotonic() + 30
    while rig.proxy.requests().get(operation, 0) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_slow_first_part_of_unknown_size_lets_the_other_parts_go_out_first(
    rig: FaultRig,
) -> None:
    """The first part of an object of unknown size tells its size only once it has arrived
    whole; when it is slow, one HEAD learns the size and the other parts are sent meanwhile."""
    content = os.urandom(3 * PART + 1000)
    put(rig.client, rig.bucket, "slow-first", content)
    rig.proxy.configure({}, stall_s=3600.0)
    rig.proxy.fail_next("stall", "GetObject", where="bytes=0-")
    stream = rig.via(part_size=PART).get_object_stream(rig.bucket, "slow-first")
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(stream.read()))
    reader.start()
    _wait_for_requests(rig, "GetObject", 4)
    while_held = rig.proxy.requests()
    rig.proxy.release_stalls()
    reader.join(60)
    assert while_held == {"GetObject": 4, "HeadObject": 1}, journal_tail(rig.proxy)
    assert read == [content]


def test_an_object_replaced_before_the_size_probe_fails_the_read(rig: FaultRig) -> None:
    """The HEAD sent for a slow first part plans the other parts by its own object: when the
    object was replaced between the first part and the HEAD, the first part's entity tag shows
    it, and the read fails instead of joining two objects."""
    before, after = os.urandom(3 * PART + 1000), os.urandom(3 * PART + 1000)
    put(rig.client, rig.bucket, "replaced", before)
    rig.proxy.configure({}, stall_s=3600.0)
    rig.proxy.fail_next("hold_answer", "GetObject", where="bytes=0-")
    rig.proxy.fail_next("hold", "HeadObject")
    stream = rig.via(part_size=PART).get_object_stream(rig.bucket, "replaced")
    outcome: list[BaseException | bytes] = []

    def read() -> None:
        try:
            outcome.append(stream.read())
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    _wait_for_requests(rig, "HeadObject", 1)  # the first part was sent (held), the HEAD waits
    put(rig.client, rig.bucket, "replaced", after)
    rig.proxy.release_holds()
    _wait_for_requests(rig, "GetObject", 4)  # planned by the HEAD: they read the new object
    rig.proxy.release_stalls()
    reader.join(60)
    assert rig.proxy.requests() == {"GetObject": 4, "HeadObject": 1}, journal_tail(rig.proxy)
    assert len(outcome) == 1 and isinstance(outcome[0], s3torch.S3PreconditionFailedError)
    # Before any byte is handed out: the first part is checked against the HEAD, not only the
    # second part against the first.
    assert "changed while it was read" in str(outcome[0]) and "at offset 0)" in str(outcome[0])


def test_close_stops_the_stream(client: s3torch.S3Client, bucket: str) -> None:
    put(client, bucket, "obj", os.urandom(3 * PART))
    stream = client.get_object_stream(bucket, "obj")
    assert len(stream.read(10)) == 10
    stream.close()
    # A closed stream refuses reads rather than look like the end of the object.
    with pytest.raises(ValueError, match="closed"):
        stream.read()
    with pytest.raises(ValueError, match="closed"):
        list(stream)


def test_streams_are_independent_and_start_at_once(client: s3torch.S3Client, bucket: str) -> None:
    blobs = {f"k{i}": os.urandom(1000 + i) for i in range(32)}
    for key, blob in blobs.items():
        put(client, bucket, key, blob)
    streams = {key: client.get_object_stream(bucket, key) for key in blobs}
    # Read them back in reverse order: each stream was already in flight.
    for key in reversed(list(blobs)):
        assert streams[key].read() == blobs[key]


def test_reading_everything_past_the_held_limit_is_exact(
    client: s3torch.S3Client, bucket: str
) -> None:
    # More than the 64 MiB of CRT buffers one read() holds: the rest is moved to owned memory.
    data = os.urandom(70 * 1024 * 1024 + 11)
    put(client, bucket, "big", data)
    assert client.get_object_stream(bucket, "big").read() == data
    stream = client.get_object_stream(bucket, "big")
    assert stream.read(1) == data[:1]
    assert stream.read(10**12) == data[1:], "a huge size reads to the end without allocating it"


# -- a body longer than one part: one request per part, several in flight -------------------------


def native_client(s3_server: ServerInfo, read_window: int) -> _core.S3Client:
    """A native client for the test server with 5 MiB parts and the read window given."""
    return _core.S3Client(
        ClientSettings(
            s3_server.region,
            endpoint=s3_server.endpoint,
            force_path_style=True,
            access_key_id=s3_server.access_key,
            secret_access_key=s3_server.secret_key,
            part_size=PART,
            read_window=read_window,
        )
    )


@pytest.mark.parametrize("read_window", [1024 * 1024, 3 * PART, 64 * 1024 * 1024])
@pytest.mark.parametrize(
    ("size_hint_delta", "start", "end"),
    [
        (None, None, None),  # whole object, size unknown: the first part tells the size
        (0, None, None),  # the size from a listing
        (-PART - 1, None, None),  # a hint too small: the first response tells the real size
        (2 * PART, None, None),  # a hint too large: the parts past the end are not read
        (None, 3, None),  # up to the end, from an offset
        (None, PART - 1, 3 * PART + 2),  # a range across several parts
        (0, 7, 4 * PART + 99),  # a range up to the exact end, with a hint
        (None, 11, 10 * PART),  # a range past the end
    ],
)
def test_a_body_of_several_parts_is_exact_in_every_shape(
    s3_server: ServerInfo,
    client: s3torch.S3Client,
    bucket: str,
    read_window: int,
    size_hint_delta: int | None,
    start: int | None,
    end: int | None,
) -> None:
    data = os.urandom(4 * PART + 99)
    put(client, bucket, "parts", data)
    native = native_client(s3_server, read_window)
    hint = None if size_hint_delta is None else len(data) + size_hint_delta
    want = data[start or 0 : end]

    def stream() -> _core.GetObjectStream:
        return native.get_object(bucket, "parts", start, end, size_hint=hint)

    assert stream().read() == want
    pieces, reader = [], stream()
    while piece := reader.read(PART // 3):
        pieces.append(piece)
    assert b"".join(pieces) == want
    assert reader.tell() == (start or 0) + len(want)
    assert b"".join(bytes(chunk) for chunk in stream()) == want
    buffer = bytearray(len(want) + 10)
    assert stream().readinto(buffer) == len(want)
    assert buffer[: len(want)] == want


def test_a_body_of_unknown_length_within_one_part_is_one_request(
    client: s3torch.S3Client, bucket: str
) -> None:
    """The first request asks for a whole part: an object that fits needs no second one."""
    data = os.urandom(3 * 1024 * 1024 + 5)  # under the client's 8 MiB part
    put(client, bucket, "medium", data)
    before = client.metrics().get("requests.GetObject", 0)
    assert client.get_object_stream(bucket, "medium").read() == data
    assert client.metrics().get("requests.GetObject", 0) - before == 1


def test_an_object_replaced_between_parts_fails_rather_than_mixing_bytes(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str
) -> None:
    """With a 1 MiB window the part at 11 MiB is only asked for after the overwrite."""
    old, new = os.urandom(4 * PART), os.urandom(4 * PART)
    put(client, bucket, "replaced", old)
    stream = native_client(s3_server, 1024 * 1024).get_object(bucket, "replaced")
    assert stream.read(1024 * 1024) == old[: 1024 * 1024]
    put(client, bucket, "replaced", new)
    with pytest.raises(s3torch.S3PreconditionFailedError, match="changed while it was read"):
        stream.read()


def test_an_empty_object_and_a_closed_stream_keep_their_behaviour(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str
) -> None:
    put(client, bucket, "empty", b"")
    native = native_client(s3_server, 1024 * 1024)
    assert native.get_object(bucket, "empty").read() == b""
    put(client, bucket, "parts", os.urandom(3 * PART))
    stream = native.get_object(bucket, "parts")
    stream.read(10)
    stream.close()
    with pytest.raises(ValueError, match="closed"):
        stream.read()


def test_an_object_shortened_between_parts_fails_rather_than_ending_early(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str
) -> None:
    """The first response told 20 MiB; the part at 11 MiB now starts past the end."""
    put(client, bucket, "shortened", os.urandom(4 * PART))
    stream = native_client(s3_server, 1024 * 1024).get_object(bucket, "shortened")
    stream.read(1024 * 1024)
    put(client, bucket, "shortened", os.urandom(PART))
    with pytest.raises(s3torch.S3PreconditionFailedError, match="changed while it was read"):
        stream.read()
