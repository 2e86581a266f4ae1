"""What each client does for each workload.

Every implementation is a ``prepare(ctx)`` function that does the untimed set-up (imports,
building clients and the data to write) and returns the timed part: a function with no
arguments returning what it did, ``{"items": ..., "bytes": ...}`` plus any extra figures.

The clients are used the way their users would use them:

- ``s3torch`` and ``s3torchconnector``: the same public API (s3torch is a drop-in), default
  settings except path-style addressing, which a custom endpoint needs;
- ``boto3``: a plain loop of ``get_object`` / ``put_object`` (``upload_fileobj`` for a
  checkpoint), default settings;
- ``awscrt``: aws-crt-python's S3 client with many requests in flight and bodies dropped (or,
  where a workload needs them, kept in memory): the reference for what this machine can do.

Where s3torch lacks an API a workload needs, ``prepare`` raises :class:`Unavailable` and the
cell is reported as not implemented.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .spec import BUCKET_WRITE, Scale

Timed = Callable[[], dict[str, Any]]


class Unavailable(Exception):
    """The client cannot run this workload (an API it needs does not exist yet)."""


@dataclass
class Context:
    """Everything a worker knows about its run (built from the JSON the runner sends)."""

    workload: str
    client: str
    endpoint: str  # where the client connects: the server, or the delay proxy in front of it
    server_endpoint: str  # the server itself, for untimed checks
    region: str
    access_key: str
    secret_key: str
    manifest: dict[str, Any]
    scale: Scale
    run: int
    # Sequential loops of slow clients stop here (perf_counter time); see out_of_time().
    deadline: float | None = None

    def out_of_time(self) -> bool:
        """Whether a capped run should stop (its rate is then items done / time taken)."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Context:
        return cls(
            workload=spec["workload"],
            client=spec["client"],
            endpoint=spec["endpoint"],
            server_endpoint=spec["server_endpoint"],
            region=spec["region"],
            access_key=spec["access_key"],
            secret_key=spec["secret_key"],
            manifest=spec["manifest"],
            scale=Scale(**spec["scale"]),
            run=spec["run"],
        )

    def data(self, name: str) -> dict[str, Any]:
        if name not in self.manifest:
            raise RuntimeError(f"data set {name!r} was not generated")
        return dict(self.manifest[name])

    def uri(self, name: str) -> str:
        item = self.data(name)
        return f"s3://{item['bucket']}/{item.get('prefix', item.get('key'))}"

    def raw(self, endpoint: str | None = None) -> Any:
        from .crt import RawS3

        return RawS3(
            endpoint or self.endpoint,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
        )


# -- helpers shared by workloads ---------------------------------------------------------------


def _s3torch(*names: str) -> Any:
    """The s3torch module, if it has every public name listed; else :class:`Unavailable`."""
    import s3torch

    missing = [name for name in names if not hasattr(s3torch, name)]
    if missing:
        raise Unavailable(f"not implemented: s3torch.{', s3torch.'.join(missing)}")
    return s3torch


def _s3torch_config() -> Any:
    import s3torch

    return s3torch.S3ClientConfig(force_path_style=True)


def _s3torch_client(ctx: Context, *methods: str) -> Any:
    s3torch = _s3torch("S3Client")
    client = s3torch.S3Client(ctx.region, endpoint=ctx.endpoint, s3client_config=_s3torch_config())
    missing = [method for method in methods if not hasattr(client, method)]
    if missing:
        raise Unavailable(f"not implemented: s3torch.S3Client.{', '.join(missing)}")
    return client


def _connector_config() -> Any:
    from s3torchconnector import S3ClientConfig

    return S3ClientConfig(force_path_style=True)


def _drop_in(library: str, *names: str) -> Any:
    """The module of ``library``, s3torch or s3torchconnector: their public names mean the same
    (s3torch is a drop-in), so one implementation serves both. s3torch is checked to have
    ``names`` (see :func:`_s3torch`)."""
    if library == "s3torch":
        return _s3torch(*names)
    import s3torchconnector

    return s3torchconnector


def _connector_client(ctx: Context) -> Any:
    from s3torchconnector._s3client import S3Client

    return S3Client(ctx.region, endpoint=ctx.endpoint, s3client_config=_connector_config())


def _boto3_client(ctx: Context, checksums: bool = True) -> Any:
    import boto3
    from botocore.config import Config

    # boto3's default computes a CRC32 for every upload; "when_required" sends none.
    calculation = "when_supported" if checksums else "when_required"
    return boto3.client(
        "s3",
        endpoint_url=ctx.endpoint,
        region_name=ctx.region,
        aws_access_key_id=ctx.access_key,
        aws_secret_access_key=ctx.secret_key,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation=calculation),
    )


