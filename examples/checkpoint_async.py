"""Checkpoint in the background with ``s3torch.save_async`` while training goes on.

The script trains a small model and checkpoints it (model, optimizer, step) every few steps
with ``s3torch.save_async``: the call takes a snapshot of the state and returns, and the upload
runs on a background thread while the next steps change every weight. At the end it waits for
the saves, loads each checkpoint back and checks that it holds the weights of the step it was
taken at, not later ones. Then it resumes from the last checkpoint in a fresh model and
optimizer and checks that training goes on exactly as it would have without the interruption.
It also prints how long training waited for each kind of save.

    python examples/checkpoint_async.py            # a 32 MiB model (+ 64 MiB of Adam state)
    python examples/checkpoint_async.py --quick    # a 2 MiB one, for the tests

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import concurrent.futures
import time

import torch

import _common
import s3torch

STEPS = 30
EVERY = 10  # steps between checkpoints


def new_model(width: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(width, 4 * width), torch.nn.GELU(), torch.nn.Linear(4 * width, width)
    )


def train_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, width: int, step: int
) -> None:
    """One step on a batch that depends only on the step number."""
    batch = torch.randn(64, width, generator=torch.Generator().manual_seed(step))
    loss = model(batch).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def main() -> None:
    args = _common.parse_args(__doc__)
    width = 256 if args.quick else 1024
    torch.manual_seed(0)
    model = new_model(width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())

    with _common.s3_place(args, "checkpoint-async") as place:
        pending: dict[int, concurrent.futures.Future[None]] = {}
        expected: dict[int, dict[str, torch.Tensor]] = {}  # what each checkpoint must hold
        waited = 0.0
        started = time.perf_counter()
        for step in range(1, STEPS + 1):
            train_step(model, optimizer, width, step)
            if step % EVERY == 0:
                expected[step] = {name: t.clone() for name, t in model.state_dict().items()}
                called = time.perf_counter()
                pending[step] = s3torch.save_async(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "step": step,
                    },
                    place.uri(f"step-{step}.pt"),
                )
                waited += time.perf_counter() - called
                print(f"step {step}: checkpoint started in the background", flush=True)
        for future in pending.values():
            future.result()  # waits for the save; raises what went wrong, if anything did
        elapsed = time.perf_counter() - started
        print(
            f"trained {STEPS} steps of a {size / 2**20:.0f} MiB model in {elapsed:.1f}s with "
            f"{len(pending)} checkpoints; the training loop waited {waited:.2f}s for them"
        )

        called = time.perf_counter()
        s3torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": STEPS},
            place.uri("blocking.pt"),
        )
        print(f"(one blocking s3torch.save of the same state: {time.perf_counter() - called:.2f}s)")

        # Each checkpoint holds the weights of its own step, though training went on meanwhile.
        for step, weights in expected.items():
            loaded = s3torch.load(place.uri(f"step-{step}.pt"), weights_only=True)
            if loaded["step"] != step:
                raise SystemExit(f"step-{step}.pt says step {loaded['step']}")
            for name, tensor in weights.items():
                if not torch.equal(loaded["model"][name], tensor):
                    raise SystemExit(f"step-{step}.pt: {name} is not the weight of step {step}")
        print(f"each of the {len(expected)} checkpoints holds the weights of its own step")

        # Resume from the last one: the next step must give exactly the weights it gives when
        # training was never interrupted (so the optimizer state came back too).
        last = s3torch.load(place.uri(f"step-{STEPS}.pt"), weights_only=True)
        resumed = new_model(width)
        resumed.load_state_dict(last["model"])
        resumed_optimizer = torch.optim.AdamW(resumed.parameters(), lr=1e-3)
        resumed_optimizer.load_state_dict(last["optimizer"])
        train_step(model, optimizer, width, STEPS + 1)
        train_step(resumed, resumed_optimizer, width, last["step"] + 1)
        for name, tensor in model.state_dict().items():
            if not torch.equal(resumed.state_dict()[name], tensor):
                raise SystemExit(f"after resuming, {name} differs from the uninterrupted run")
        print(f"resumed from step {last['step']}: the next step matches the uninterrupted run")
    print("async checkpoints: OK")


if __name__ == "__main__":
    main()
