"""Bad input: bad bucket names, keys and counts given to the client directly.

See :mod:`support.bad_input` for what the bad-input tests share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import s3torch

# ---------------------------------------------------------------------------------------------
# Bad bucket names and keys given to the client directly
# ---------------------------------------------------------------------------------------------

CLIENT_CALLS: dict[str, Callable[[s3torch.S3Client, str, str], Any]] = {
    # A reader checks the empty bucket and key at once, the rest on its first read.
    "get_object": lambda c, b, k: c.get_object(b, k).read(),
    "get_object_stream": lambda c, b, k: c.get_object_stream(b, k),
    "put_object": lambda c, b, k: c.put_object(b, k),
    "put_object_stream": lambda c, b, k: c.put_object_stream(b, k),
    "head_object": lambda c, b, k: c.head_object(b, k),
    "delete_object": lambda c, b, k: c.delete_object(b, k),
    "copy_object(source)": lambda c, b, k: c.copy_object(b, k, "bucket", "dst"),
    "copy_object(destination)": lambda c, b, k: c.copy_object("bucket", "src", b, k),
}


@pytest.mark.parametrize("call", sorted(CLIENT_CALLS))
@pytest.mark.parametrize(
    ("bucket", "key", "fragment"),
    [
        ("", "k", "bucket"),
        ("a/b", "k", "'a/b'"),
        ("a\x00b", "k", "bucket"),
        ("bucket", "", "key must not be empty"),
        ("bucket", "a\x00b", "NUL"),
        ("bucket", "k" * 1025, "1024 bytes"),
    ],
)
def test_a_bad_bucket_or_key_is_a_value_error_before_any_request(
    client: s3torch.S3Client, call: str, bucket: str, key: str, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        CLIENT_CALLS[call](client, bucket, key)


@pytest.mark.parametrize("call", sorted(CLIENT_CALLS))
def test_a_key_that_is_not_utf8_is_a_value_error_naming_the_key(
    client: s3torch.S3Client, call: str
) -> None:
    with pytest.raises(ValueError) as caught:
        CLIENT_CALLS[call](client, "bucket", "bad\udc80key")
    assert "key" in str(caught.value) and repr("bad\udc80key") in str(caught.value)


def test_list_objects_rejects_max_keys_out_of_range_naming_it(client: s3torch.S3Client) -> None:
    for max_keys in (0, 1001):
        with pytest.raises(ValueError, match=f"max_keys={max_keys}"):
            client.list_objects("bucket", max_keys=max_keys)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda c: c.list_objects("bucket", max_keys=-1), "max_keys"),
        (lambda c: c.list_objects("bucket", max_keys=2**70), "max_keys"),
        (lambda c: c.get_object_stream("bucket", "key", -1), "start"),
        (lambda c: c.get_object_stream("bucket", "key", 0, -5), "end"),
        (lambda c: c.get_object_stream("bucket", "key", 2**70), "start"),
    ],
)
def test_a_negative_or_huge_count_is_a_value_error_naming_it(
    client: s3torch.S3Client, call: Callable[[s3torch.S3Client], Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        call(client)