def _boto3_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            yield item["Key"]


def _read_all(reader: Any) -> bytes:
    return bytes(reader.read())


def _to_tensor(reader: Any) -> Any:
    """A DataLoader sample: the object's bytes as a uint8 tensor (as a decoder would give)."""
    import torch

    return torch.frombuffer(bytearray(reader.read()), dtype=torch.uint8)


def _touched_buffer(size: int) -> memoryview:
    """A preallocated buffer whose pages are already mapped (as a reused buffer's would be)."""
    return memoryview(bytearray(b"\x01") * size)


def _readinto_all(reader: Any, buffer: memoryview) -> int:
    filled = 0
    while filled < len(buffer):
        count = reader.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return filled


def _read_in_chunks(reader: Any, ctx: Context) -> int:
    """M1: read to the end in ``stream_read_size`` reads, or until a capped run's time is up.

    s3torch always reads to the end: the RSS target is its growth over the whole object."""
    total = 0
    while ctx.client == "s3torch" or not ctx.out_of_time():
        data = reader.read(ctx.scale.stream_read_size)
        if not data:
            break
        total += len(data)
    return total


def _sample_bytes(sample: Any) -> int:
    """Bytes in one sample, whatever shape a dataset gives it (bytes, a reader, a dict)."""
    if isinstance(sample, dict):
        return sum(_sample_bytes(value) for key, value in sample.items() if key != "__key__")
    if isinstance(sample, (tuple, list)):
        return sum(_sample_bytes(value) for value in sample)
    if isinstance(sample, (bytes, bytearray, memoryview)):
        return len(sample)
    if hasattr(sample, "read"):
        return len(sample.read())
    if hasattr(sample, "nbytes"):
        return int(sample.nbytes)
    return 0


def _tar_samples(fileobj: Any) -> tuple[int, int]:
    """(members, bytes) of a tar stream read front to back, as ``tarfile`` users do."""
    samples = total = 0
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            extracted = tar.extractfile(member)
            assert extracted is not None
            total += len(extracted.read())
            samples += 1
    return samples, total


