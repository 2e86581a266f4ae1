"""Data-parallel training (DDP, CPU, gloo) from an S3MapDataset with a DistributedSampler.

Two ranks train a small classifier for two epochs. Each rank reads its share of the samples
(one small object each) through a DataLoader with two workers; the sampler shuffles per epoch,
and ``S3MapDataset.__getitems__`` starts each batch's GETs together. At the end of each epoch
the ranks compare notes, and every rank checks that every sample was read exactly once across
the job, that the epochs came in different orders, that DDP kept the ranks' weights equal and
that the model learned.

    python examples/map_dataset_ddp.py              # starts a local S3 server and torchrun
    python examples/map_dataset_ddp.py --quick      # fewer samples, for the tests
    torchrun --nproc-per-node=2 examples/map_dataset_ddp.py --bucket my-bucket

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. Started with ``python``
and no bucket named, it starts a local S3 server, then torchrun with two ranks on itself.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

import _common
import s3torch

FEATURES = 16
EPOCHS = 2


def log(message: str) -> None:
    print(f"[rank {dist.get_rank()}] {message}", flush=True)


def upload(place: _common.S3Place, samples: int) -> None:
    """One object per sample: its index, 16 features and a label from a hidden linear rule."""
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(FEATURES, generator=generator)
    client = s3torch.S3Client()
    for i in range(samples):
        x = torch.randn(FEATURES, generator=generator)
        with client.put_object(place.bucket, place.key(f"{i:05d}.pt")) as writer:
            torch.save({"index": i, "x": x, "y": int(x @ weights > 0)}, writer)


def decode(reader: s3torch.S3Reader) -> tuple[int, torch.Tensor, int]:
    sample = torch.load(reader, weights_only=True)
    return sample["index"], sample["x"], sample["y"]


def gathered(value: Any) -> list[Any]:
    """``value`` from every rank, in rank order."""
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, value)
    return everyone


def train(place: _common.S3Place, samples: int) -> None:
    dataset = s3torch.S3MapDataset.from_prefix(place.uri(), transform=decode)
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)  # lists the objects, once
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=2)
    model = DistributedDataParallel(torch.nn.Linear(FEATURES, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    orders = []
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)  # a new order each epoch, the same on every rank
        seen: list[int] = []
        right = 0
        started = time.perf_counter()
        for indices, x, y in loader:
            output = model(x)
            loss = torch.nn.functional.cross_entropy(output, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += indices.tolist()
            right += int((output.argmax(dim=1) == y).sum())
        took, accuracy = time.perf_counter() - started, right / len(seen)
        log(f"epoch {epoch}: read {len(seen)} samples in {took:.1f}s, accuracy {accuracy:.1%}")
        everyone = gathered(seen)
        together = sorted(i for part in everyone for i in part)
        if together != list(range(samples)):
            raise SystemExit(f"epoch {epoch}: a sample was missed or read twice")
        if dist.get_rank() == 0:
            log(f"epoch {epoch}: the {len(everyone)} ranks read all {samples} samples once")
        orders.append(everyone)
    if orders[0] == orders[1]:
        raise SystemExit("both epochs read the samples in the same order")
    weights = gathered([p.detach() for p in model.parameters()])
    if not all(torch.equal(a, b) for a, b in zip(weights[0], weights[1])):
        raise SystemExit("the ranks' weights differ after training")
    accuracy = sum(gathered(right)) / samples
    if accuracy < 0.85:
        raise SystemExit(f"the model did not learn: last epoch's accuracy {accuracy:.1%}")
    if dist.get_rank() == 0:
        log(f"the ranks' weights are equal; last epoch's accuracy {accuracy:.1%}")


def main() -> None:
    args = _common.parse_args(__doc__)
    if not _common.under_torchrun():
        _common.run_under_torchrun(args, __file__)  # exits with torchrun's status
    samples = 256 if args.quick else 1024
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    try:
        with _common.rank_place(args, "map-dataset-ddp") as place:
            if rank == 0:
                upload(place, samples)
                log(f"wrote {samples} samples to {place.uri()}")
            dist.barrier()
            train(place, samples)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        print("map dataset with DistributedSampler: OK", flush=True)


if __name__ == "__main__":
    main()
