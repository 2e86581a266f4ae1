"""Sharded checkpoints on S3 with torch.distributed.checkpoint (DCP) and s3torch.dcp.

Two ranks (CPU, gloo) train a small FSDP2-sharded model, save model and optimizer to S3 from
every rank at once, and check each of these loads against what was saved: everything back into
a fresh sharded model and optimizer; only the weights; and, in one process alone, the full
(unsharded) weights from both ranks' shards.

    python examples/checkpoint_dcp.py              # starts a local S3 server and torchrun
    python examples/checkpoint_dcp.py --quick      # a smaller model, for the tests
    torchrun --nproc-per-node=2 examples/checkpoint_dcp.py --bucket my-bucket

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. Started with ``python``
and no bucket named, it starts a local S3 server, then torchrun with two ranks on itself.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

import _common
import s3torch
from s3torch.dcp import HexPrefixStrategy, S3StorageReader, S3StorageWriter

STEPS = 3


def build_model(mesh: Any, width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(width, 4 * width), torch.nn.GELU(), torch.nn.Linear(4 * width, width)
    )
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def log(rank: int, message: str) -> None:
    print(f"[rank {rank}] {message}", flush=True)


def run(place: _common.S3Place, width: int) -> None:
    """What every rank does, once the process group is up."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh("cpu", (world_size,))
    model = build_model(mesh, width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(STEPS):
        model(torch.randn(32, width)).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    checkpoint = place.uri(f"step-{STEPS}")

    # 1. Save: each rank writes its own shards, under its own hex prefix; rank 0 adds .metadata.
    model_state, optim_state = get_state_dict(model, optimizer)
    started = time.perf_counter()
    writer = S3StorageWriter(region=None, path=checkpoint, prefix_strategy=HexPrefixStrategy())
    dcp.save({"model": model_state, "optim": optim_state}, storage_writer=writer)
    log(rank, f"saved model and optimizer shards in {time.perf_counter() - started:.2f}s")
    dist.barrier()
    if rank == 0:
        client = s3torch.S3Client()
        for page in client.list_objects(place.bucket, place.key(f"step-{STEPS}/")):
            for info in page.object_info:
                log(rank, f"  {info.key} ({info.size:,} bytes)")

    # 2. Load everything back into a fresh model and optimizer with the same sharding. The
    #    default reader fetches only the byte ranges this rank needs.
    fresh = build_model(mesh, width)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    fresh_model_state, fresh_optim_state = get_state_dict(fresh, fresh_optimizer)
    target = {"model": fresh_model_state, "optim": fresh_optim_state}
    started = time.perf_counter()
    dcp.load(target, storage_reader=S3StorageReader(region=None, path=checkpoint))
    set_state_dict(
        fresh, fresh_optimizer, model_state_dict=target["model"], optim_state_dict=target["optim"]
    )
    for name, value in model_state.items():
        if not torch.equal(fresh.state_dict()[name].to_local(), value.to_local()):
            raise SystemExit(f"rank {rank}: the loaded {name} differs from the saved one")
    saved_moments = optimizer.state_dict()["state"]
    loaded_moments = fresh_optimizer.state_dict()["state"]
    if not saved_moments or loaded_moments.keys() != saved_moments.keys():
        raise SystemExit(f"rank {rank}: the optimizer state did not come back")
    for index, moments in loaded_moments.items():
        for name, value in moments.items():
            expected = saved_moments[index][name]
            if isinstance(value, DTensor):
                value, expected = value.to_local(), expected.to_local()
            if not torch.equal(value, expected):
                raise SystemExit(f"rank {rank}: the loaded optimizer {name} differs")
    log(rank, f"loaded model and optimizer back in {time.perf_counter() - started:.2f}s: equal")

    # 3. A partial load: only the weights (the optimizer state in the files is not fetched).
    weights_only, _ = get_state_dict(build_model(mesh, width), [])
    dcp.load({"model": weights_only}, storage_reader=S3StorageReader(None, checkpoint))
    for name, value in model_state.items():
        if not torch.equal(weights_only[name].to_local(), value.to_local()):
            raise SystemExit(f"rank {rank}: the weights-only load of {name} differs")
    log(rank, "loaded the weights only: equal")
    full_weights = {k: v.full_tensor() for k, v in model_state.items()}  # collective
    dist.barrier()

    # 4. Resharding: rank 0 alone loads full, unsharded weights from both ranks' files.
    if rank == 0:
        plain = {k: torch.zeros(v.shape) for k, v in full_weights.items()}
        with warnings.catch_warnings():  # "assuming the intent is to load in a single process"
            warnings.filterwarnings("ignore", "torch.distributed is disabled")
            reader = S3StorageReader(None, checkpoint)
            dcp.load({"model": plain}, storage_reader=reader, no_dist=True)
        if not all(torch.equal(plain[k], full_weights[k]) for k in plain):
            raise SystemExit("the full weights loaded in one process differ")
        log(rank, f"one process loaded the full weights from {world_size} ranks' shards: equal")
    dist.barrier()


def main() -> None:
    args = _common.parse_args(__doc__)
    if not _common.under_torchrun():
        _common.run_under_torchrun(args, __file__)  # exits with torchrun's status
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    try:
        with _common.rank_place(args, "checkpoint-dcp") as place:
            run(place, 64 if args.quick else 256)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        print("distributed checkpoints: OK", flush=True)


if __name__ == "__main__":
    main()
