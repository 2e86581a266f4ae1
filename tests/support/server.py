"""The session's S3 server as tests see it, s3torch clients for it, and objects put on it
(:func:`put`, :func:`stocked_bucket`).

The server is a :class:`s3torch.testing.LocalS3Server` started for the session, or another
S3-compatible endpoint named by ``$S3TORCH_TEST_ENDPOINT`` (see ``tests/conftest.py``). Bucket
admin goes through boto3, so that it does not depend on the code under test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

ENDPOINT_VARIABLE = "S3TORCH_TEST_ENDPOINT"

TEST_PART_SIZE = 5 * 1024 * 1024
"""Tests use the smallest part size so part boundaries are cheap to reach."""


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """Where the test S3 server is and which credentials it accepts."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        """This process's environment with its AWS_* variables replaced by this server's.

        For child processes that must find the server the way a user's program would.
        """
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_REGION=self.region,
        )
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    @property
    def admin(self) -> Any:
        """A boto3 S3 client (path-style) for creating and deleting buckets."""
        return _admin_client(self)

    def create_bucket(self, name: str) -> None:
        """Create bucket *name*; one that we already own is fine."""
        arguments: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.admin.create_bucket(**arguments)
        except self.admin.exceptions.BucketAlreadyOwnedByYou:
            pass

    def delete_bucket(self, name: str) -> None:
        """Delete bucket *name* with its objects and unfinished uploads."""
        from botocore.exceptions import ClientError

        try:
            self.admin.delete_bucket(Bucket=name)
            return
        except self.admin.exceptions.NoSuchBucket:
            return
        except ClientError as err:
            # Stores other than SeaweedFS refuse to delete a bucket that is not empty.
            if err.response.get("Error", {}).get("Code") != "BucketNotEmpty":
                raise
        for page in self.admin.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for upload in page.get("Uploads", []):
                self.admin.abort_multipart_upload(
                    Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        for page in self.admin.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.admin.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        try:
            self.admin.delete_bucket(Bucket=name)
        except self.admin.exceptions.NoSuchBucket:
            pass


@functools.cache
def _admin_client(server: ServerInfo) -> Any:
    # One client per server, kept outside the (picklable) ServerInfo.
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        aws_session_token=server.session_token,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=30,
        ),
    )


def external_server() -> ServerInfo | None:
    """The server named by ``$S3TORCH_TEST_ENDPOINT``, if that is set."""
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


def client_config(server: ServerInfo, **settings: Any) -> Any:
    """An ``s3torch.S3ClientConfig`` for *server*: its static credentials, path-style, and
    the given *settings* (which win)."""
    import s3torch

    return s3torch.S3ClientConfig(
        **{
            "access_key_id": server.access_key,
            "secret_access_key": server.secret_key,
            "session_token": server.session_token,
            "force_path_style": True,
            **settings,
        }
    )


def make_client(server: ServerInfo, **overrides: Any) -> Any:
    """An ``s3torch.S3Client`` for *server*: static credentials, path-style, 5 MiB parts."""
    import s3torch

    return s3torch.S3Client(
        server.region,
        endpoint=server.endpoint,
        s3client_config=client_config(server, **{"part_size": TEST_PART_SIZE, **overrides}),
    )


def put(client: Any, bucket: str, key: str, data: bytes = b"x") -> str:
    """Upload *data* as ``s3://bucket/key`` with *client* (an ``s3torch.S3Client``) through one
    upload stream; return the new object's ETag."""
    stream = client.put_object_stream(bucket, key)
    stream.write(data)
    etag: str = stream.close()
    return etag


@contextlib.contextmanager
def stocked_bucket(
    server: ServerInfo, client: Any, objects: Iterable[tuple[str, bytes]]
) -> Iterator[str]:
    """A new bucket on *server* holding *objects* (``(key, data)`` pairs, each uploaded with
    :func:`put` and *client*), deleted when the block ends, however it ends; yields its name."""
    name = "t-" + uuid.uuid4().hex[:16]
    server.create_bucket(name)
    try:
        for key, data in objects:
            put(client, name, key, data)
        yield name
    finally:
        server.delete_bucket(name)
