"""Resume an epoch mid-way with torchdata's StatefulDataLoader, without repeating or skipping
a sample.

The script stores 200 small objects, then reads them with ``S3IterableDataset`` (sharded over
two DataLoader workers, shuffled) through a ``StatefulDataLoader``. After 7 batches it saves the
loader's state with ``torch.save`` and "crashes"; a new dataset and loader load the state and
finish the epoch. It checks that the two halves together are exactly the uninterrupted epoch,
in the same order.

    python examples/resume.py            # 200 objects
    python examples/resume.py --quick    # 100 objects, for the tests

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import io
import itertools

import torch
from torchdata.stateful_dataloader import StatefulDataLoader

import _common
import s3torch

BATCH = 8
STOP_AFTER = 7  # batches read before the "crash"


def key_and_size(reader: s3torch.S3Reader) -> str:
    return f"{reader.key.rsplit('/', 1)[-1]}:{len(reader.read())}"


def make_loader(uri: str) -> StatefulDataLoader:
    dataset = s3torch.S3IterableDataset.from_prefix(
        uri, transform=key_and_size, enable_sharding=True, shuffle=True, seed=42
    )
    dataset.set_epoch(3)
    return StatefulDataLoader(dataset, batch_size=BATCH, num_workers=2, collate_fn=list)


def main() -> None:
    args = _common.parse_args(__doc__)
    objects = 100 if args.quick else 200
    with _common.s3_place(args, "resume") as place:
        client = s3torch.S3Client()
        for i in range(objects):
            with client.put_object(place.bucket, place.key(f"{i:04d}.bin")) as writer:
                writer.write(bytes(i + 1))  # i + 1 zero bytes: the size tells the objects apart
        uri = place.uri()

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

        if sorted(before + after) != sorted(uninterrupted) or len(uninterrupted) != objects:
            raise SystemExit("a sample is missing or repeated")
        if before + after != uninterrupted:
            raise SystemExit("the resumed order differs from the uninterrupted epoch")
        print(
            f"the two runs read each of the {objects} samples exactly once, in the same order "
            "as an uninterrupted epoch"
        )
    print("resume: OK")


if __name__ == "__main__":
    main()
