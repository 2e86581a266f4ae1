"""s3torch checkpoints: torch.save / torch.load straight to and from S3.

The script trains a small model for two steps and then shows, checking each result:

1. ``s3torch.save`` / ``s3torch.load``: ``torch.save`` and ``torch.load`` with an ``s3://`` URI;
   the loaded state equals the saved one.
2. ``S3Checkpoint``: ``writer()`` / ``reader()`` file objects, the s3torchconnector way.
3. A save that fails part-way (an object that cannot be pickled) leaves the previous
   checkpoint under that key untouched.
4. A missing checkpoint raises ``FileNotFoundError`` (``S3NoSuchKeyError``).

Saving in the background while training goes on (``s3torch.save_async``) has its own example,
``checkpoint_async.py``.

    python examples/checkpoint.py            # a 32 MiB model with its optimizer state
    python examples/checkpoint.py --quick    # a 2 MiB one, for the tests

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import time

import torch

import _common
import s3torch


def train_steps(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, width: int, steps: int
) -> None:
    for _ in range(steps):
        loss = model(torch.randn(64, width)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def check_equal(expected: dict[str, torch.Tensor], loaded: dict[str, torch.Tensor]) -> None:
    if expected.keys() != loaded.keys():
        raise SystemExit(f"loaded names {sorted(loaded)} differ from saved {sorted(expected)}")
    for name, tensor in expected.items():
        if not torch.equal(loaded[name], tensor):
            raise SystemExit(f"{name} differs after a save and a load")


def main() -> None:
    args = _common.parse_args(__doc__)
    width = 256 if args.quick else 1024
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(width, 4 * width), torch.nn.GELU(), torch.nn.Linear(4 * width, width)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    train_steps(model, optimizer, width, 2)

    with _common.s3_place(args, "checkpoint") as place:
        # 1. s3torch.save / s3torch.load: torch.save and torch.load with an s3:// URI.
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 2}
        size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        started = time.perf_counter()
        s3torch.save(state, place.uri("step-2.pt"))
        saved = time.perf_counter() - started
        started = time.perf_counter()
        loaded = s3torch.load(place.uri("step-2.pt"), weights_only=True)
        took = time.perf_counter() - started
        check_equal(model.state_dict(), loaded["model"])
        check_equal(optimizer.state_dict()["state"][0], loaded["optimizer"]["state"][0])
        print(
            f"saved and loaded a {size / 2**20:.0f} MiB model with its optimizer state "
            f"(save {saved:.2f}s, load {took:.2f}s): equal"
        )

        # 2. S3Checkpoint: file objects, the s3torchconnector way.
        checkpoint = s3torch.S3Checkpoint()  # region, endpoint, credentials: the AWS way
        with checkpoint.writer(place.uri("weights-only.pt")) as writer:
            torch.save(model.state_dict(), writer)
        with checkpoint.reader(place.uri("weights-only.pt")) as reader:
            check_equal(model.state_dict(), torch.load(reader, weights_only=True))
        print("wrote and read a state dict through S3Checkpoint.writer / .reader: equal")

        # 3. A save that fails part-way leaves the previous checkpoint untouched.
        before = checkpoint.client.head_object(place.bucket, place.key("step-2.pt")).etag

        class CannotBePickled:
            def __reduce__(self) -> object:
                raise RuntimeError("this object cannot be saved")

        try:
            s3torch.save(
                {"model": model.state_dict(), "oops": CannotBePickled()}, place.uri("step-2.pt")
            )
        except RuntimeError as error:
            print(f"the save failed ({error}) ...")
        else:
            raise SystemExit("saving an object that cannot be pickled succeeded")
        after = checkpoint.client.head_object(place.bucket, place.key("step-2.pt")).etag
        if after != before:
            raise SystemExit("a failed save replaced the previous checkpoint")
        check_equal(model.state_dict(), s3torch.load(place.uri("step-2.pt"))["model"])
        print("... and the previous checkpoint under that key is untouched")

        # 4. Errors are typed: a missing checkpoint is a FileNotFoundError.
        try:
            s3torch.load(place.uri("missing.pt"))
        except FileNotFoundError as error:
            print(
                f"loading a missing checkpoint raises {type(error).__name__}, a FileNotFoundError"
            )
        else:
            raise SystemExit("loading a missing checkpoint did not raise FileNotFoundError")
    print("checkpoints: OK")


if __name__ == "__main__":
    main()
