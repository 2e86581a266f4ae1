"""Samples from WebDataset-format tar shards streamed from S3, with no local disk.

The script writes 8 shards of 64 samples each (a small PNG image, its class, and a caption per
sample), plus one damaged shard. It then reads them with ``S3TarDataset``: shards shuffled and
split over two DataLoader workers, samples mixed through a shuffle buffer, fields decoded
(PNG -> PIL image -> tensor, class -> int), batched by the DataLoader, and checks every image
against its label. Finally it shows what a damaged shard does: an error naming the shard and
offset, or, with ``on_error="warn"``, a warning and the rest of the shard skipped. (Training a
model from tar shards: ``image_classification.py``.)

    python examples/tar_shards.py            # 8 shards
    python examples/tar_shards.py --quick    # 4 shards, for the tests

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import io
import tarfile
import warnings
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader

import _common
import s3torch

PER_SHARD = 64


def shard(index: int) -> bytes:
    """A tar shard in WebDataset layout: <key>.png, <key>.cls, <key>.txt per sample."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for i in range(PER_SHARD):
            label = (index * PER_SHARD + i) % 10
            image = io.BytesIO()
            Image.new("L", (8, 8), color=label * 25).save(image, format="PNG")
            key = f"shard{index:02d}/sample{i:03d}"
            for extension, data in (
                ("png", image.getvalue()),
                ("cls", str(label).encode()),
                ("txt", f"a gray square of level {label}".encode()),
            ):
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def to_training_pair(sample: dict[str, Any]) -> tuple[torch.Tensor, int]:
    """A decoded sample -> (image tensor, label)."""
    pixels = torch.frombuffer(bytearray(sample["png"].tobytes()), dtype=torch.uint8)
    return pixels.reshape(8, 8).float() / 255, sample["cls"]


def main() -> None:
    args = _common.parse_args(__doc__)
    shards = 4 if args.quick else 8
    with _common.s3_place(args, "tar-shards") as place:
        client = s3torch.S3Client()
        for i in range(shards):
            with client.put_object(place.bucket, place.key(f"train-{i:03d}.tar")) as writer:
                writer.write(shard(i))
        print(f"wrote {shards} shards of {PER_SHARD} samples to {place.uri()}")

        dataset = s3torch.S3TarDataset.from_prefix(
            place.uri(),
            enable_sharding=True,  # each shard to one of the two workers
            shuffle=True,  # shards in a new order each epoch
            shuffle_buffer=100,  # and samples mixed across shards
            decode=True,
            transform=to_training_pair,
        )
        loader = DataLoader(dataset, batch_size=32, num_workers=2)
        for epoch in range(2):
            dataset.set_epoch(epoch)
            count, labels = 0, torch.zeros(10, dtype=torch.long)
            for images, label in loader:
                if not torch.allclose(images[:, 0, 0] * 255 / 25, label.float(), atol=0.01):
                    raise SystemExit("an image does not match its label")
                labels += torch.bincount(label, minlength=10)
                count += len(label)
            print(f"epoch {epoch}: {count} samples, per class {labels.tolist()}")
            if count != shards * PER_SHARD:
                raise SystemExit(f"expected {shards * PER_SHARD} samples, read {count}")

        # A damaged shard: the first 3 samples are fine, then the bytes stop making sense.
        damaged = bytearray(shard(99))
        damaged[12 * 1024 :] = b"\x17" * (len(damaged) - 12 * 1024)
        with client.put_object(place.bucket, place.key("damaged.tar")) as writer:
            writer.write(bytes(damaged))
        uris = [place.uri("damaged.tar"), place.uri("train-000.tar")]
        try:
            list(s3torch.S3TarDataset.from_objects(uris))
        except s3torch.TarShardError as error:
            print(f"TarShardError: {error}")
        else:
            raise SystemExit("reading a damaged shard did not raise TarShardError")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kept = list(s3torch.S3TarDataset.from_objects(uris, on_error="warn"))
        print(f"with on_error='warn': {len(kept)} samples kept, warning: {caught[0].message}")
        # The damage starts in sample 3 of the damaged shard (3 samples of 3 members before it);
        # the whole next shard is read.
        if len(kept) != 3 + PER_SHARD:
            raise SystemExit(f"expected {3 + PER_SHARD} samples kept, got {len(kept)}")
    print("tar shards: OK")


if __name__ == "__main__":
    main()
