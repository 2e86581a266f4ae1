"""The asyncio methods of S3Client (rust/src/aio.rs, python/s3torch/_aio.py): round trips,
typed errors, thousands of concurrent awaits, cancellation, several loops, fork."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest

import s3torch
from s3torch import _aio
from support.server import put

MIB = 1024 * 1024


def pending(loop: asyncio.AbstractEventLoop | None = None) -> int:
    """Requests of this loop still held by the native side."""
    completions = _aio._by_loop.get(loop or asyncio.get_running_loop())
    return 0 if completions is None else completions.native.pending


async def settle() -> None:
    """Let done-callbacks (which cancel native requests) run."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_put_get_head_delete_round_trip(client: s3torch.S3Client, bucket: str) -> None:
    data = random.Random(1).randbytes(300_000)

    async def main() -> None:
        await client.put_object_async(bucket, "a/one.bin", data)
        assert await client.get_object_async(bucket, "a/one.bin") == data
        assert await client.get_object_async(bucket, "a/one.bin", start=10, end=20) == data[10:20]
        assert await client.get_object_async(bucket, "a/one.bin", start=299_990) == data[-10:]
        assert await client.get_object_async(bucket, "a/one.bin", start=5, end=5) == b""
        head = await client.head_object_async(bucket, "a/one.bin")
        assert head.size == len(data)
        assert head == client.head_object(bucket, "a/one.bin")
        await client.delete_object_async(bucket, "a/one.bin")
        with pytest.raises(s3torch.S3NoSuchKeyError):
            await client.head_object_async(bucket, "a/one.bin")
        assert pending() == 0

    asyncio.run(main())


def test_bytes_like_inputs_and_an_empty_object(client: s3torch.S3Client, bucket: str) -> None:
    async def main() -> None:
        await client.put_object_async(bucket, "ba", bytearray(b"xyz"))
        await client.put_object_async(bucket, "mv", memoryview(b"0123456789")[2:5])
        await client.put_object_async(bucket, "empty", b"")
        assert await client.get_object_async(bucket, "ba") == b"xyz"
        assert await client.get_object_async(bucket, "mv") == b"234"
        assert await client.get_object_async(bucket, "empty") == b""

    asyncio.run(main())


def test_a_multipart_object_round_trips_and_is_read_back_by_the_sync_reader(
    client: s3torch.S3Client, bucket: str
) -> None:
    data = random.Random(2).randbytes(2 * client._native.part_size + 12345)

    async def main() -> bytes:
        await client.put_object_async(bucket, "big", data)
        body: bytes = await client.get_object_async(bucket, "big")
        return body

    before = client.metrics().get("requests.UploadPart", 0)
    assert asyncio.run(main()) == data
    assert client.metrics().get("requests.UploadPart", 0) - before == 3
    assert client.get_object(bucket, "big").read() == data


def test_a_failed_put_leaves_the_previous_object(client: s3torch.S3Client, bucket: str) -> None:
    put(client, bucket, "kept", b"old")

    class Flaky:
        """Not a bytes-like object."""

    uploads_before = client.metrics().get("requests.CreateMultipartUpload", 0)

    async def main() -> None:
        with pytest.raises(TypeError):
            await client.put_object_async(bucket, "kept", Flaky())
        # A multipart upload cancelled mid-way is aborted, never completed.
        upload = asyncio.create_task(
            client.put_object_async(bucket, "kept", bytes(3 * client._native.part_size))
        )
        while client.metrics().get("requests.CreateMultipartUpload", 0) == uploads_before:
            await asyncio.sleep(0.001)
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
        await settle()
        assert pending() == 0

    asyncio.run(main())
    assert client.get_object(bucket, "kept").read() == b"old"


def test_listing_pages_match_the_sync_listing(client: s3torch.S3Client, bucket: str) -> None:
    async def main() -> list[Any]:
        await asyncio.gather(
            *(client.put_object_async(bucket, f"p/{i:03}", b"x") for i in range(25)),
            client.put_object_async(bucket, "p/sub/deep", b"y"),
        )
        return [page async for page in client.list_objects_async(bucket, "p/", "/", max_keys=10)]

    pages = asyncio.run(main())
    expected = list(client.list_objects(bucket, "p/", "/", max_keys=10))
    assert len(pages) == len(expected) >= 3
    assert [type(page) for page in pages] == [type(page) for page in expected]
    assert [[o.key for o in page.object_info] for page in pages] == [
        [o.key for o in page.object_info] for page in expected
    ]
    assert [page.common_prefixes for page in pages] == [page.common_prefixes for page in expected]


