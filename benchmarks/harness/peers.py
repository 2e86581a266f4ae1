"""What the Rust-backed peers do for each workload: obstore, s3dlio, and WebDataset for W8.

Each is used the way its documentation shows its users, with default settings apart from what a
local plain-HTTP endpoint needs:

- ``obstore`` (Python bindings of the Rust ``object_store`` crate): one ``S3Store`` per bucket;
  the sync ``obstore.get``/``put``/``list`` for one object at a time, and for many small objects
  its async API with a bounded number of requests in flight (an ``asyncio.Semaphore`` around
  ``get_async``, as its users write it);
- ``s3dlio``: ``get``, ``get_many`` (many GETs in flight, native), ``get_into_async`` (into a
  caller's buffer), ``put_bytes``, ``list``, and its s3torchconnector compatibility layer
  (``s3dlio.compat.s3torchconnector``) for checkpoint loads. Its endpoint and
  credentials come from the environment (``AWS_ENDPOINT_URL``), process-wide;
- ``webdataset`` (the PyPI package): its tar iteration (``tarfile_samples`` minus the URL
  opener) over s3torch's own streams, the second W8 peer.

A workload a peer has no natural way to do is left out of :data:`IMPLEMENTATIONS` and shows as
"no such API" in the report. s3dlio is imported in the measured child, not in the zygote: its
import starts threads, which a fork would not carry over.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

from .spec import BUCKET_WRITE
from .stores import obstore_store
from .workloads import (
    Context,
    Timed,
    _checkpoint_key,
    _drain_loader,
    _load,
    _loader,
    _PeerMapDataset,
    _s3torch,
    _s3torch_config,
    _state_dict,
    _tar_samples,
    _timed_load,
    _timed_writes,
)

# Requests in flight for many small objects: obstore's examples use a semaphore of this order,
# and it is s3dlio's get_many default.
IN_FLIGHT = 64
# How many URIs one get_many call (or one obstore gather) gets: its results are all held until it
# returns.
GET_MANY_BATCH = 1024


def _in_batches(
    ctx: Context, names: list[str], fetch: Callable[[list[str]], tuple[int, int]]
) -> dict[str, Any]:
    """W1 by batches of GET_MANY_BATCH names: ``fetch(batch)`` gets them all and says how many
    objects and bytes it got. A capped run stops between batches, as the other clients' loops
    stop between objects."""
    count = total = 0
    for start in range(0, len(names), GET_MANY_BATCH):
        done, size = fetch(names[start : start + GET_MANY_BATCH])
        count, total = count + done, total + size
        if ctx.out_of_time():
            break
    return {"items": count, "bytes": total}


# -- obstore -----------------------------------------------------------------------------------


def _obstore_keys(store: Any, prefix: str) -> list[str]:
    import obstore

    return [meta["path"] for page in obstore.list(store, prefix=prefix) for meta in page]


def _obstore_iterable(data: str) -> Callable[[Context], Timed]:
    """List, then fetch every object with at most IN_FLIGHT ``get_async`` at a time."""

    def prepare(ctx: Context) -> Timed:
        import obstore

        item = ctx.data(data)
        store = obstore_store(ctx, item["bucket"])

        async def fetch_all(keys: list[str]) -> tuple[int, int]:
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def fetch(key: str) -> int:
                async with slots:
                    result = await obstore.get_async(store, key)
                    return len(await result.bytes_async())

            sizes = await asyncio.gather(*(fetch(key) for key in keys))
            return len(sizes), sum(sizes)

        def run() -> dict[str, Any]:
            keys = _obstore_keys(store, item["prefix"])
            return _in_batches(ctx, keys, lambda batch: asyncio.run(fetch_all(batch)))

        return run

    return prepare


class _ObstoreMapDataset(_PeerMapDataset):
    """obstore: a store per process (its runtime's threads do not survive a fork), ``get`` per
    item."""

    def _connect(self) -> Any:
        return obstore_store(self.ctx, self.bucket)

    def _get(self, client: Any, key: str) -> Any:
        import obstore

        return obstore.get(client, key).bytes()


# obstore's and s3dlio's runtimes do not survive a fork: once the parent has listed the keys
# through them, a forked DataLoader worker's first GET waits forever (measured: W2 timed out),
# and "spawn" workers spend the whole run importing torch. So their W2 takes the key list from
# the data set's manifest (as a job with a manifest file would), touches neither library in the
# parent, and each forked worker starts its own client.


def _manifest_keys(ctx: Context, data: str) -> list[str]:
    from .datagen import small_object_keys

    item = ctx.data(data)
    return small_object_keys(item["prefix"], item["count"])


def _manifest_map(dataset: type[_PeerMapDataset]) -> Callable[[Context], Timed]:
    """W2 through ``dataset`` over the keys of the manifest."""

    def prepare(ctx: Context) -> Timed:
        item = ctx.data("rtt")

        def run() -> dict[str, Any]:
            loader = _loader(dataset(ctx, item["bucket"], _manifest_keys(ctx, "rtt")), ctx)
            return _drain_loader(loader, ctx)

        return run

    return prepare


def _obstore_large(data: str, how: str) -> Callable[[Context], Timed]:
    def prepare(ctx: Context) -> Timed:
        import obstore

        item = ctx.data(data)
        store = obstore_store(ctx, item["bucket"])
        buffer = memoryview(bytearray(b"\x01") * item["size"]) if how == "readinto" else None

        def run() -> dict[str, Any]:
            result = obstore.get(store, item["key"])
            if how == "read":
                body = result.bytes()
                return {"items": 1, "bytes": len(body), "body": body}
            # No readinto in obstore: a stream of chunks, copied in (as for boto3).
            filled = 0
            chunk_size = ctx.scale.stream_read_size
            for chunk in result.stream(min_chunk_size=chunk_size):
                if buffer is not None:
                    buffer[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
                if buffer is None and ctx.out_of_time():  # M1, capped
                    break
            out: dict[str, Any] = {"items": 1, "bytes": filled}
            if buffer is not None:
                out["body"] = buffer
            return out

        return run

    return prepare


def _obstore_save(ctx: Context) -> Timed:
    import obstore
    import torch

    store = obstore_store(ctx, BUCKET_WRITE)
    state, key = _state_dict(ctx), _checkpoint_key(ctx)

    def run() -> dict[str, Any]:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        obstore.put(store, key, buffer.getbuffer())  # multipart above its chunk size
        return {"items": 1}

    return run


def _obstore_load(ctx: Context) -> Timed:
    import obstore

    item = ctx.data("checkpoint")
    store = obstore_store(ctx, item["bucket"])

    def run() -> dict[str, Any]:
        body = obstore.get(store, item["key"]).bytes()
        return {"items": _load(io.BytesIO(memoryview(body))), "bytes": len(body)}

    return run


def _obstore_list(ctx: Context) -> Timed:
    import obstore

    from .workloads import _timed_listing

    item = ctx.data("keys")
    store = obstore_store(ctx, item["bucket"])

    def run() -> dict[str, Any]:
        pages = obstore.list(store, prefix=item["prefix"])
        return _timed_listing(([meta["path"] for meta in page] for page in pages), ctx)

    return run


def _obstore_write(ctx: Context) -> Timed:
    import obstore

    store = obstore_store(ctx, BUCKET_WRITE)

    def put(key: str, body: bytes) -> None:
        obstore.put(store, key, body)

    return _timed_writes(ctx, put)


def _obstore_tar(ctx: Context) -> Timed:
    import obstore

    item = ctx.data("shards")
    store = obstore_store(ctx, item["bucket"])

    def run() -> dict[str, Any]:
        count = total = 0
        for key in _obstore_keys(store, item["prefix"]):
            body = obstore.get(store, key).bytes()
            samples, size = _tar_samples(io.BytesIO(memoryview(body)))
            count, total = count + samples, total + size
        return {"items": count, "bytes": total}

    return run


# -- s3dlio ------------------------------------------------------------------------------------


def _s3dlio(ctx: Context) -> Any:
    """s3dlio, pointed at this run's endpoint (it reads it from the environment, once)."""
    os.environ["AWS_ENDPOINT_URL"] = ctx.endpoint
    os.environ["AWS_REGION"] = ctx.region
    os.environ["AWS_ACCESS_KEY_ID"] = ctx.access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = ctx.secret_key
    import s3dlio

    return s3dlio


def _s3dlio_uris(s3dlio: Any, bucket: str, prefix: str) -> list[str]:
    return list(s3dlio.list(f"s3://{bucket}/{prefix}", recursive=True))


def _s3dlio_iterable(data: str) -> Callable[[Context], Timed]:
    """List, then ``get_many`` in batches (its default of 64 requests in flight)."""

    def prepare(ctx: Context) -> Timed:
        s3dlio = _s3dlio(ctx)
        item = ctx.data(data)

        def get_many(batch: list[str]) -> tuple[int, int]:
            sizes = [len(body) for _, body in s3dlio.get_many(batch)]
            return len(sizes), sum(sizes)

        def run() -> dict[str, Any]:
            uris = _s3dlio_uris(s3dlio, item["bucket"], item["prefix"])
            return _in_batches(ctx, uris, get_many)

        return run

    return prepare


class _S3dlioMapDataset(_PeerMapDataset):
    """s3dlio: ``s3dlio.get`` per item, imported in the worker (its import starts threads,
    which a fork would not carry over)."""

    def _connect(self) -> Any:
        return _s3dlio(self.ctx)

    def _get(self, client: Any, key: str) -> Any:
        return client.get(f"s3://{self.bucket}/{key}")


def _s3dlio_large(data: str, how: str) -> Callable[[Context], Timed]:
    def prepare(ctx: Context) -> Timed:
        s3dlio = _s3dlio(ctx)
        item = ctx.data(data)
        uri = f"s3://{item['bucket']}/{item['key']}"
        size = item["size"]
        buffer = memoryview(bytearray(b"\x01") * size) if how == "readinto" else None

        def run() -> dict[str, Any]:
            if how == "read":
                body = s3dlio.get(uri)
                return {"items": 1, "bytes": len(body), "body": body}
            if how == "readinto":
                assert buffer is not None
                filled = asyncio.run(_into(s3dlio, uri, buffer, size))
                return {"items": 1, "bytes": filled, "body": buffer}
            step, total = ctx.scale.stream_read_size, 0
            for offset in range(0, size, step):  # ranged GETs, one after another
                total += len(s3dlio.get_range(uri, offset, min(step, size - offset)))
                if ctx.out_of_time():  # M1, capped
                    break
            return {"items": 1, "bytes": total}

        return run

    return prepare


async def _into(s3dlio: Any, uri: str, buffer: memoryview, size: int) -> int:
    return int(await s3dlio.get_into_async(uri, buffer, expected_len=size))


def _s3dlio_save(ctx: Context) -> Timed:
    # Its compat S3Checkpoint.writer has no flush(), which torch.save calls (s3dlio 0.10.0:
    # AttributeError), so a user serializes into memory and hands it to put_bytes, as that
    # writer itself does on close.
    s3dlio = _s3dlio(ctx)
    import torch

    state, key = _state_dict(ctx), _checkpoint_key(ctx)

    def run() -> dict[str, Any]:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        s3dlio.put_bytes(f"s3://{BUCKET_WRITE}/{key}", buffer.getbuffer())
        return {"items": 1}

    return run


def _s3dlio_load(ctx: Context) -> Timed:
    _s3dlio(ctx)
    from s3dlio.compat.s3torchconnector import S3Checkpoint

    checkpoint = S3Checkpoint(region=ctx.region)
    return _timed_load(checkpoint, ctx)


def _s3dlio_list(ctx: Context) -> Timed:
    s3dlio = _s3dlio(ctx)
    from .workloads import _timed_listing

    item = ctx.data("keys")

    def run() -> dict[str, Any]:
        # One call returns the whole listing: it is one page as far as Python can see.
        return _timed_listing([_s3dlio_uris(s3dlio, item["bucket"], item["prefix"])], ctx)

    return run


def _s3dlio_write(ctx: Context) -> Timed:
    s3dlio = _s3dlio(ctx)

    def put(key: str, body: bytes) -> None:
        s3dlio.put_bytes(f"s3://{BUCKET_WRITE}/{key}", body)

    return _timed_writes(ctx, put)


def _s3dlio_tar(ctx: Context) -> Timed:
    s3dlio = _s3dlio(ctx)
    item = ctx.data("shards")

    def run() -> dict[str, Any]:
        uris = _s3dlio_uris(s3dlio, item["bucket"], item["prefix"])
        count = total = 0
        for _, body in s3dlio.get_many(uris):  # every shard in flight at once, then parsed
            samples, size = _tar_samples(io.BytesIO(memoryview(body)))
            count, total = count + samples, total + size
        return {"items": count, "bytes": total}

    return run


# -- webdataset over s3torch streams (W8) --------------------------------------------------------


def _webdataset_tar(ctx: Context) -> Timed:
    from webdataset.tariterators import group_by_keys, tar_file_expander

    s3torch = _s3torch("S3IterableDataset")
    uri, config = ctx.uri("shards"), _s3torch_config()

    def shards() -> Iterator[dict[str, Any]]:
        dataset = s3torch.S3IterableDataset.from_prefix(
            uri, region=ctx.region, endpoint=ctx.endpoint, s3client_config=config
        )
        for reader in dataset:  # webdataset's url_opener would open a URL; we give it a stream
            yield {"url": f"s3://{reader.bucket}/{reader.key}", "stream": reader}

    def run() -> dict[str, Any]:
        count = total = 0
        for sample in group_by_keys(tar_file_expander(shards())):
            total += sum(len(v) for k, v in sample.items() if not k.startswith("__"))
            count += 1
        return {"items": count, "bytes": total}

    return run


IMPLEMENTATIONS: dict[str, dict[str, Callable[[Context], Timed]]] = {
    "W1": {"obstore": _obstore_iterable("small"), "s3dlio": _s3dlio_iterable("small")},
    "W1n": {"obstore": _obstore_iterable("rtt"), "s3dlio": _s3dlio_iterable("rtt")},
    "W2": {
        "obstore": _manifest_map(_ObstoreMapDataset),
        "s3dlio": _manifest_map(_S3dlioMapDataset),
    },
    "W3": {"obstore": _obstore_large("blob", "read"), "s3dlio": _s3dlio_large("blob", "read")},
    "W3i": {
        "obstore": _obstore_large("blob", "readinto"),
        "s3dlio": _s3dlio_large("blob", "readinto"),
    },
    "W4": {"obstore": _obstore_save, "s3dlio": _s3dlio_save},
    "W4n": {"obstore": _obstore_save, "s3dlio": _s3dlio_save},  # obstore sends none by default
    "W5": {"obstore": _obstore_load, "s3dlio": _s3dlio_load},
    "W6": {"obstore": _obstore_list, "s3dlio": _s3dlio_list},
    "W6n": {"obstore": _obstore_list, "s3dlio": _s3dlio_list},
    "W7": {"obstore": _obstore_write, "s3dlio": _s3dlio_write},
    "W8": {"obstore": _obstore_tar, "s3dlio": _s3dlio_tar, "webdataset": _webdataset_tar},
    "M1": {
        "obstore": _obstore_large("stream", "chunks"),
        "s3dlio": _s3dlio_large("stream", "chunks"),
    },
}