class _ByteCount:
    """An awscrt ``on_body`` callback that counts the bytes it is handed, and keeps none."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, chunk: Any, offset: int, **_: Any) -> None:
        self.total += len(chunk)


def _iterate_dataset(dataset: Iterable[Any], ctx: Context) -> dict[str, Any]:
    count = total = 0
    for reader in dataset:
        total += len(reader.read())
        count += 1
        if ctx.out_of_time():
            break
    return {"items": count, "bytes": total}


# -- W1, W1n: iterate small objects ------------------------------------------------------------


def _iterable_dataset(library: str, data: str) -> Callable[[Context], Timed]:
    """s3torch's or s3torchconnector's ``S3IterableDataset``, as their users write it."""

    def prepare(ctx: Context) -> Timed:
        module = _drop_in(library, "S3IterableDataset")
        uri, config = ctx.uri(data), module.S3ClientConfig(force_path_style=True)

        def build() -> Any:
            return module.S3IterableDataset.from_prefix(
                uri, region=ctx.region, endpoint=ctx.endpoint, s3client_config=config
            )

        # Built once before the clock, as W8 does and as the peers build their clients: a
        # library that keeps one client per process (s3torch) does not build it in the run.
        build()

        def run() -> dict[str, Any]:
            return _iterate_dataset(build(), ctx)

        return run

    return prepare


def _iterable_boto3(data: str) -> Callable[[Context], Timed]:
    def prepare(ctx: Context) -> Timed:
        s3 = _boto3_client(ctx)
        item = ctx.data(data)

        def run() -> dict[str, Any]:
            count = total = 0
            for key in _boto3_keys(s3, item["bucket"], item["prefix"]):
                total += len(s3.get_object(Bucket=item["bucket"], Key=key)["Body"].read())
                count += 1
                if ctx.out_of_time():
                    break
            return {"items": count, "bytes": total}

        return run

    return prepare


def _iterable_awscrt(data: str, window: int = 256) -> Callable[[Context], Timed]:
    def prepare(ctx: Context) -> Timed:
        raw = ctx.raw()
        item = ctx.data(data)

        def run() -> dict[str, Any]:
            received = _ByteCount()

            # Fetch with many in flight while the next page is listed, as the datasets do;
            # capped like every loop over many objects.
            keys = raw.keys_listed_ahead(item["bucket"], item["prefix"])
            starts = ((lambda key=key: raw.get(item["bucket"], key, received)) for key in keys)
            try:
                count = raw.run_window(
                    itertools.takewhile(lambda _: not ctx.out_of_time(), starts), window
                )
            finally:
                keys.close()
            return {"items": count, "bytes": received.total}

        return run

    return prepare


# -- W2: map-style dataset, random batches through a DataLoader ---------------------------------


def _loader(dataset: Any, ctx: Context) -> Any:
    import torch
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_size=ctx.scale.batch_size,
        shuffle=True,
        num_workers=ctx.scale.loader_workers,
        generator=torch.Generator().manual_seed(ctx.run),
    )


def _drain_loader(loader: Any, ctx: Context) -> dict[str, Any]:
    count = total = 0
    for batch in loader:
        count += int(batch.shape[0])
        total += int(batch.numel())
        if ctx.out_of_time():
            break
    del loader  # stops the workers
    return {"items": count, "bytes": total}


def _map_dataset(library: str) -> Callable[[Context], Timed]:
    """s3torch's or s3torchconnector's ``S3MapDataset`` through a DataLoader."""

    def prepare(ctx: Context) -> Timed:
        module = _drop_in(library, "S3MapDataset")
        uri, config = ctx.uri("rtt"), module.S3ClientConfig(force_path_style=True)

        def run() -> dict[str, Any]:
            dataset = module.S3MapDataset.from_prefix(
                uri,
                region=ctx.region,
                endpoint=ctx.endpoint,
                transform=_to_tensor,
                s3client_config=config,
            )
            return _drain_loader(_loader(dataset, ctx), ctx)

        return run

    return prepare


class _PeerMapDataset:
    """A map-style dataset as a user of another library writes it: one GET per item, through a
    client made in each process (none of the peers' clients may cross a fork).

    Subclasses say how to make the client (:meth:`_connect`) and how to GET a key with it."""

    def __init__(self, ctx: Context, bucket: str, keys: list[str]) -> None:
        self.ctx, self.bucket, self.keys = ctx, bucket, keys
        self._client: Any = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> Any:
        import torch

        if self._pid != os.getpid():
            self._client, self._pid = self._connect(), os.getpid()
        body = self._get(self._client, self.keys[index])
        return torch.frombuffer(bytearray(body), dtype=torch.uint8)

    def _connect(self) -> Any:
        raise NotImplementedError

    def _get(self, client: Any, key: str) -> Any:
        raise NotImplementedError


class _Boto3MapDataset(_PeerMapDataset):
    """boto3: one client per process, ``get_object`` per item."""

    def _connect(self) -> Any:
        return _boto3_client(self.ctx)

    def _get(self, client: Any, key: str) -> Any:
        return client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


def _map_boto3(ctx: Context) -> Timed:
    s3 = _boto3_client(ctx)
    item = ctx.data("rtt")

    def run() -> dict[str, Any]:
        keys = list(_boto3_keys(s3, item["bucket"], item["prefix"]))
        loader = _loader(_Boto3MapDataset(ctx, item["bucket"], keys), ctx)
        return _drain_loader(loader, ctx)

    return run


def _map_awscrt(ctx: Context) -> Timed:
    raw = ctx.raw()
    item = ctx.data("rtt")

    def run() -> dict[str, Any]:
        received = _ByteCount()

        keys = [key for key, _ in raw.list_keys(item["bucket"], item["prefix"])]
        random.Random(ctx.run).shuffle(keys)
        size = ctx.scale.batch_size
        count = 0
        for start in range(0, len(keys), size):  # a batch's requests all in flight at once
            batch = keys[start : start + size]
            count += raw.run_window(
                ((lambda key=key: raw.get(item["bucket"], key, received)) for key in batch), size
            )
        return {"items": count, "bytes": received.total}

    return run


# -- W3, W3i, M1: one large object, sequentially ------------------------------------------------


def _large_read(data: str, how: str) -> dict[str, Callable[[Context], Timed]]:
    """Implementations reading the object ``data`` with ``read()``, ``readinto`` or chunks."""

    def consume(reader: Any, buffer: memoryview | None, ctx: Context) -> dict[str, Any]:
        # What was read goes back with the count, for finish() to checksum (untimed).
        if how == "read":
            body = reader.read()
            return {"items": 1, "bytes": len(body), "body": body}
        if how == "readinto":
            assert buffer is not None
            return {"items": 1, "bytes": _readinto_all(reader, buffer), "body": buffer}
        return {"items": 1, "bytes": _read_in_chunks(reader, ctx)}

    def buffer_for(ctx: Context) -> memoryview | None:
        return _touched_buffer(ctx.data(data)["size"]) if how == "readinto" else None

    def through_reader(make_client: Callable[[Context], Any]) -> Callable[[Context], Timed]:
        """For the clients whose ``get_object`` returns a file object (s3torch, the connector)."""

        def prepare(ctx: Context) -> Timed:
            client = make_client(ctx)
            item, buffer = ctx.data(data), buffer_for(ctx)

            def run() -> dict[str, Any]:
                reader = client.get_object(item["bucket"], item["key"])
                return consume(reader, buffer, ctx)

            return run

        return prepare

    def boto3_prepare(ctx: Context) -> Timed:
        s3 = _boto3_client(ctx)
        item, buffer = ctx.data(data), buffer_for(ctx)

        def run() -> dict[str, Any]:
            body = s3.get_object(Bucket=item["bucket"], Key=item["key"])["Body"]
            if how == "read":
                data = body.read()
                return {"items": 1, "bytes": len(data), "body": data}
            if how == "readinto":  # StreamingBody has no readinto: copy chunk by chunk
                assert buffer is not None
                filled = 0
                for chunk in body.iter_chunks(1024 * 1024):
                    buffer[filled : filled + len(chunk)] = chunk
                    filled += len(chunk)
                return {"items": 1, "bytes": filled, "body": buffer}
            return {"items": 1, "bytes": _read_in_chunks(body, ctx)}

        return run

    def awscrt_prepare(ctx: Context) -> Timed:
        raw = ctx.raw()
        item = ctx.data(data)

        def run() -> dict[str, Any]:
            received = _ByteCount()

            raw.get(item["bucket"], item["key"], received).finished_future.result()
            return {"items": 1, "bytes": received.total}

        return run

    return {
        "s3torch": through_reader(lambda ctx: _s3torch_client(ctx, "get_object")),
        "s3torchconnector": through_reader(_connector_client),
        "boto3": boto3_prepare,
        "awscrt": awscrt_prepare,
    }


# -- W4: torch.save through the writer ----------------------------------------------------------


def _checkpoint_key(ctx: Context) -> str:
    return f"checkpoints/{ctx.client}.pt"


def _written_size(ctx: Context, key: str) -> int:
    """Size of an object just written, asked of the server itself (untimed)."""
    return int(ctx.raw(ctx.server_endpoint).head_size(BUCKET_WRITE, key))


def _state_dict(ctx: Context) -> Any:
    from .datagen import make_state_dict

    return make_state_dict(ctx.scale.checkpoint_bytes, ctx.scale.checkpoint_tensors)


def checksums_off(ctx: Context) -> bool:
    """W4n: the same save with every client sending no upload checksum (like for like)."""
    return ctx.workload == "W4n"


def _checkpoint_of(library: str, ctx: Context, **settings: Any) -> Any:
    """An ``S3Checkpoint`` of s3torch or s3torchconnector for the server, path-style."""
    module = _drop_in(library, "S3Checkpoint")
    config = module.S3ClientConfig(force_path_style=True, **settings)
    return module.S3Checkpoint(region=ctx.region, endpoint=ctx.endpoint, s3client_config=config)


def _save_through_checkpoint(library: str) -> Callable[[Context], Timed]:
    """W4 through s3torch's or s3torchconnector's ``S3Checkpoint.writer``. W4n turns s3torch's
    upload checksums off (the connector has no such setting: it saves as in W4 again)."""

    def prepare(ctx: Context) -> Timed:
        import torch

        off = library == "s3torch" and checksums_off(ctx)
        checkpoint = _checkpoint_of(library, ctx, **({"upload_checksum": None} if off else {}))
        state, key = _state_dict(ctx), _checkpoint_key(ctx)

        def run() -> dict[str, Any]:
            with checkpoint.writer(f"s3://{BUCKET_WRITE}/{key}") as writer:
                torch.save(state, writer)
            return {"items": 1}

        return run

    return prepare


def _save_boto3(ctx: Context) -> Timed:
    import torch

    s3 = _boto3_client(ctx, checksums=not checksums_off(ctx))
    state, key = _state_dict(ctx), _checkpoint_key(ctx)

    def run() -> dict[str, Any]:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        s3.upload_fileobj(buffer, BUCKET_WRITE, key)  # boto3's multipart, threaded upload
        return {"items": 1}

    return run


def _save_awscrt(ctx: Context) -> Timed:
    import torch

    raw = ctx.raw()
    state, key = _state_dict(ctx), _checkpoint_key(ctx)

    def run() -> dict[str, Any]:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        size = buffer.tell()
        buffer.seek(0)
        raw.put(BUCKET_WRITE, key, buffer, size).finished_future.result()
        return {"items": 1}

    return run


# -- W5: torch.load ---------------------------------------------------------------------------


def _load(source: Any) -> int:
    """Load a checkpoint made by :func:`datagen.make_state_dict`; check it; count its tensors."""
    import torch

    return _check_state(torch.load(source, map_location="cpu", weights_only=True))


def _check_state(state: dict[str, Any]) -> int:
    """Check a loaded :func:`datagen.make_state_dict`; return how many tensors it has."""
    for index, (name, tensor) in enumerate(state.items()):
        # Tensor i holds arange(n) + i: its ends say whether the right bytes landed in order.
        if name != f"layers.{index}.weight" or (
            float(tensor[0]) != index or float(tensor[-1]) != tensor.numel() - 1 + index
        ):
            raise RuntimeError(f"tensor {name} does not hold what was saved")
    return len(state)


def _timed_load(checkpoint: Any, ctx: Context) -> Timed:
    """W5 through an ``S3Checkpoint``-like ``checkpoint``: ``reader(uri)``, then torch.load."""
    uri, size = ctx.uri("checkpoint"), ctx.data("checkpoint")["size"]

    def run() -> dict[str, Any]:
        with checkpoint.reader(uri) as reader:
            return {"items": _load(reader), "bytes": size}

    return run


def _load_through_checkpoint(library: str) -> Callable[[Context], Timed]:
    """W5 through s3torch's or s3torchconnector's ``S3Checkpoint``."""

    def prepare(ctx: Context) -> Timed:
        return _timed_load(_checkpoint_of(library, ctx), ctx)

    return prepare


def _load_boto3(ctx: Context) -> Timed:
    s3 = _boto3_client(ctx)
    item = ctx.data("checkpoint")

    def run() -> dict[str, Any]:
        body = s3.get_object(Bucket=item["bucket"], Key=item["key"])["Body"].read()
        return {"items": _load(io.BytesIO(body)), "bytes": len(body)}

    return run


def _load_awscrt(ctx: Context) -> Timed:
    raw = ctx.raw()
    item = ctx.data("checkpoint")

    def run() -> dict[str, Any]:
        parts: list[bytes] = []

        def on_body(chunk: Any, offset: int, **_: Any) -> None:
            parts.append(bytes(chunk))  # parts arrive in order

        raw.get(item["bucket"], item["key"], on_body).finished_future.result()
        body = b"".join(parts)
        del parts[:]
        return {"items": _load(io.BytesIO(body)), "bytes": len(body)}

    return run


# -- D1: torch.distributed.checkpoint load -----------------------------------------------------


def _dcp_template(ctx: Context) -> dict[str, Any]:
    """The state dict to load into: tensors of the saved shapes, not yet filled."""
    import torch

    numel = ctx.scale.checkpoint_bytes // ctx.scale.checkpoint_tensors // 4
    return {
        f"layers.{i}.weight": torch.empty(numel, dtype=torch.float32)
        for i in range(ctx.scale.checkpoint_tensors)
    }


def _dcp_load(ctx: Context, reader: Callable[[str], Any]) -> Timed:
    import torch.distributed.checkpoint as dcp

    # The DCP readers take no endpoint argument: the client finds it in the environment.
    os.environ["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL_S3"] = ctx.endpoint
    item = ctx.data("dcp")
    uri = f"s3://{item['bucket']}/{item['prefix'].rstrip('/')}"
    state = _dcp_template(ctx)

    def run() -> dict[str, Any]:
        dcp.load(state, storage_reader=reader(uri), no_dist=True)
        return {"items": _check_state(state), "bytes": item["size"]}

    return run


def _dcp_s3torch(ctx: Context) -> Timed:
    _s3torch("S3Client")
    from s3torch.dcp import S3StorageReader

    config = _s3torch_config()
    return _dcp_load(ctx, lambda uri: S3StorageReader(ctx.region, uri, s3client_config=config))


def _dcp_connector(ctx: Context) -> Timed:
    from s3torchconnector.dcp import S3StorageReader

    config = _connector_config()
    return _dcp_load(ctx, lambda uri: S3StorageReader(ctx.region, uri, s3client_config=config))


# -- W6: list keys ----------------------------------------------------------------------------


def _timed_listing(
    pages: Iterable[list[Any]], ctx: Context, one_page_s: float | None = None
) -> dict[str, Any]:
    """Consume pages of keys; note when the first key arrived and how many pages there were.

    ``one_page_s``: how long one ListObjectsV2 request took just before, for a lister that
    keeps several pages in flight (its mean time per page is then shorter than a request's
    latency, so it cannot be the yardstick for the first key).

    Stops at the time cap like the other one-at-a-time loops: pages come one after another,
    and through ``--net s3`` a slow lister would take a minute for 100,000 keys.
    """
    started = time.perf_counter()
    first_key_s = None
    count = page_count = 0
    for page in pages:
        page_count += 1
        if page and first_key_s is None:
            first_key_s = time.perf_counter() - started
        count += len(page)
        if ctx.out_of_time():
            break
    elapsed = time.perf_counter() - started
    return {
        "items": count,
        "bytes": 0,
        "pages": page_count,
        "first_key_s": first_key_s,
        "page_s": elapsed / page_count if page_count else None,
        "one_page_s": one_page_s,
    }


def _list_s3torch(ctx: Context) -> Timed:
    """What a dataset's ``from_prefix`` does: the prefix listed as key ranges in parallel
    (:class:`PartitionedListing`), the keys taken in key order as they arrive."""
    from s3torch._datasets.listing import PartitionedListing

    client = _s3torch_client(ctx, "list_objects")
    item = ctx.data("keys")

    def run() -> dict[str, Any]:
        # The yardstick for the first key: one request for one page, outside the timed part.
        started = time.perf_counter()
        next(iter(client.list_objects(item["bucket"], item["prefix"])))
        one_page_s = time.perf_counter() - started
        # Flat keys: SeaweedFS's start-after follows S3's there (not across folders).
        listing = PartitionedListing(
            client.list_objects, item["bucket"], item["prefix"], concurrency=8
        )
        keys = (row.key for row in listing.rows())
        pages = iter(lambda: list(itertools.islice(keys, 1000)), [])
        return _timed_listing(pages, ctx, one_page_s)

    return run


def _list_connector(ctx: Context) -> Timed:
    client = _connector_client(ctx)
    item = ctx.data("keys")

    def run() -> dict[str, Any]:
        stream = client.list_objects(item["bucket"], item["prefix"])
        return _timed_listing(([info.key for info in page.object_info] for page in stream), ctx)

    return run


def _list_boto3(ctx: Context) -> Timed:
    s3 = _boto3_client(ctx)
    item = ctx.data("keys")

    def run() -> dict[str, Any]:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=item["bucket"], Prefix=item["prefix"]
        )
        return _timed_listing(
            ([entry["Key"] for entry in page.get("Contents", ())] for page in pages), ctx
        )

    return run


def _list_awscrt(ctx: Context) -> Timed:
    raw = ctx.raw()
    item = ctx.data("keys")

    def run() -> dict[str, Any]:
        return _timed_listing(raw.list_pages(item["bucket"], item["prefix"]), ctx)

    return run


# -- W7: many small writes, one after another --------------------------------------------------


def _small_writes(ctx: Context) -> tuple[list[str], list[bytes]]:
    from .datagen import object_bytes

    keys = [f"small/{ctx.client}/{i:06d}.bin" for i in range(ctx.scale.write_count)]
    bodies = [object_bytes(i, ctx.scale.write_size) for i in range(ctx.scale.write_count)]
    return keys, bodies


def _writes_done(keys: list[str], bodies: list[bytes]) -> dict[str, Any]:
    return {"items": len(keys), "bytes": sum(len(body) for body in bodies), "check_key": keys[-1]}


def _timed_writes(ctx: Context, put: Callable[[str, bytes], None]) -> Timed:
    """W7 through ``put(key, body)``: the small objects written one after another."""
    keys, bodies = _small_writes(ctx)

    def run() -> dict[str, Any]:
        count = 0
        for key, body in zip(keys, bodies):
            put(key, body)
            count += 1
            if ctx.out_of_time():
                break
        return _writes_done(keys[:count], bodies[:count])

    return run


def _write_s3torch(ctx: Context) -> Timed:
    return _write_through_writers(ctx, _s3torch_client(ctx, "put_object"))


def _write_connector(ctx: Context) -> Timed:
    return _write_through_writers(ctx, _connector_client(ctx))


def _write_through_writers(ctx: Context, client: Any) -> Timed:
    """Small objects written one after another through ``client.put_object``'s file object
    (the same API in s3torch and s3torchconnector)."""

    def put(key: str, body: bytes) -> None:
        with client.put_object(BUCKET_WRITE, key) as writer:
            writer.write(body)

    return _timed_writes(ctx, put)


def _write_boto3(ctx: Context) -> Timed:
    s3 = _boto3_client(ctx)

    def put(key: str, body: bytes) -> None:
        s3.put_object(Bucket=BUCKET_WRITE, Key=key, Body=body)

    return _timed_writes(ctx, put)


def _write_awscrt(ctx: Context) -> Timed:
    """One PUT after another, each with a CRC32C trailer: the same requests as s3torch's default
    writer sends, with nothing in between, so the ratio is s3torch's per-object overhead."""
    raw = ctx.raw()

    def put(key: str, body: bytes) -> None:
        raw.put(BUCKET_WRITE, key, body, len(body), crc32c=True).finished_future.result()

    return _timed_writes(ctx, put)


# -- W8: WebDataset tar shards ---------------------------------------------------------------


# ==== ADAPT HERE if s3torch's WebDataset-format tar dataset changes name or arguments. ==========
# This is the only place that knows them. It returns an iterable with one item per sample (a
# dict of member bytes by extension, as S3TarDataset yields, or anything _sample_bytes can size).
def _s3torch_tar_samples(ctx: Context, uri: str) -> Iterable[Any]:
    s3torch = _s3torch("S3TarDataset")
    return s3torch.S3TarDataset.from_prefix(  # type: ignore[no-any-return]
        uri, region=ctx.region, endpoint=ctx.endpoint, s3client_config=_s3torch_config()
    )


# ================================================================================================


def _tar_s3torch(ctx: Context) -> Timed:
    uri = ctx.uri("shards")
    _s3torch_tar_samples(ctx, uri)  # raises Unavailable before any timing if it is missing

    def run() -> dict[str, Any]:
        count = total = 0
        for sample in _s3torch_tar_samples(ctx, uri):
            total += _sample_bytes(sample)
            count += 1
        return {"items": count, "bytes": total}

    return run


def _tar_connector(ctx: Context) -> Timed:
    from s3torchconnector import S3IterableDataset

    uri, config = ctx.uri("shards"), _connector_config()

    def run() -> dict[str, Any]:
        dataset = S3IterableDataset.from_prefix(
            uri, region=ctx.region, endpoint=ctx.endpoint, s3client_config=config
        )
        count = total = 0
        for reader in dataset:
            samples, size = _tar_samples(reader)
            count, total = count + samples, total + size
        return {"items": count, "bytes": total}

    return run


def _tar_boto3(ctx: Context) -> Timed:
    s3 = _boto3_client(ctx)
    item = ctx.data("shards")

    def run() -> dict[str, Any]:
        count = total = 0
        for key in _boto3_keys(s3, item["bucket"], item["prefix"]):
            body = s3.get_object(Bucket=item["bucket"], Key=key)["Body"]
            samples, size = _tar_samples(body)
            count, total = count + samples, total + size
        return {"items": count, "bytes": total}

    return run


def _tar_awscrt(ctx: Context) -> Timed:
    raw = ctx.raw()
    item = ctx.data("shards")

    def run() -> dict[str, Any]:
        keys = [key for key, _ in raw.list_keys(item["bucket"], item["prefix"])]
        shards = {key: io.BytesIO() for key in keys}

        def receiver(key: str) -> Callable[..., None]:
            def on_body(chunk: Any, offset: int, **_: Any) -> None:
                shards[key].write(chunk)

            return on_body

        raw.run_window(
            ((lambda key=key: raw.get(item["bucket"], key, receiver(key))) for key in keys), 64
        )
        count = total = 0
        for key in keys:  # all shards fetched at once, then parsed in order
            shards[key].seek(0)
            samples, size = _tar_samples(shards[key])
            count, total = count + samples, total + size
        return {"items": count, "bytes": total}

    return run


# -- the table -------------------------------------------------------------------------------


def _same_for(
    s3torch: Callable[[Context], Timed],
    connector: Callable[[Context], Timed],
    boto3: Callable[[Context], Timed],
    awscrt: Callable[[Context], Timed],
) -> dict[str, Callable[[Context], Timed]]:
    return {"s3torch": s3torch, "s3torchconnector": connector, "boto3": boto3, "awscrt": awscrt}


_saves = _same_for(
    _save_through_checkpoint("s3torch"),
    _save_through_checkpoint("s3torchconnector"),
    _save_boto3,
    _save_awscrt,
)

IMPLEMENTATIONS: dict[str, dict[str, Callable[[Context], Timed]]] = {
    "W1": _same_for(
        _iterable_dataset("s3torch", "small"),
        _iterable_dataset("s3torchconnector", "small"),
        _iterable_boto3("small"),
        _iterable_awscrt("small"),
    ),
    "W1n": _same_for(
        _iterable_dataset("s3torch", "rtt"),
        _iterable_dataset("s3torchconnector", "rtt"),
        _iterable_boto3("rtt"),
        _iterable_awscrt("rtt"),
    ),
    "W2": _same_for(
        _map_dataset("s3torch"), _map_dataset("s3torchconnector"), _map_boto3, _map_awscrt
    ),
    "W3": _large_read("blob", "read"),
    "W3i": _large_read("blob", "readinto"),
    "W4": _saves,
    "W4n": _saves,
    "W5": _same_for(
        _load_through_checkpoint("s3torch"),
        _load_through_checkpoint("s3torchconnector"),
        _load_boto3,
        _load_awscrt,
    ),
    "D1": {"s3torch": _dcp_s3torch, "s3torchconnector": _dcp_connector},
    "W6": _same_for(_list_s3torch, _list_connector, _list_boto3, _list_awscrt),
    "W6n": _same_for(_list_s3torch, _list_connector, _list_boto3, _list_awscrt),
    "W7": _same_for(_write_s3torch, _write_connector, _write_boto3, _write_awscrt),
    "W8": _same_for(_tar_s3torch, _tar_connector, _tar_boto3, _tar_awscrt),
    "M1": _large_read("stream", "chunks"),
}


def expected_items(workload: str, ctx: Context) -> int:
    """How many items a correct run reports (checked by the worker)."""
    scale = ctx.scale
    return {
        "W1": scale.small_count,
        "W1n": scale.rtt_count,
        "W2": scale.rtt_count,
        "W3": 1,
        "W3i": 1,
        "W4": 1,
        "W4n": 1,
        "W5": scale.checkpoint_tensors,
        "D1": scale.checkpoint_tensors,
        "W6": scale.list_count,
        "W6n": scale.list_count,
        "W7": scale.write_count,
        "W8": scale.shard_count * scale.shard_members,
        "M1": 1,
    }[workload]


def implementations(workload: str) -> dict[str, Callable[[Context], Timed]]:
    """Every client's implementation of a workload: ours, the incumbent's, and the peers'."""
    from . import peers

    return {**IMPLEMENTATIONS[workload], **peers.IMPLEMENTATIONS.get(workload, {})}


def prepare(ctx: Context) -> Timed:
    found = implementations(ctx.workload).get(ctx.client)
    if found is None:
        raise Unavailable(f"{ctx.client} has no natural way to do {ctx.workload}")
    return found(ctx)


def finish(ctx: Context, measured: dict[str, Any]) -> dict[str, Any]:
    """Untimed checks after a run; fills in bytes written where only the server knows them."""
    if ctx.workload in ("W4", "W4n"):
        key = _checkpoint_key(ctx)
        measured["bytes"] = _written_size(ctx, key)
        ctx.raw(ctx.server_endpoint).delete(BUCKET_WRITE, key)  # a GiB less to keep
    if ctx.workload == "W7":
        _written_size(ctx, measured.pop("check_key"))
    expected = expected_items(ctx.workload, ctx)
    large = {"W3": "blob", "W3i": "blob", "M1": "stream"}
    size = ctx.data(large[ctx.workload])["size"] if ctx.workload in large else None
    # A capped run did fewer items, or (M1 only: a stream a peer stops) read fewer bytes. A
    # W3 or W3i read is one call that no cap stops: short, it fails below.
    streamed = ctx.workload == "M1"
    short = measured.get("items", 0) < expected or (
        streamed and measured.get("bytes", 0) < ctx.data("stream")["size"]
    )
    measured["capped"] = ctx.out_of_time() and short
    if measured["capped"]:
        if not measured.get("items") or (streamed and not measured.get("bytes")):
            raise RuntimeError("no item done before the time cap")
    elif measured.get("items") != expected:
        raise RuntimeError(f"expected {expected} items, got {measured.get('items')}")
    elif size is not None and measured["bytes"] != size:
        raise RuntimeError(f"read {measured['bytes']} bytes of {ctx.data(large[ctx.workload])}")
    body = measured.pop("body", None)
    if body is not None:
        from .datagen import is_pattern

        if not is_pattern(body):
            raise RuntimeError("the bytes read differ from the object's")
    return measured
