"""Train a small image classifier from WebDataset-format tar shards on S3, decoded with PIL.

The script draws a labelled image set: 32x32 pictures of four shapes (circle, square, triangle,
cross) in random colours, sizes and places. It writes them to S3 as tar shards in WebDataset
layout (``<key>.jpg`` and ``<key>.cls`` per sample), each shard streamed straight into an
``S3Writer`` by ``tarfile``, with nothing on local disk. Then it trains a tiny CNN for a few
hundred steps reading the training shards through ``S3TarDataset``: shards shuffled each epoch
and split over two DataLoader workers, samples mixed through a shuffle buffer, JPEGs decoded by
PIL in the workers. Finally it measures the accuracy on held-out shards and checks that it is
far above chance (25%).

    python examples/image_classification.py            # 384 steps
    python examples/image_classification.py --quick    # 96 steps, for the tests

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import io
import math
import random
import tarfile
import time
from typing import Any

import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader

import _common
import s3torch

SHAPES = ("circle", "square", "triangle", "cross")
SIDE = 32  # pixels


def draw(label: int, rng: random.Random) -> Image.Image:
    """One picture of shape ``SHAPES[label]``: random colours, size, place and turn."""
    dark = tuple(rng.randrange(0, 90) for _ in range(3))
    light = tuple(rng.randrange(150, 256) for _ in range(3))
    background, colour = (dark, light) if rng.random() < 0.5 else (light, dark)
    image = Image.new("RGB", (SIDE, SIDE), background)
    pen = ImageDraw.Draw(image)
    r = rng.uniform(6, 12)  # the shape's "radius"
    cx, cy = rng.uniform(r + 1, SIDE - r - 1), rng.uniform(r + 1, SIDE - r - 1)
    shape = SHAPES[label]
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "square":
        s = r * 0.85
        pen.rectangle((cx - s, cy - s, cx + s, cy + s), fill=colour)
    elif shape == "triangle":
        turn = rng.uniform(0, 2 * math.pi)
        corners = [(turn + k * 2 * math.pi / 3) for k in range(3)]
        pen.polygon([(cx + r * math.cos(a), cy + r * math.sin(a)) for a in corners], fill=colour)
    else:
        w = r / 3
        pen.rectangle((cx - r, cy - w, cx + r, cy + w), fill=colour)
        pen.rectangle((cx - w, cy - r, cx + w, cy + r), fill=colour)
    return image


def write_shards(
    client: s3torch.S3Client, place: _common.S3Place, split: str, shards: int, per_shard: int
) -> None:
    """Write ``shards`` tar shards of ``per_shard`` samples under ``<place>/<split>/``."""
    rng = random.Random(split)  # a different, reproducible image set per split
    for shard in range(shards):
        key = place.key(f"{split}/shard-{shard:04d}.tar")
        # tarfile's stream mode ("w|") only ever writes: the S3Writer uploads parts as they
        # fill, and the object appears when the writer closes (after the tar's end blocks).
        with client.put_object(place.bucket, key) as writer:
            with tarfile.open(fileobj=writer, mode="w|") as tar:
                for i in range(per_shard):
                    label = rng.randrange(len(SHAPES))
                    jpeg = io.BytesIO()
                    draw(label, rng).save(jpeg, format="JPEG", quality=90)
                    for extension, data in (("jpg", jpeg.getvalue()), ("cls", b"%d" % label)):
                        member = tarfile.TarInfo(f"{split}-{shard:04d}-{i:05d}.{extension}")
                        member.size = len(data)
                        tar.addfile(member, io.BytesIO(data))


def to_tensors(sample: dict[str, Any]) -> tuple[torch.Tensor, int]:
    """A decoded sample (``jpg``: a PIL image, ``cls``: an int) -> (3x32x32 tensor, label)."""
    image = sample["jpg"].convert("RGB")
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(SIDE, SIDE, 3).permute(2, 0, 1).float() / 255 - 0.5, sample["cls"]


def shards_of(uri: str, shuffle: bool) -> s3torch.S3TarDataset:
    return s3torch.S3TarDataset.from_prefix(
        uri,
        enable_sharding=True,  # each shard to one DataLoader worker (and one rank, if several)
        shuffle=shuffle,  # the shards in a new order each epoch
        shuffle_buffer=500 if shuffle else 0,  # and the samples mixed across shards
        decode=True,  # .jpg -> PIL image, .cls -> int
        transform=to_tensors,
        seed=0,
    )


def new_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1),  # "is the shape anywhere?": position does not matter
        torch.nn.Flatten(),
        torch.nn.Linear(32, len(SHAPES)),
    )


def main() -> None:
    args = _common.parse_args(__doc__)
    train_shards, per_shard, epochs = (4, 256, 3) if args.quick else (8, 512, 3)
    val_shards, val_per_shard = 2, 256
    torch.manual_seed(0)

    with _common.s3_place(args, "image-classification") as place:
        client = s3torch.S3Client()
        started = time.perf_counter()
        write_shards(client, place, "train", train_shards, per_shard)
        write_shards(client, place, "val", val_shards, val_per_shard)
        print(
            f"wrote {train_shards} training shards of {per_shard} images and {val_shards} "
            f"validation shards of {val_per_shard} to {place.uri()} "
            f"in {time.perf_counter() - started:.1f}s"
        )

        train = shards_of(place.uri("train/"), shuffle=True)
        val = shards_of(place.uri("val/"), shuffle=False)
        train_loader = DataLoader(train, batch_size=32, num_workers=2)
        val_loader = DataLoader(val, batch_size=128, num_workers=2)
        model = new_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

        step, seen, started = 0, 0, time.perf_counter()
        for epoch in range(epochs):
            train.set_epoch(epoch)
            for images, labels in train_loader:
                loss = torch.nn.functional.cross_entropy(model(images), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step, seen = step + 1, seen + len(labels)
                if step % 50 == 0:
                    print(f"epoch {epoch}  step {step:4d}  loss {loss.item():.3f}", flush=True)
        elapsed = time.perf_counter() - started
        print(
            f"trained {step} steps on {seen} images from S3 in {elapsed:.1f}s "
            f"({seen / elapsed:,.0f} images/s with 2 workers, decoding included)"
        )
        if seen != epochs * train_shards * per_shard:
            raise SystemExit(f"expected {epochs * train_shards * per_shard} images, saw {seen}")

        right = total = 0
        model.eval()
        with torch.no_grad():
            for images, labels in val_loader:
                right += int((model(images).argmax(dim=1) == labels).sum())
                total += len(labels)
        accuracy = right / total
        print(f"held-out accuracy: {accuracy:.1%} on {total} images (chance: 25%)")
        if total != val_shards * val_per_shard:
            raise SystemExit(f"expected {val_shards * val_per_shard} held-out images")
        if accuracy < 0.8:
            raise SystemExit("the model did not learn the shapes: accuracy below 80%")
        print("image classification: OK")


if __name__ == "__main__":
    main()
