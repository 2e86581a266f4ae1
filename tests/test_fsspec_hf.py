"""Hugging Face ``datasets`` over s3torch.fsspec, with s3fs not importable.

``datasets.load_dataset("parquet", data_files="s3://...")`` reaches S3 through fsspec; with
``s3torch.fsspec.register(overwrite_s3=True)`` those ``s3://`` URLs are served by s3torch. Each
case runs in a child process: the registration replaces ``s3://`` for the whole process, and
``datasets`` keeps module-level state (its cache, its fsspec filesystems) that must not leak
into other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from s3torch.fsspec import S3TorchFileSystem

pytest.importorskip("datasets")
pd = pytest.importorskip("pandas")

_CHILD = textwrap.dedent(
    """
    import json, sys
    sys.modules["s3fs"] = None  # nothing may fall back to s3fs
    import s3torch.fsspec
    s3torch.fsspec.register(overwrite_s3=True)
    import datasets

    protocol, bucket, streaming, options = sys.argv[1], sys.argv[2], sys.argv[3] == "1", {}
    if len(sys.argv) > 4:
        options = json.loads(sys.argv[4])
    files = {"train": f"{protocol}://{bucket}/hf/train-*.parquet",
             "test": f"{protocol}://{bucket}/hf/test.parquet"}
    loaded = datasets.load_dataset(
        "parquet", data_files=files, streaming=streaming, storage_options=options or None
    )
    print(json.dumps({
        split: sorted((row["id"], row["text"]) for row in loaded[split])
        for split in ("train", "test")
    }))
    """
)


def _write_parquet(bucket: str) -> dict[str, list[list[Any]]]:
    """Three Parquet files through s3torch (two train shards and a test split); the rows."""
    fs = S3TorchFileSystem()
    expected: dict[str, list[list[Any]]] = {"train": [], "test": []}
    for name, first in (("train-0", 0), ("train-1", 1000), ("test", 5000)):
        ids = list(range(first, first + 250))
        texts = [f"sample {i}" for i in ids]
        with fs.open(f"{bucket}/hf/{name}.parquet", "wb") as file:
            pd.DataFrame({"id": ids, "text": texts}).to_parquet(file, row_group_size=100)
        expected[name.split("-")[0]].extend([i, t] for i, t in zip(ids, texts, strict=True))
    return {split: sorted(rows) for split, rows in expected.items()}


def _load(
    bucket: str, tmp_path: Any, *, protocol: str, streaming: bool, options: dict[str, Any] | None
) -> Any:
    environment = dict(os.environ)
    environment.update(
        HF_HOME=str(tmp_path / "hf-home"),
        HF_DATASETS_CACHE=str(tmp_path / "hf-cache"),
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    arguments = [protocol, bucket, "1" if streaming else "0"]
    if options is not None:
        arguments.append(json.dumps(options))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *arguments],
        capture_output=True,
        text=True,
        timeout=240,
        env=environment,
        cwd=tmp_path,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("streaming", [False, True], ids=["downloaded", "streaming"])
def test_load_dataset_parquet_from_s3_urls(
    s3_env: Any, bucket: str, tmp_path: Any, streaming: bool
) -> None:
    expected = _write_parquet(bucket)
    loaded = _load(bucket, tmp_path, protocol="s3", streaming=streaming, options=None)
    assert loaded == expected


@pytest.mark.timeout(300)
def test_load_dataset_with_s3fs_style_storage_options(
    s3_server: Any, s3_env: Any, bucket: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _write_parquet(bucket)
    # Nothing in the environment: the endpoint and keys come from storage_options alone.
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = {
        "key": s3_server.access_key,
        "secret": s3_server.secret_key,
        "client_kwargs": {"endpoint_url": s3_server.endpoint, "region_name": s3_server.region},
    }
    loaded = _load(bucket, tmp_path, protocol="s3torch", streaming=False, options=options)
    assert loaded == expected
