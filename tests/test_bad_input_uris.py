"""Bad input: malformed URIs, through every entry point that takes one.

See :mod:`support.bad_input` for what the bad-input tests share.
"""

from __future__ import annotations

from typing import Any

import pytest

import s3torch
from support.bad_input import uri_entry_points
from support.server import ServerInfo

# ---------------------------------------------------------------------------------------------
# Malformed URIs, through every entry point that takes one
# ---------------------------------------------------------------------------------------------

BAD_OBJECT_URIS = [
    ("http://bucket/key", "must start with 's3://'"),
    ("", "must start with 's3://'"),
    ("s3:/bucket/key", "must start with 's3://'"),
    ("s3://", "bucket name is empty"),
    ("s3:///key", "bucket name is empty"),
    ("s3://ab/key", "3 to 63 characters"),
    ("s3://bad!bucket/key", "may only contain"),
    ("s3://-bucket/key", "start and end with a letter or digit"),
    ("s3://192.168.0.1/key", "IPv4"),
    ("s3://bucket/a\x00b", "NUL"),
    ("s3://bucket/" + "k" * 1025, "1024 bytes"),
    ("s3://bucket/\udc80", "surrogates"),
]
NO_KEY_URIS = ["s3://bucket", "s3://bucket/"]


ENTRY_POINTS = [
    "S3Checkpoint.reader",
    "S3Checkpoint.writer",
    "save",
    "load",
    "S3MapDataset.from_objects",
    "S3MapDataset.from_prefix",
    "S3IterableDataset.from_objects",
    "S3IterableDataset.from_prefix",
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(("uri", "reason"), BAD_OBJECT_URIS)
def test_a_malformed_uri_is_a_value_error_naming_it(
    s3_server: ServerInfo, entry: str, uri: str, reason: str
) -> None:
    with pytest.raises(ValueError) as caught:
        uri_entry_points(s3_server)[entry](uri)
    assert repr(uri) in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "entry",
    ["S3Checkpoint.reader", "S3Checkpoint.writer", "save", "load", "S3MapDataset.from_objects"],
)
@pytest.mark.parametrize("uri", NO_KEY_URIS)
def test_a_uri_without_key_where_an_object_is_needed_is_a_value_error(
    s3_server: ServerInfo, entry: str, uri: str
) -> None:
    with pytest.raises(ValueError, match="key") as caught:
        uri_entry_points(s3_server)[entry](uri)
    assert repr(uri) in str(caught.value)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("value", [None, 42, b"s3://bucket/key"])
def test_a_uri_that_is_not_a_str_is_a_type_error_naming_its_type(
    s3_server: ServerInfo, entry: str, value: object
) -> None:
    with pytest.raises(TypeError) as caught:
        uri_entry_points(s3_server)[entry](value)
    assert type(value).__name__ in str(caught.value)


# Keys with spaces, '%', '+' and non-ASCII text are not bad input: they must arrive verbatim,
# never percent-decoded or normalised, through URIs as through the client (test_client.py).
UNUSUAL_KEYS = ["dir with space/file name.pt", "100%25 sure+plus%2Fslash.pt", "ünï/ключ/鍵 ✓.pt"]


def test_unusual_keys_travel_verbatim_through_uris(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    entry = uri_entry_points(s3_server)
    for key in UNUSUAL_KEYS:
        s3torch.save({"key": key}, f"s3://{bucket}/{key}", client=client)
    stored = sorted(item["Key"] for item in boto3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert stored == sorted(UNUSUAL_KEYS)
    for key in UNUSUAL_KEYS:
        assert s3torch.load(f"s3://{bucket}/{key}", client=client) == {"key": key}
    dataset = entry["S3MapDataset.from_prefix"](f"s3://{bucket}/")
    assert sorted(dataset[i].key for i in range(len(dataset))) == sorted(UNUSUAL_KEYS)
    by_uri = entry["S3MapDataset.from_objects"]([f"s3://{bucket}/{k}" for k in UNUSUAL_KEYS])
    assert [by_uri[i].key for i in range(len(by_uri))] == UNUSUAL_KEYS
    assert [len(by_uri[i].read()) > 0 for i in range(len(by_uri))] == [True] * 3
