"""``import s3torch`` and the ``s3torch`` command do not import torch.

torch takes seconds to import; a script that only moves bytes, and every CLI command, should
not pay for it. Each check runs in a fresh interpreter, since this one has torch loaded already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import s3torch

if TYPE_CHECKING:
    from conftest import ServerInfo

PYTHON_DIR = str(Path(s3torch.__file__).resolve().parent.parent)
TORCH_NAMES = [
    "S3IterableDataset",
    "S3MapDataset",
    "S3TarDataset",
    "ShuffleDataset",
    "TarShardError",
]

TINY_BENCH = ["--size", "1MiB", "--count", "1", "--small-size", "10", "--small-count", "2"]


def run_python(code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a new interpreter; it prints one JSON value, which is returned."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = PYTHON_DIR
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_import_s3torch_does_not_import_torch() -> None:
    found = run_python(
        """
        import json, sys
        import s3torch
        client = s3torch.S3Client("us-east-1", endpoint="http://127.0.0.1:1")
        config = s3torch.S3ClientConfig(max_attempts=2)
        print(json.dumps({
            "torch": "torch" in sys.modules,
            "datasets": [m for m in sys.modules if m.startswith("s3torch.s3") and "dataset" in m],
            "version": s3torch.__version__,
        }))
        """
    )
    assert found == {"torch": False, "datasets": [], "version": s3torch.__version__}


def test_a_torch_facing_name_loads_torch_when_used() -> None:
    found = run_python(
        f"""
        import json, sys
        import s3torch
        listed = {TORCH_NAMES!r}
        in_dir = all(name in dir(s3torch) for name in listed)
        in_all = all(name in s3torch.__all__ for name in listed)
        before = "torch" in sys.modules
        dataset = s3torch.S3MapDataset
        import torch.utils.data
        from s3torch import S3TarDataset, TarShardError
        print(json.dumps({{
            "before": before,
            "after": "torch" in sys.modules,
            "in_dir": in_dir,
            "in_all": in_all,
            "is_dataset": issubclass(dataset, torch.utils.data.Dataset),
            "same": dataset is sys.modules["s3torch.s3map_dataset"].S3MapDataset,
            "tar": issubclass(S3TarDataset, torch.utils.data.IterableDataset),
            "error": issubclass(TarShardError, Exception),
            "every_name": all(hasattr(s3torch, name) for name in s3torch.__all__),
        }}))
        """
    )
    assert found == {
        "before": False,
        "after": True,
        "in_dir": True,
        "in_all": True,
        "is_dataset": True,
        "same": True,
        "tar": True,
        "error": True,
        "every_name": True,
    }


def test_an_unknown_name_is_an_attribute_error() -> None:
    import s3torch as package

    with pytest.raises(AttributeError, match="has no attribute 'S3NoSuchThing'"):
        _ = package.S3NoSuchThing  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        from s3torch import S3NoSuchThing  # type: ignore[attr-defined]  # noqa: F401


def test_no_cli_command_imports_torch(
    s3_server: ServerInfo, bucket: str, client: Any, tmp_path: Path
) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "a.bin").write_bytes(b"a" * 100)
    with client.put_object(bucket, "down/b.bin") as writer:
        writer.write(b"b" * 100)
    uri = f"s3://{bucket}"
    commands = [
        ["--version"],
        *[[name, "--help"] for name in ("ls", "cp", "rm", "bench", "server")],
        ["ls"],
        ["ls", "-r", uri],
        ["cp", "-r", "--no-progress", str(tmp_path / "up"), f"{uri}/up/"],
        ["cp", "-r", "--no-progress", f"{uri}/down/", str(tmp_path / "down")],
        ["rm", "-r", "--yes", f"{uri}/up/"],
        ["bench", f"{uri}/scratch", "--json", *TINY_BENCH],
    ]
    env = s3_server.environment()
    found = run_python(
        f"""
        import contextlib, io, json, sys
        from s3torch.cli import main
        codes = []
        for argv in {commands!r}:
            with contextlib.redirect_stdout(io.StringIO()):
                codes.append(main(argv))
        print(json.dumps({{"codes": codes, "torch": "torch" in sys.modules}}))
        """,
        env,
    )
    assert found == {"codes": [0] * len(commands), "torch": False}
    assert (tmp_path / "down" / "b.bin").read_bytes() == b"b" * 100
