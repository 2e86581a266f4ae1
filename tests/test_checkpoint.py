"""Checkpoints (python/s3torch/s3checkpoint.py, _async_save.py): S3Checkpoint, save/load,
save_async; round trips of real state, and failed saves that must leave nothing behind."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import io
import os
import pickle
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
import pytest
import torch

import s3torch
from s3torch import S3ReaderConstructor
from s3torch._async_save import MAX_UNFINISHED_SAVES, save_async
from s3torch.s3checkpoint import S3Checkpoint, load, save

PART = 5 * 1024 * 1024


@pytest.fixture
def checkpoint(s3_server: Any) -> S3Checkpoint:
    return S3Checkpoint(
        region=s3_server.region,
        endpoint=s3_server.endpoint,
        s3client_config=s3torch.S3ClientConfig(
            access_key_id=s3_server.access_key,
            secret_access_key=s3_server.secret_key,
            session_token=s3_server.session_token,
            part_size=PART,
        ),
    )


def assert_same_tensor(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert type(actual) is type(expected)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.requires_grad == expected.requires_grad
    # Compare bits, so that NaNs, -0.0 and dtypes without `==` (float8) compare too.
    assert torch.equal(
        actual.detach().contiguous().reshape(-1).view(torch.uint8),
        expected.detach().contiguous().reshape(-1).view(torch.uint8),
    )


def assert_same_state(actual: Any, expected: Any) -> None:
    assert type(actual) is type(expected)
    if isinstance(expected, torch.Tensor):
        assert_same_tensor(actual, expected)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            assert_same_state(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same_state(a, e)
    elif isinstance(expected, np.ndarray):
        assert np.array_equal(actual, expected)
    else:
        assert actual == expected


def object_bytes(boto3_client: Any, bucket: str, key: str) -> bytes:
    return bytes(boto3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def pending_uploads(boto3_client: Any, bucket: str) -> list[Any]:
    return list(boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def trained_model_and_optimizer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.BatchNorm1d(32), torch.nn.ReLU(), torch.nn.Linear(32, 4)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(2):
        loss = model(torch.randn(8, 16)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


def all_dtypes() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    base = torch.randn(3, 5) * 10
    tensors = {
        str(dtype): base.to(dtype)
        for dtype in (
            torch.float16,
            torch.bfloat16,
            torch.float32,
            torch.float64,
            torch.int8,
            torch.uint8,
            torch.int16,
            torch.int32,
            torch.int64,
            torch.bool,
            torch.complex64,
            torch.complex128,
        )
    }
    for name in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"):
        dtype = getattr(torch, name, None)
        if dtype is not None:
            tensors[name] = base.abs().to(dtype)
    tensors["nan_and_negative_zero"] = torch.tensor([float("nan"), -0.0, float("inf")])
    tensors["scalar"] = torch.tensor(3.5)
    tensors["empty"] = torch.empty(0, 7)
    tensors["non_contiguous"] = torch.arange(24.0).reshape(4, 6).t()
    return tensors


@dataclasses.dataclass
class RunInfo:
    name: str
    steps: int


class FailsOnSecondPickle:
    """Copies fine into save_async's snapshot, then fails in the background save."""

    pickled = 0

    def __reduce__(self) -> Any:
        type(self).pickled += 1
        if type(self).pickled > 1:
            raise RuntimeError("failed in the background")
        return (FailsOnSecondPickle, ())


class WaitsForGate:
    """Copies at once into save_async's snapshot; the background save waits for the gate."""

    pickled = 0
    gate = threading.Event()

    def __reduce__(self) -> Any:
        type(self).pickled += 1
        if type(self).pickled > 1:
            type(self).gate.wait(60)
        return (WaitsForGate, ())


# -- S3Checkpoint ----------------------------------------------------------------------------------


def test_checkpoint_writer_and_reader_round_trip_model_and_optimizer_state(
    checkpoint: S3Checkpoint, bucket: str
) -> None:
    model, optimizer = trained_model_and_optimizer()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}
    uri = f"s3://{bucket}/run/epoch-3.pt"
    with checkpoint.writer(uri) as writer:
        torch.save(state, writer)
    assert writer.closed and not writer.aborted

    with checkpoint.reader(uri) as reader:
        loaded = torch.load(reader)
    assert_same_state(loaded, state)

    restored, restored_optimizer = trained_model_and_optimizer()
    restored.load_state_dict(loaded["model"])
    restored_optimizer.load_state_dict(loaded["optimizer"])
    assert restored_optimizer.state_dict()["state"][0]["step"] == 2
    batch = torch.randn(5, 16)
    model.eval(), restored.eval()
    assert torch.equal(model(batch), restored(batch))


