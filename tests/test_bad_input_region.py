"""Bad input: a wrong region.

A wrong region cannot be shown with SeaweedFS, which accepts a signature for any region (see
``test_seaweedfs_accepts_any_region``): those cases use :mod:`support.wrong_region`, a loopback
server that replays the answers AWS S3 gives to a request signed for the wrong region.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

import s3torch
from support.server import ENDPOINT_VARIABLE, put
from support.wrong_region import HEADER_MALFORMED, PERMANENT_REDIRECT, wrong_region_server

# ---------------------------------------------------------------------------------------------
# Wrong region
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    bool(os.environ.get(ENDPOINT_VARIABLE)), reason="a fact about the local SeaweedFS"
)
def test_seaweedfs_accepts_any_region(make_client: Any, client: Any, bucket: str) -> None:
    """Why the wrong-region tests below use a replaying server instead of SeaweedFS."""
    put(client, bucket, "k", b"any region")
    elsewhere = s3torch.S3Client(
        "ap-southeast-2", endpoint=client.endpoint, s3client_config=client.s3client_config
    )
    assert elsewhere.get_object(bucket, "k").read() == b"any region"


def _write(client: s3torch.S3Client) -> None:
    with client.put_object("bucket", "key") as writer:
        writer.write(b"x")


REGION_OPERATIONS: dict[str, Callable[[s3torch.S3Client], Any]] = {
    "read": lambda c: c.get_object("bucket", "key").read(),
    "list": lambda c: list(c.list_objects("bucket")),
    "write": _write,
    "delete": lambda c: c.delete_object("bucket", "key"),
    "head": lambda c: c.head_object("bucket", "key"),
    "copy": lambda c: c.copy_object("bucket", "key", "bucket", "key2"),
}


@pytest.mark.parametrize(
    ("answer", "operation"),
    [pytest.param(PERMANENT_REDIRECT, op, id=f"301-{op}") for op in REGION_OPERATIONS]
    + [
        pytest.param(
            HEADER_MALFORMED,
            op,
            id=f"400-{op}",
        )
        for op in REGION_OPERATIONS
    ],
)
def test_a_wrong_region_is_a_wrong_region_error_naming_the_right_one(
    answer: tuple[int, bytes], operation: str
) -> None:
    with wrong_region_server(answer) as client, pytest.raises(s3torch.S3WrongRegionError) as e:
        REGION_OPERATIONS[operation](client)
    assert "s3://bucket" in str(e.value)
    if answer is HEADER_MALFORMED and operation in ("head", "copy"):
        # The crate keeps neither the headers of a HEAD answer (which has no body) nor the body
        # of a failed copy, so the error can only say that the region is the likely cause.
        assert "region" in str(e.value)
    else:
        assert "eu-west-1" in str(e.value)
