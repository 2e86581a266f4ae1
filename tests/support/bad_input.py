"""Bad input: what the tests in ``tests/test_bad_input_*.py`` share.

Those tests check that every bad input gets a typed error whose message names it. Typed means:
a subclass of ``s3torch.S3Exception`` for what the server refuses (missing bucket or key, wrong
credentials, wrong region, ...), and ``ValueError``/``TypeError`` for bad arguments, raised
before any request is sent. Never ``pyo3_runtime.PanicException``, ``SystemError``,
``AttributeError`` or a crash.

Here: the exceptions that are never acceptable (:data:`UNTYPED`), client settings for the test
server, every public entry point that takes one ``s3://`` URI, the reader strategies, and the
``isolated_aws_env`` fixture (loaded by ``tests/conftest.py`` as a plugin).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

import s3torch
from s3torch import S3ReaderConstructor
from support.server import ServerInfo, client_config

MiB = 1024 * 1024
# Exceptions that are never acceptable answers to bad input: they mean a bug, not a refusal.
UNTYPED = (AttributeError, KeyError, IndexError, SystemError, AssertionError, RuntimeError)


@pytest.fixture
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS settings from the machine: empty config and credentials files, no AWS_* vars."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def uri_entry_points(server: ServerInfo) -> dict[str, Callable[[Any], Any]]:
    """Every public function that takes one ``s3://`` URI, fed ``uri``."""
    config = client_config(server)
    checkpoint = s3torch.S3Checkpoint(server.region, server.endpoint, config)
    common = {"region": server.region, "endpoint": server.endpoint, "s3client_config": config}
    return {
        "S3Checkpoint.reader": checkpoint.reader,
        "S3Checkpoint.writer": checkpoint.writer,
        "save": lambda uri: s3torch.save({"x": 1}, uri, client=checkpoint),
        "load": lambda uri: s3torch.load(uri, client=checkpoint),
        "S3MapDataset.from_objects": lambda uri: s3torch.S3MapDataset.from_objects(uri, **common),
        "S3MapDataset.from_prefix": lambda uri: s3torch.S3MapDataset.from_prefix(uri, **common),
        "S3IterableDataset.from_objects": lambda uri: s3torch.S3IterableDataset.from_objects(
            uri, **common
        ),
        "S3IterableDataset.from_prefix": lambda uri: s3torch.S3IterableDataset.from_prefix(
            uri, **common
        ),
    }


READER_CONSTRUCTORS = {
    "sequential": S3ReaderConstructor.sequential(),
    "range": S3ReaderConstructor.range_based(),
    "range-small-buffer": S3ReaderConstructor.range_based(buffer_size=16),
}
