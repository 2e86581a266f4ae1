"""Native log records into Python's logging (rust/src/logging.rs, python/s3torch/_logging.py)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import s3torch
from s3torch import _logging


@pytest.fixture
def forwarding() -> Iterator[None]:
    s3torch.enable_logging("DEBUG")
    try:
        yield
    finally:
        s3torch.disable_logging()


def refused_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_each_retried_attempt_logs_a_warning(
    forwarding: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = s3torch.S3Client(
        "us-east-1",
        endpoint=refused_endpoint(),
        s3client_config=s3torch.S3ClientConfig(
            max_attempts=3, access_key_id="id", secret_access_key="secret"
        ),
    )
    with caplog.at_level(logging.DEBUG, logger="s3torch"):
        with pytest.raises(s3torch.S3NetworkError):
            client.head_object("bucket", "key")
        _logging.flush_native_logs()
    retries = [r for r in caplog.records if r.name == "s3torch.retry"]
    assert len(retries) == 3, [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.WARNING for r in retries)
    assert "HeadObject" in retries[0].getMessage()
    assert any(r.name == "s3torch.client" for r in caplog.records)


def test_nothing_is_forwarded_while_logging_is_off(caplog: pytest.LogCaptureFixture) -> None:
    s3torch.disable_logging()
    client = s3torch.S3Client(
        "us-east-1",
        endpoint=refused_endpoint(),
        s3client_config=s3torch.S3ClientConfig(
            max_attempts=2, access_key_id="id", secret_access_key="secret"
        ),
    )
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(s3torch.S3NetworkError):
            client.head_object("bucket", "key")
        _logging.flush_native_logs()
    assert not [r for r in caplog.records if r.name.startswith("s3torch.")]


def test_levels_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown logging level"):
        s3torch.enable_logging("LOUD")
    with pytest.raises(TypeError):
        s3torch.enable_logging(1.5)  # type: ignore[arg-type]


def test_one_environment_variable_turns_logging_on_for_a_script() -> None:
    script = (
        "import s3torch\n"
        f"c = s3torch.S3Client('us-east-1', endpoint={refused_endpoint()!r}, "
        "s3client_config=s3torch.S3ClientConfig(max_attempts=2, access_key_id='i', "
        "secret_access_key='s'))\n"
        "try:\n    c.head_object('bucket', 'k')\nexcept s3torch.S3NetworkError:\n    pass\n"
        "from s3torch import _logging\n_logging.flush_native_logs()\n"
    )
    env = {**os.environ, "S3TORCH_LOG": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "s3torch.retry" in done.stderr and "HeadObject" in done.stderr
    quiet = subprocess.run(
        [sys.executable, "-c", script],
        env={k: v for k, v in env.items() if k != "S3TORCH_LOG"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert quiet.returncode == 0 and "s3torch.retry" not in quiet.stderr


def test_a_bad_environment_level_does_not_break_import() -> None:
    env = {**os.environ, "S3TORCH_LOG": "NOISY"}
    done = subprocess.run(
        [sys.executable, "-c", "import s3torch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "S3TORCH_LOG" in done.stderr
