"""Bad input: what the server refuses (missing bucket or key, wrong credentials, unsigned).

See :mod:`support.bad_input` for what the bad-input tests share.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

import s3torch
from s3torch import S3ReaderConstructor
from support.bad_input import uri_entry_points
from support.server import ServerInfo, put

# ---------------------------------------------------------------------------------------------
# What the server refuses: missing bucket, missing key, wrong credentials, unsigned requests
# ---------------------------------------------------------------------------------------------

MISSING_BUCKET = "no-such-bucket-s3torch-bad-input"


def object_calls(client: s3torch.S3Client, bucket: str, key: str) -> dict[str, Callable[[], Any]]:
    """The client's operations on one object, each reaching the server."""
    return {
        "read": lambda: client.get_object(bucket, key).read(),
        "ranged read": lambda: client.get_object(
            bucket, key, reader_constructor=S3ReaderConstructor.range_based()
        ).read(3),
        "head": lambda: client.head_object(bucket, key),
        "copy": lambda: client.copy_object(bucket, key, bucket, key + "-copy"),
    }


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("read", s3torch.S3NoSuchBucketError),
        # The ranged reader asks for the size first, with a HEAD (see below).
        ("ranged read", FileNotFoundError),
        ("delete", s3torch.S3NoSuchBucketError),
        # HEAD answers carry no body: a missing bucket looks like a missing key (as in boto3).
        ("head", FileNotFoundError),
        ("copy", FileNotFoundError),
        ("map dataset", s3torch.S3NoSuchBucketError),
        ("iterable dataset", s3torch.S3NoSuchBucketError),
    ],
)
def test_a_missing_bucket_is_file_not_found_naming_it(
    s3_server: ServerInfo, client: s3torch.S3Client, operation: str, error: type[Exception]
) -> None:
    entry = uri_entry_points(s3_server)
    calls = {
        **object_calls(client, MISSING_BUCKET, "k"),
        "delete": lambda: client.delete_object(MISSING_BUCKET, "k"),
        "map dataset": lambda: len(entry["S3MapDataset.from_prefix"](f"s3://{MISSING_BUCKET}/")),
        "iterable dataset": lambda: list(
            entry["S3IterableDataset.from_prefix"](f"s3://{MISSING_BUCKET}/p")
        ),
    }
    with pytest.raises(error) as caught:
        calls[operation]()
    assert isinstance(caught.value, s3torch.S3Exception)
    assert isinstance(caught.value, FileNotFoundError)
    assert f"s3://{MISSING_BUCKET}" in str(caught.value)
    assert caught.value.bucket == MISSING_BUCKET


@pytest.mark.parametrize(
    "operation",
    ["read", "ranged read", "seek from end", "head", "copy", "load", "map dataset"],
)
def test_a_missing_key_is_no_such_key_naming_it(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str, operation: str
) -> None:
    uri = f"s3://{bucket}/missing/key.pt"
    entry = uri_entry_points(s3_server)
    calls = {
        **object_calls(client, bucket, "missing/key.pt"),
        "seek from end": lambda: client.get_object(bucket, "missing/key.pt").seek(-1, io.SEEK_END),
        "load": lambda: s3torch.load(uri, client=client),
        "map dataset": lambda: entry["S3MapDataset.from_objects"](uri)[0].read(),
    }
    with pytest.raises(s3torch.S3NoSuchKeyError) as caught:
        calls[operation]()
    assert isinstance(caught.value, FileNotFoundError)
    assert uri in str(caught.value)
    assert (caught.value.bucket, caught.value.key) == (bucket, "missing/key.pt")


def test_a_range_past_the_end_is_an_invalid_range_error_naming_the_object(
    client: s3torch.S3Client, bucket: str
) -> None:
    put(client, bucket, "small", b"12345")
    with pytest.raises(s3torch.S3InvalidRangeError) as caught:
        client.get_object_stream(bucket, "small", 100, 200).read()
    assert f"s3://{bucket}/small" in str(caught.value) and caught.value.status == 416


@pytest.mark.parametrize(
    ("credentials", "error", "code"),
    [
        ({"secret_access_key": "wrong-secret-s3torch"}, s3torch.S3CredentialsError, None),
        ({"access_key_id": "NOSUCHKEYS3TORCH"}, s3torch.S3CredentialsError, "InvalidAccessKeyId"),
        (
            {"unsigned": True, "access_key_id": None, "secret_access_key": None},
            s3torch.S3AccessDeniedError,
            "AccessDenied",
        ),
    ],
    ids=["wrong secret", "unknown access key", "unsigned"],
)
@pytest.mark.parametrize("operation", ["read", "list", "write", "head"])
def test_refused_credentials_are_permission_errors_naming_the_target(
    make_client: Any,
    client: s3torch.S3Client,
    bucket: str,
    credentials: dict[str, Any],
    error: type[Exception],
    code: str | None,
    operation: str,
) -> None:
    put(client, bucket, "k", b"private")
    refused = make_client(max_attempts=1, **credentials)

    def write() -> None:
        with refused.put_object(bucket, "new") as writer:
            writer.write(b"x")

    calls: dict[str, Callable[[], Any]] = {
        "read": lambda: refused.get_object(bucket, "k").read(),
        "list": lambda: list(refused.list_objects(bucket)),
        "write": write,
        "head": lambda: refused.head_object(bucket, "k"),
    }
    with pytest.raises(PermissionError) as caught:
        calls[operation]()
    assert isinstance(caught.value, s3torch.S3Exception)
    assert f"s3://{bucket}" in str(caught.value)
    assert caught.value.status == 403
    if operation != "head":  # a HEAD answer has no body, so no S3 error code to classify by
        assert isinstance(caught.value, error)
        if code is not None:
            assert caught.value.code == code
    assert client.get_object(bucket, "k").read() == b"private"
    assert [info.key for page in client.list_objects(bucket) for info in page.object_info] == ["k"]
