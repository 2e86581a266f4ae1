"""Typed errors (rust/src/errors.rs, python/s3torch/_errors.py) from a real server."""

from __future__ import annotations

import pickle
import socket
from typing import Any

import pytest

import s3torch
from support.server import put


def test_missing_key_is_file_not_found_with_details(client: s3torch.S3Client, bucket: str) -> None:
    with pytest.raises(s3torch.S3NoSuchKeyError) as caught:
        client.get_object_stream(bucket, "missing/key.pt").read()
    error = caught.value
    assert isinstance(error, FileNotFoundError) and isinstance(error, s3torch.S3Exception)
    assert (error.operation, error.bucket, error.key, error.status) == (
        "GetObject",
        bucket,
        "missing/key.pt",
        404,
    )
    assert error.code == "NoSuchKey"
    assert f"s3://{bucket}/missing/key.pt" in str(error)
    assert "HTTP 404" in str(error)


def test_head_of_missing_key_is_file_not_found(client: s3torch.S3Client, bucket: str) -> None:
    with pytest.raises(FileNotFoundError, match="HeadObject"):
        client.head_object(bucket, "nope")


# Not PUT: SeaweedFS creates a missing bucket on PUT instead of answering NoSuchBucket.
@pytest.mark.parametrize("operation", ["get", "list"])
def test_missing_bucket_is_file_not_found(client: s3torch.S3Client, operation: str) -> None:
    bucket = "no-such-bucket-s3torch"
    with pytest.raises(s3torch.S3NoSuchBucketError) as caught:
        if operation == "get":
            client.get_object_stream(bucket, "k").read()
        else:
            list(client.list_objects(bucket))
    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.bucket == bucket


def test_wrong_secret_key_is_a_credentials_error(
    make_client: Any, client: s3torch.S3Client, bucket: str
) -> None:
    put(client, bucket, "k", b"x")
    wrong = make_client(secret_access_key="definitely-wrong")
    with pytest.raises(s3torch.S3CredentialsError) as caught:
        wrong.get_object_stream(bucket, "k").read()
    assert isinstance(caught.value, PermissionError)
    assert caught.value.status == 403
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "definitely-wrong" not in str(caught.value)
    with pytest.raises(PermissionError):
        wrong.head_object(bucket, "k")


def test_unsigned_access_to_a_private_bucket_is_denied(make_client: Any, bucket: str) -> None:
    anonymous = make_client(unsigned=True, access_key_id=None, secret_access_key=None)
    with pytest.raises(PermissionError):
        list(anonymous.list_objects(bucket))


def test_unreachable_endpoint_is_a_network_error_within_max_attempts() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = s3torch.S3ClientConfig(max_attempts=1, access_key_id="a", secret_access_key="b")
    client = s3torch.S3Client(
        "us-east-1", endpoint=f"http://127.0.0.1:{port}", s3client_config=config
    )
    with pytest.raises(s3torch.S3NetworkError) as caught:
        client.head_object("bucket", "key")
    assert isinstance(caught.value, ConnectionError)
    assert "CONNECTION_REFUSED" in str(caught.value)


def test_errors_pickle_with_their_attributes(client: s3torch.S3Client, bucket: str) -> None:
    with pytest.raises(s3torch.S3NoSuchKeyError) as caught:
        client.get_object_stream(bucket, "missing").read()
    clone = pickle.loads(pickle.dumps(caught.value))
    assert type(clone) is s3torch.S3NoSuchKeyError
    assert (clone.bucket, clone.key, clone.status, str(clone)) == (
        bucket,
        "missing",
        404,
        str(caught.value),
    )


def test_every_native_error_kind_maps_to_an_exported_exception_class() -> None:
    """The native core names the class of each error kind (``_core.ERROR_CLASSES``, from
    ``ErrorKind::ALL``); a class renamed on one side only would turn errors into RuntimeError."""
    from s3torch import _core, _errors

    assert len(set(_core.ERROR_CLASSES)) == len(_core.ERROR_CLASSES)
    for name in _core.ERROR_CLASSES:
        cls = getattr(_errors, name, None)
        assert isinstance(cls, type) and issubclass(cls, s3torch.S3Exception), name
        assert getattr(s3torch, name) is cls, f"{name} is not exported by s3torch"
    # Every class users can catch is one the native core raises: none is dead.
    assert set(_errors.__all__) == set(_core.ERROR_CLASSES)
