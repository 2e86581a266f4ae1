"""s3torch quickstart (`make demo`): train from S3, checkpoint to S3, restore.

The script writes 4,096 samples (a 32-feature vector and a class label, one small object each,
saved with ``torch.save``, 32 uploads in flight) under a prefix, then trains a two-layer
classifier for one epoch reading them through ``S3IterableDataset``: sharded over two DataLoader
workers, shuffled, the next objects' GETs in flight while the current ones are decoded. It prints
the loss, the accuracy before and after, and the read rate. Then it checkpoints the model and
optimizer to S3 with ``s3torch.save`` (and once more in the background with
``s3torch.save_async``), restores them into a fresh model with ``s3torch.load``, and checks that
nothing changed.

    python examples/quickstart.py            # 4,096 samples (`make demo`)
    python examples/quickstart.py --quick    # 1,024 samples, for the tests

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils.data import DataLoader

import _common
import s3torch

FEATURES = 32
CLASSES = 4
BATCH = 64


def make_samples(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Four overlapping Gaussian clusters in 32 dimensions, one per class."""
    centres = torch.randn(CLASSES, FEATURES, generator=generator) * 0.4
    labels = torch.randint(CLASSES, (count,), generator=generator)
    features = centres[labels] + torch.randn(count, FEATURES, generator=generator)
    return features, labels


UPLOADS_IN_FLIGHT = 32


def upload(client: s3torch.S3Client, place: _common.S3Place, count: int) -> None:
    """One object per sample, written by torch.save straight into an S3Writer.

    Each small PUT mostly waits on the network, so a pool of threads keeps many in flight over
    the one client (its requests release the GIL while they wait).
    """
    features, labels = make_samples(count, torch.Generator().manual_seed(0))

    def put(i: int) -> None:
        with client.put_object(place.bucket, place.key(f"train/{i:05d}.pt")) as writer:
            torch.save({"x": features[i].clone(), "y": int(labels[i])}, writer)

    started = time.perf_counter()
    with ThreadPoolExecutor(UPLOADS_IN_FLIGHT) as pool:
        for _ in pool.map(put, range(count)):  # re-raises the first failed upload here
            pass
    elapsed = time.perf_counter() - started
    print(
        f"wrote {count} samples to {place.uri('train/')} in {elapsed:.1f}s "
        f"({count / elapsed:,.0f} objects/s, {UPLOADS_IN_FLIGHT} uploads in flight)"
    )


def decode(reader: s3torch.S3Reader) -> tuple[torch.Tensor, int]:
    """An object -> (features, label). The reader is a seekable binary file."""
    sample = torch.load(reader, weights_only=True)
    return sample["x"], sample["y"]


def accuracy(
    model: torch.nn.Module, loader: DataLoader[tuple[torch.Tensor, torch.Tensor]]
) -> float:
    right = total = 0
    with torch.no_grad():
        for x, y in loader:
            right += int((model(x).argmax(dim=1) == y).sum())
            total += len(y)
    return right / total


def new_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, CLASSES)
    )


def checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]],
    place: _common.S3Place,
    trained_accuracy: float,
) -> None:
    """Save the training state to S3, restore it into a fresh model, and check it."""
    uri = place.uri("checkpoints/epoch-1.pt")
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1}
    started = time.perf_counter()
    s3torch.save(state, uri)  # torch.save straight to S3; a failed save leaves no object
    print(f"saved a checkpoint to {uri} in {time.perf_counter() - started:.2f}s")

    # In the background: the state is snapshotted before save_async returns, so training could
    # go on changing the model while the upload runs.
    pending = s3torch.save_async(state, uri.replace("epoch-1", "epoch-1-async"))

    restored = new_model()
    loaded = s3torch.load(uri, weights_only=True)
    restored.load_state_dict(loaded["model"])
    restored_optimizer = torch.optim.SGD(restored.parameters(), lr=0.05, momentum=0.9)
    restored_optimizer.load_state_dict(loaded["optimizer"])
    for name, tensor in model.state_dict().items():
        if not torch.equal(tensor, restored.state_dict()[name]):
            raise SystemExit(f"restored weights differ in {name}")
    restored_accuracy = accuracy(restored, loader)
    print(
        f"restored it into a fresh model: epoch {loaded['epoch']}, "
        f"accuracy {restored_accuracy:.1%} (trained: {trained_accuracy:.1%})"
    )
    if restored_accuracy != trained_accuracy:
        raise SystemExit("the restored model does not behave like the trained one")
    pending.result()  # errors of a background save surface here
    print("the background save finished too")


def main() -> None:
    args = _common.parse_args(__doc__)
    samples = 1024 if args.quick else 4096
    torch.manual_seed(0)
    with _common.s3_place(args, "quickstart") as place:
        upload(s3torch.S3Client(), place, samples)

        dataset = s3torch.S3IterableDataset.from_prefix(
            place.uri("train/"),
            transform=decode,
            enable_sharding=True,  # each of the two workers reads half of the objects
            shuffle=True,
            seed=1,
        )
        dataset.set_epoch(0)  # also lists the objects here, once, for both workers
        loader = DataLoader(dataset, batch_size=BATCH, num_workers=2)
        model = new_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        before = accuracy(model, loader)
        started = time.perf_counter()
        seen = 0
        for step, (x, y) in enumerate(loader):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
            if step % 16 == 0:
                print(f"step {step:3d}  loss {loss.item():.3f}")
        elapsed = time.perf_counter() - started
        after = accuracy(model, loader)

        print(
            f"one epoch: {seen} samples from S3 in {elapsed:.1f}s "
            f"({seen / elapsed:,.0f} samples/s, 2 workers)"
        )
        print(f"accuracy: {before:.1%} before, {after:.1%} after one epoch")
        if seen != samples:
            raise SystemExit(f"expected {samples} samples in the epoch, got {seen}")
        if after < max(0.75, before + 0.2):
            raise SystemExit("the model did not learn: accuracy below 75%")

        checkpoint(model, optimizer, loader, place, after)
    print("quickstart: OK")


if __name__ == "__main__":
    main()