def test_checkpoint_reader_accepts_every_reader_constructor(
    checkpoint: S3Checkpoint, bucket: str
) -> None:
    state = all_dtypes()
    uri = f"s3://{bucket}/dtypes.pt"
    with checkpoint.writer(uri) as writer:
        torch.save(state, writer)
    for constructor in (
        None,
        S3ReaderConstructor.sequential(),
        S3ReaderConstructor.range_based(),
        S3ReaderConstructor.range_based(buffer_size=0),
    ):
        with checkpoint.reader(uri, reader_constructor=constructor) as reader:
            assert_same_state(torch.load(reader), state)


def test_checkpoint_resolves_region_and_endpoint_from_the_environment(s3_env: Any) -> None:
    checkpoint = S3Checkpoint()
    assert checkpoint.region == s3_env.region
    assert checkpoint.endpoint == s3_env.endpoint
    assert checkpoint.client.endpoint == s3_env.endpoint
    copy = pickle.loads(pickle.dumps(checkpoint))
    assert (copy.region, copy.endpoint) == (checkpoint.region, checkpoint.endpoint)


def test_writer_aborted_by_an_exception_leaves_previous_checkpoint_and_no_upload(
    checkpoint: S3Checkpoint, bucket: str, boto3_client: Any
) -> None:
    uri = f"s3://{bucket}/ckpt.pt"
    with checkpoint.writer(uri) as writer:
        torch.save({"version": 1, "weights": torch.arange(1000)}, writer)
    before = object_bytes(boto3_client, bucket, "ckpt.pt")

    big = {"weights": torch.randn(4 * PART // 4)}  # 4 parts' worth of float32
    with pytest.raises(RuntimeError, match="crashed after writing"):
        with checkpoint.writer(uri) as writer:
            torch.save(big, writer)
            assert writer.tell() > 3 * PART
            # The parts are on their way: the multipart upload exists before the crash.
            deadline = time.monotonic() + 30
            while not pending_uploads(boto3_client, bucket) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pending_uploads(boto3_client, bucket)
            raise RuntimeError("crashed after writing")
    assert writer.aborted
    assert object_bytes(boto3_client, bucket, "ckpt.pt") == before
    assert pending_uploads(boto3_client, bucket) == []
    assert load(uri, client=checkpoint)["version"] == 1


# -- save / load -----------------------------------------------------------------------------------


def test_save_and_load_round_trip_a_model_of_over_100_mb(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    torch.manual_seed(2)
    model = torch.nn.Sequential(*(torch.nn.Linear(2048, 2048) for _ in range(6)))
    state = model.state_dict()
    size = sum(t.numel() * t.element_size() for t in state.values())
    assert size > 100 * 1000 * 1000

    uri = f"s3://{bucket}/big/model.pt"
    save(state, uri, client=client)
    head = boto3_client.head_object(Bucket=bucket, Key="big/model.pt")
    assert head["ContentLength"] > size
    assert head["ETag"].strip('"').endswith(f"-{-(-head['ContentLength'] // PART)}")  # multipart

    loaded = load(uri, client=client)
    assert list(loaded) == list(state)
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor), name


def test_saved_object_is_exactly_what_torch_save_writes_to_a_file(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    model, optimizer = trained_model_and_optimizer()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    local = io.BytesIO()
    torch.save(state, local)
    save(state, f"s3://{bucket}/exact.pt", client=client)
    assert object_bytes(boto3_client, bucket, "exact.pt") == local.getvalue()


def test_save_and_load_round_trip_tensors_of_many_dtypes_and_shared_storage(
    client: s3torch.S3Client, bucket: str
) -> None:
    state: dict[str, Any] = all_dtypes()
    weight = torch.randn(6, 4)
    state["weight"] = weight
    state["weight_row"] = weight[2]  # a view: torch.save keeps them sharing one storage
    uri = f"s3://{bucket}/dtypes.pt"
    save(state, uri, client=client)
    loaded = load(uri, client=client)
    assert_same_state(loaded, state)
    assert loaded["weight_row"].untyped_storage().data_ptr() == (
        loaded["weight"].untyped_storage().data_ptr()
    )


def test_save_and_load_round_trip_non_tensor_objects(client: s3torch.S3Client, bucket: str) -> None:
    state = {
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "text": "h\u00e9llo",
        "numbers": [1, 2.5, 10**30, True, None],
        "nested": {"tuple": (1, ("x", b"bytes")), "set": {1, 2}},
        "array": np.arange(12, dtype=np.int32).reshape(3, 4),
        "info": RunInfo("run-7", 1200),
    }
    uri = f"s3://{bucket}/objects.pt"
    save(state, uri, client=client)
    # PyTorch only unpickles arbitrary classes when told to trust the checkpoint.
    with pytest.raises(pickle.UnpicklingError):
        load(uri, client=client)
    assert_same_state(load(uri, client=client, weights_only=False), state)


def test_load_passes_map_location_and_torch_load_options(
    client: s3torch.S3Client, bucket: str
) -> None:
    uri = f"s3://{bucket}/x.pt"
    save({"x": torch.ones(3)}, uri, client=client, pickle_protocol=4)
    seen: list[str] = []

    def to_cpu(storage: Any, location: str) -> Any:
        seen.append(location)
        return storage

    assert torch.equal(load(uri, to_cpu, client=client, weights_only=False)["x"], torch.ones(3))
    assert seen == ["cpu"]
    # The weights-only unpickler refuses pickle protocol 4: proof that weights_only reached it.
    with pytest.raises(pickle.UnpicklingError, match="Unsupported operand"):
        load(uri, map_location="cpu", client=client, weights_only=True)


def test_save_that_fails_mid_way_keeps_previous_checkpoint_and_leaves_no_upload(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    uri = f"s3://{bucket}/run/latest.pt"
    save({"step": 100, "weights": torch.arange(10_000)}, uri, client=client)
    before = object_bytes(boto3_client, bucket, "run/latest.pt")

    written: list[int] = []

    class FailsWhenPickled:
        def __reduce__(self) -> Any:
            written.append(0)
            raise RuntimeError("cannot pickle this")

    # The legacy format with protocol 4 streams the pickle as it goes: 3.5 parts of bytes
    # reach S3 before the object that cannot be pickled.
    doomed = {
        "blobs": [bytes([i]) * (PART // 2) for i in range(7)],
        "bad": FailsWhenPickled(),
    }
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        save(doomed, uri, client=client, _use_new_zipfile_serialization=False, pickle_protocol=4)
    assert written == [0]
    assert object_bytes(boto3_client, bucket, "run/latest.pt") == before
    assert pending_uploads(boto3_client, bucket) == []


def test_load_of_a_missing_checkpoint_raises_file_not_found(
    client: s3torch.S3Client, bucket: str
) -> None:
    with pytest.raises(s3torch.S3NoSuchKeyError) as raised:
        load(f"s3://{bucket}/nothing-here.pt", client=client)
    assert isinstance(raised.value, FileNotFoundError)
    assert "nothing-here.pt" in str(raised.value)


def test_save_and_load_without_a_client_use_the_aws_environment(s3_env: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/env.pt"
    save({"a": torch.arange(5)}, uri)
    assert torch.equal(load(uri)["a"], torch.arange(5))
    checkpoint = S3Checkpoint()
    assert torch.equal(load(uri, client=checkpoint)["a"], torch.arange(5))
    assert torch.equal(load(uri, client=checkpoint.client)["a"], torch.arange(5))


def test_shared_clients_follow_changes_to_the_environment(
    s3_env: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from s3torch._client import shared_client as _shared_client

    first = _shared_client(None, None, None)
    assert _shared_client(None, None, None) is first
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    assert _shared_client(None, None, None) is not first
    with pytest.raises(s3torch.S3Exception):
        save({"a": 1}, f"s3://{bucket}/denied.pt")


@pytest.mark.parametrize(
    ("uri", "error", "match"),
    [
        ("my-bucket/model.pt", ValueError, r"'my-bucket/model\.pt'.*s3://"),
        ("file:///tmp/model.pt", ValueError, r"file:///tmp/model\.pt"),
        ("s3://my-bucket", ValueError, r"'s3://my-bucket'.*no key"),
        ("s3://my-bucket/", ValueError, r"'s3://my-bucket/'.*no key"),
        ("s3://BAD BUCKET/k", ValueError, "BAD BUCKET"),
        (b"s3://my-bucket/k", TypeError, "bytes"),
    ],
)
def test_bad_uris_are_rejected_before_any_request(
    client: s3torch.S3Client, checkpoint: S3Checkpoint, uri: Any, error: type, match: str
) -> None:
    for call in (
        lambda: save({}, uri, client=client),
        lambda: load(uri, client=client),
        lambda: save_async({}, uri, client=client),
        lambda: checkpoint.reader(uri),
        lambda: checkpoint.writer(uri),
    ):
        with pytest.raises(error, match=match):
            call()


def test_client_and_client_settings_are_exclusive(client: s3torch.S3Client) -> None:
    with pytest.raises(TypeError, match="either client= or region="):
        save({}, "s3://my-bucket/k", client=client, region="us-east-1")
    with pytest.raises(TypeError, match="either client= or region="):
        load("s3://my-bucket/k", client=client, endpoint="http://127.0.0.1:1")
    with pytest.raises(TypeError, match="S3Client or an S3Checkpoint, got str"):
        load("s3://my-bucket/k", client="us-east-1")  # type: ignore[arg-type]


# -- save_async ------------------------------------------------------------------------------------


def test_save_async_snapshots_state_before_returning(client: s3torch.S3Client, bucket: str) -> None:
    model, optimizer = trained_model_and_optimizer()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 2}
    expected = pickle.loads(pickle.dumps(state))  # an independent copy of the values now
    uri = f"s3://{bucket}/async/step-2.pt"

    future = save_async(state, uri, client=client)
    # Go on training at once, changing every tensor in place, and the containers too.
    for _ in range(3):
        loss = model(torch.randn(8, 16)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.add_(1)
    state["step"] = 5
    state["model"]["extra"] = torch.zeros(1)

    assert future.result(timeout=120) is None
    assert_same_state(load(uri, client=client), expected)


def test_save_async_keeps_shared_storage_parameters_and_object_identity(
    client: s3torch.S3Client, bucket: str
) -> None:
    embedding = torch.nn.Parameter(torch.randn(10, 4))
    tags = ["a", "b"]
    state = {
        "embedding": embedding,
        "tied": embedding,  # the same tensor twice
        "first_row": embedding.detach()[0],  # a view of the same storage
        "odd_columns": torch.arange(20.0).reshape(4, 5)[:, 1::2],  # strided, non-contiguous
        "tags": tags,
        "same_tags": tags,
        "dtypes": all_dtypes(),
    }
    uri = f"s3://{bucket}/async/shared.pt"
    save_async(state, uri, client=client).result(timeout=120)
    loaded = load(uri, client=client, weights_only=False)
    assert isinstance(loaded["embedding"], torch.nn.Parameter)
    assert loaded["embedding"].requires_grad
    assert loaded["tied"] is loaded["embedding"]
    assert loaded["first_row"].untyped_storage().data_ptr() == (
        loaded["embedding"].untyped_storage().data_ptr()
    )
    assert loaded["same_tags"] is loaded["tags"]
    assert_same_state(loaded["odd_columns"], state["odd_columns"])
    assert_same_state(loaded["dtypes"], state["dtypes"])
    assert_same_state(loaded["first_row"], state["first_row"])


def test_save_async_failure_surfaces_on_result_and_keeps_previous_checkpoint(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    uri = f"s3://{bucket}/async/latest.pt"
    save_async({"step": 1}, uri, client=client).result(timeout=120)
    before = object_bytes(boto3_client, bucket, "async/latest.pt")

    FailsOnSecondPickle.pickled = 0
    doomed = {"blobs": [bytes([i]) * (PART // 2) for i in range(7)], "bad": FailsOnSecondPickle()}
    future = save_async(
        doomed, uri, client=client, _use_new_zipfile_serialization=False, pickle_protocol=4
    )
    with pytest.raises(RuntimeError, match="failed in the background"):
        future.result(timeout=120)
    assert FailsOnSecondPickle.pickled == 2
    assert object_bytes(boto3_client, bucket, "async/latest.pt") == before
    assert pending_uploads(boto3_client, bucket) == []

    # An object that cannot be copied at all fails the future too, without uploading.
    unpicklable = save_async({"lock": threading.Lock()}, uri, client=client)
    with pytest.raises(TypeError, match="lock"):
        unpicklable.result(timeout=120)
    assert object_bytes(boto3_client, bucket, "async/latest.pt") == before


def test_save_async_runs_saves_in_order_and_bounds_unfinished_ones(
    client: s3torch.S3Client, bucket: str
) -> None:
    uri = f"s3://{bucket}/async/ordered.pt"
    futures: list[concurrent.futures.Future[None]] = []
    unfinished_when_returned: list[int] = []
    for step in range(6):
        futures.append(
            save_async({"step": step, "w": torch.full((1000,), step)}, uri, client=client)
        )
        unfinished_when_returned.append(sum(not f.done() for f in futures))
    for future in futures:
        assert future.result(timeout=120) is None
    assert max(unfinished_when_returned) <= MAX_UNFINISHED_SAVES
    loaded = load(uri, client=client)
    assert loaded["step"] == 5  # the last one asked for is the one left
    assert torch.equal(loaded["w"], torch.full((1000,), 5))


def test_save_async_cancelled_before_it_starts_writes_nothing(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    gate = WaitsForGate.gate = threading.Event()
    WaitsForGate.pickled = 0
    first = save_async({"x": WaitsForGate()}, f"s3://{bucket}/first.pt", client=client)
    second = save_async({"y": 1}, f"s3://{bucket}/second.pt", client=client)
    cancelled = second.cancel()
    gate.set()
    first.result(timeout=120)
    assert cancelled and second.cancelled()
    keys = [o["Key"] for o in boto3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["first.pt"]
    # The cancelled save gave its slot back: more saves go through.
    save_async({"z": 2}, f"s3://{bucket}/third.pt", client=client).result(timeout=120)
    assert load(f"s3://{bucket}/third.pt", client=client) == {"z": 2}


def test_snapshot_copies_record_the_device_the_originals_were_on() -> None:
    # On a machine with a GPU, a snapshot's CPU copy of a CUDA tensor must be saved as a CUDA
    # tensor, as torch.save would save the original. Drive that tagging by hand, on the CPU.
    from s3torch._async_save import _original_locations

    tensor = torch.arange(4.0)
    seen: list[str] = []

    def record(storage: Any, location: str) -> Any:
        seen.append(location)
        return storage

    buffer = io.BytesIO()
    with _original_locations({tensor.untyped_storage()._cdata: "cuda:3"}):
        torch.save(tensor, buffer)
    torch.save(tensor, after := io.BytesIO())
    assert torch.equal(torch.load(io.BytesIO(buffer.getvalue()), map_location=record), tensor)
    torch.load(io.BytesIO(after.getvalue()), map_location=record)
    assert seen == ["cuda:3", "cpu"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_save_async_copies_gpu_tensors_to_cpu_before_returning(
    client: s3torch.S3Client, bucket: str
) -> None:
    weight = torch.randn(256, 256, device="cuda")
    expected = weight.cpu()
    uri = f"s3://{bucket}/async/gpu.pt"
    future = save_async({"weight": weight}, uri, client=client)
    weight.mul_(0)
    future.result(timeout=120)
    loaded = load(uri, client=client)
    assert loaded["weight"].device.type == "cuda"
    assert torch.equal(loaded["weight"].cpu(), expected)


def test_save_async_pending_at_exit_is_finished_before_the_interpreter_exits(
    s3_env: Any, bucket: str, boto3_client: Any
) -> None:
    uri = f"s3://{bucket}/at-exit.pt"
    program = (
        "import torch\n"
        "from s3torch._async_save import save_async\n"
        f"save_async({{'w': torch.arange(3_000_000)}}, {uri!r})\n"
        "print('returned', flush=True)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == "returned\n"
    assert boto3_client.head_object(Bucket=bucket, Key="at-exit.pt")["ContentLength"] > 24_000_000
    assert torch.equal(load(uri)["w"], torch.arange(3_000_000))