def test_listing_after_a_key_matches_the_sync_listing(
    client: s3torch.S3Client, bucket: str
) -> None:
    async def main() -> list[str]:
        await asyncio.gather(*(client.put_object_async(bucket, f"a/{i:02}", b"") for i in range(9)))
        listing = client.list_objects_async(bucket, "a/", max_keys=2, start_after="a/03")
        return [o.key for page in [page async for page in listing] for o in page.object_info]

    keys = asyncio.run(main())
    expected = [
        o.key
        for page in client.list_objects(bucket, "a/", max_keys=2, start_after="a/03")
        for o in page.object_info
    ]
    assert keys == expected == [f"a/{i:02}" for i in range(4, 9)]
    with pytest.raises(ValueError, match="start_after"):
        client.list_objects_async(bucket, start_after="bad\x00key")


def test_breaking_out_of_a_listing_cancels_the_next_page(
    client: s3torch.S3Client, bucket: str
) -> None:
    async def main() -> None:
        await asyncio.gather(*(client.put_object_async(bucket, f"k{i}", b"") for i in range(5)))
        pages = client.list_objects_async(bucket, max_keys=1)
        async for page in pages:
            assert [o.key for o in page.object_info] == ["k0"]
            break
        await pages.aclose()  # type: ignore[attr-defined]
        await settle()
        assert pending() == 0

    asyncio.run(main())


