"""s3torch checkpoints: torch.save / torch.load straight to and from S3.

Run it with `python examples/checkpoint.py`. With no endpoint configured (AWS_ENDPOINT_URL /
AWS_ENDPOINT_URL_S3 unset) it starts a local S3 server (SeaweedFS) on 127.0.0.1 for the duration
of the example; otherwise it uses your endpoint and credentials, and the bucket named by
S3TORCH_DEMO_BUCKET.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

import s3torch


@contextlib.contextmanager
def s3_bucket() -> Iterator[str]:
    """Yield a bucket to use: on the user's endpoint, or on a local server started here."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"):
        bucket = os.environ.get("S3TORCH_DEMO_BUCKET")
        if not bucket:
            raise SystemExit("set S3TORCH_DEMO_BUCKET to a bucket you can write to")
        yield bucket
        return
    from s3torch._local_server import LocalS3Server

    with LocalS3Server() as server:
        os.environ.update(server.env())
        print(f"started a local S3 server at {server.endpoint}")
        server.create_bucket("s3torch-demo")
        yield "s3torch-demo"


def train_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    for _ in range(steps):
        loss = model(torch.randn(64, 1024)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    train_steps(model, optimizer, 2)

    with s3_bucket() as bucket:
        prefix = f"s3://{bucket}/demo/checkpoints"

        # 1. s3torch.save / s3torch.load: torch.save and torch.load with an s3:// URI.
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 2}
        size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        started = time.perf_counter()
        s3torch.save(state, f"{prefix}/step-2.pt")
        saved = time.perf_counter() - started
        started = time.perf_counter()
        loaded = s3torch.load(f"{prefix}/step-2.pt", map_location="cpu")
        took = time.perf_counter() - started
        for name, tensor in model.state_dict().items():
            assert torch.equal(loaded["model"][name], tensor)
        print(
            f"saved and loaded a {size / 2**20:.0f} MiB model with its optimizer state "
            f"(save {saved:.2f}s, load {took:.2f}s)"
        )

        # 2. S3Checkpoint: file objects, the s3torchconnector way.
        checkpoint = s3torch.S3Checkpoint()
        with checkpoint.writer(f"{prefix}/weights-only.pt") as writer:
            torch.save(model.state_dict(), writer)
        with checkpoint.reader(f"{prefix}/weights-only.pt") as reader:
            model.load_state_dict(torch.load(reader))
        print("wrote and read a state dict through S3Checkpoint.writer / .reader")

        # 3. save_async: snapshot now, upload in the background, keep training.
        expected = {name: t.clone() for name, t in model.state_dict().items()}
        started = time.perf_counter()
        future = s3torch.save_async(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 4},
            f"{prefix}/step-4.pt",
            client=checkpoint,
        )
        returned = time.perf_counter() - started
        train_steps(model, optimizer, 3)  # changes every weight while the upload runs
        future.result()  # raises if the save failed
        loaded = s3torch.load(f"{prefix}/step-4.pt", client=checkpoint)
        assert all(torch.equal(loaded["model"][n], t) for n, t in expected.items())
        print(
            f"save_async returned after {returned * 1000:.0f} ms; training went on, and the "
            "checkpoint holds the weights from the moment of the call"
        )

        # 4. A save that fails part-way leaves the previous checkpoint untouched.
        before = checkpoint.client.head_object(bucket, "demo/checkpoints/step-2.pt").etag

        class CannotBePickled:
            def __reduce__(self) -> object:
                raise RuntimeError("this object cannot be saved")

        try:
            s3torch.save(
                {"model": model.state_dict(), "oops": CannotBePickled()}, f"{prefix}/step-2.pt"
            )
        except RuntimeError as error:
            print(f"the save failed ({error}) ...")
        after = checkpoint.client.head_object(bucket, "demo/checkpoints/step-2.pt").etag
        assert after == before
        print("... and the previous checkpoint under that key is untouched")

        # 5. Errors are typed: a missing checkpoint is a FileNotFoundError.
        try:
            s3torch.load(f"{prefix}/missing.pt")
        except FileNotFoundError as error:
            print(f"missing checkpoint -> {type(error).__name__}")
    print("done")


if __name__ == "__main__":
    main()