def test_errors_are_typed_and_name_the_object(client: s3torch.S3Client, bucket: str) -> None:
    async def main() -> None:
        with pytest.raises(s3torch.S3NoSuchKeyError) as missing:
            await client.get_object_async(bucket, "missing")
        assert isinstance(missing.value, FileNotFoundError)
        assert "missing" in str(missing.value)
        with pytest.raises(s3torch.S3NoSuchBucketError):
            await client.get_object_async("no-such-bucket-s3torch", "k")
        with pytest.raises(s3torch.S3NoSuchBucketError):
            async for _ in client.list_objects_async("no-such-bucket-s3torch"):
                pass
        with pytest.raises(s3torch.S3NoSuchKeyError):
            await client.head_object_async(bucket, "missing")
        await client.delete_object_async(bucket, "missing")  # as in S3: no error

    asyncio.run(main())


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.get_object_async("", "k"), ValueError),
        (lambda c: c.get_object_async("bkt", ""), ValueError),
        (lambda c: c.get_object_async(1, "k"), TypeError),
        (lambda c: c.get_object_async("bkt", "k", start=5, end=4), ValueError),
        (lambda c: c.get_object_async("bkt", "k", start=-1), ValueError),
        (lambda c: c.put_object_async("bkt", "", b""), ValueError),
        (lambda c: c.head_object_async("bkt", ""), ValueError),
        (lambda c: c.delete_object_async("", "k"), ValueError),
    ],
)
def test_bad_arguments_raise_as_in_the_sync_methods(
    client: s3torch.S3Client, call: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        asyncio.run(call(client))


def test_a_bad_listing_argument_raises_at_once(client: s3torch.S3Client) -> None:
    with pytest.raises(ValueError, match="max_keys"):
        client.list_objects_async("bkt", max_keys=0)
    with pytest.raises(TypeError):
        client.list_objects_async("bkt", prefix=3)  # type: ignore[arg-type]


def test_two_thousand_concurrent_gets_return_their_own_objects(
    client: s3torch.S3Client, bucket: str
) -> None:
    count = 2000

    def body(i: int) -> bytes:
        return i.to_bytes(4, "big") * (256 + i % 64)

    async def main() -> None:
        limit = asyncio.Semaphore(64)

        async def upload(i: int) -> None:
            async with limit:
                await client.put_object_async(bucket, f"many/{i}", body(i))

        await asyncio.gather(*(upload(i) for i in range(count)))
        bodies = await asyncio.gather(
            *(client.get_object_async(bucket, f"many/{i}") for i in range(count))
        )
        assert [b == body(i) for i, b in enumerate(bodies)] == [True] * count
        assert pending() == 0

    asyncio.run(main())


def test_cancelling_under_load_leaves_the_rest_and_the_client_working(
    client: s3torch.S3Client, bucket: str
) -> None:
    count = 600
    data = random.Random(3).randbytes(100_000)

    async def main() -> None:
        await client.put_object_async(bucket, "shared", data)
        tasks = [
            asyncio.create_task(client.get_object_async(bucket, "shared")) for _ in range(count)
        ]
        await asyncio.sleep(0)  # every request is on the wire
        cancelled = set(random.Random(4).sample(range(count), count // 3))
        for i in cancelled:
            tasks[i].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for i, result in enumerate(results):
            if i in cancelled:
                assert isinstance(result, asyncio.CancelledError | bytes), result
            else:
                assert result == data
        assert sum(isinstance(r, asyncio.CancelledError) for r in results) > 0
        await settle()
        assert pending() == 0
        assert await client.get_object_async(bucket, "shared") == data

    asyncio.run(main())


def test_a_cancelled_large_get_stops_transferring(make_client: Any, bucket: str) -> None:
    client = make_client(part_size=8 * MIB)
    size = 256 * MIB
    stream = client.put_object_stream(bucket, "large")
    chunk = os.urandom(MIB)
    for _ in range(size // MIB):
        stream.write(chunk)
    stream.close()

    async def main() -> None:
        read_before = client.metrics()["bytes_read"]
        task = asyncio.create_task(client.get_object_async(bucket, "large"))
        while client.metrics()["bytes_read"] == read_before:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        at_cancel = client.metrics()["bytes_read"] - read_before
        await settle()
        assert pending() == 0
        # The client goes on working, and nothing more of the large object arrives.
        await client.head_object_async(bucket, "large")
        await asyncio.sleep(0.5)
        read = client.metrics()["bytes_read"] - read_before
        assert read == at_cancel
        assert read < size // 2

    asyncio.run(main())


def test_one_loop_after_another_and_two_clients_on_one_loop(
    client: s3torch.S3Client, make_client: Any, bucket: str
) -> None:
    other = make_client()

    async def round_trip(c: s3torch.S3Client, key: str) -> bytes:
        await c.put_object_async(bucket, key, key.encode())
        body: bytes = await c.get_object_async(bucket, key)
        return body

    assert asyncio.run(round_trip(client, "first")) == b"first"
    assert asyncio.run(round_trip(client, "second")) == b"second"

    async def both() -> list[bytes]:
        return await asyncio.gather(round_trip(client, "one"), round_trip(other, "two"))

    assert asyncio.run(both()) == [b"one", b"two"]
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(round_trip(other, "three")) == b"three"
    finally:
        loop.close()


def test_a_stalled_request_times_out_like_a_blocking_one(
    s3_server: Any, bucket: str, proxy: Any
) -> None:
    from support.faults import config_for

    client = s3torch.S3Client(
        s3_server.region,
        endpoint=proxy.endpoint,
        s3client_config=config_for(s3_server, stall_timeout_s=0.3, max_attempts=1),
    )
    client.put_object_stream(bucket, "slow").close()
    proxy.configure({}, stall_s=30.0)
    proxy.fail_next("stall", "HeadObject")

    async def main() -> None:
        with pytest.raises(s3torch.S3TimeoutError, match="stall_timeout_s"):
            await client.head_object_async(bucket, "slow")
        assert pending() == 0

    try:
        asyncio.run(main())
    finally:
        proxy.release_stalls()
    assert client.metrics()["timeouts"] >= 1


def _exit_with(code: int) -> None:
    os._exit(code)


def test_after_fork_the_parents_loop_refuses_and_a_new_one_works(
    client: s3torch.S3Client, bucket: str
) -> None:
    put(client, bucket, "forked", b"data")

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client.get_object_async(bucket, "forked")) == b"data"
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                loop.run_until_complete(client.get_object_async(bucket, "forked"))
            except ValueError as error:
                # The parent's loop refuses clearly; a loop of this process works.
                if "another process" in str(error):
                    body = asyncio.run(client.get_object_async(bucket, "forked"))
                    code = 0 if body == b"data" else 2
            except BaseException:
                code = 3
            _exit_with(code)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        # The parent's loop is unaffected.
        assert loop.run_until_complete(client.get_object_async(bucket, "forked")) == b"data"
    finally:
        loop.close()
