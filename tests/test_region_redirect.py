"""A bucket in another region is followed, as boto3 does (rust/src/client.rs ``Shared``): S3
answers a request signed for the wrong region with 301 PermanentRedirect and the bucket's
region in ``x-amz-bucket-region``; the client signs for that region from then on, for that
bucket only, and says so once in the log.

The "store" is a loopback front to the test server that plays S3's part: requests signed for
any region but ``eu-west-1`` get the 301, the others are relayed to the server.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import s3torch
from s3torch._logging import flush_native_logs
from support.loopback import LoopbackServer, relay

BUCKET_REGION = "eu-west-1"
_SCOPE = re.compile(rb"Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request")
_REDIRECT_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code>'
    b"<Message>The bucket you are attempting to access must be addressed using the specified "
    b"endpoint.</Message><RequestId>FAKE301</RequestId></Error>"
)


class RegionFront(LoopbackServer):
    """Answers 301 to requests signed for another region than ``BUCKET_REGION``."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.redirected: list[bytes] = []
        super().__init__()

    @property
    def endpoint(self) -> str:
        return self.url

    def serve(self, client: socket.socket) -> None:
        with client:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, rest = buffered.partition(b"\r\n\r\n")
                scope = _SCOPE.search(head)
                if scope is not None and scope.group(1).decode() == BUCKET_REGION:
                    relay(client, self._upstream, buffered)
                    return
                # Only bodiless requests (HEAD, GET, LIST) are sent before the region is known.
                self.redirected.append(head.split(b"\r\n", 1)[0])
                body = b"" if head.startswith(b"HEAD ") else _REDIRECT_BODY
                client.sendall(
                    b"HTTP/1.1 301 Moved Permanently\r\n"
                    + f"x-amz-bucket-region: {BUCKET_REGION}\r\n".encode()
                    + b"Content-Type: application/xml\r\n"
                    + f"Content-Length: {len(_REDIRECT_BODY)}\r\n\r\n".encode()
                    + body
                )
                buffered = rest


@pytest.fixture
def front(s3_server: Any) -> Iterator[RegionFront]:
    region_front = RegionFront(s3_server.endpoint)
    yield region_front
    region_front.close()


def client_via(s3_server: Any, front: RegionFront) -> s3torch.S3Client:
    config = s3torch.S3ClientConfig(
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        session_token=s3_server.session_token,
        force_path_style=True,
    )
    return s3torch.S3Client("us-east-1", endpoint=front.endpoint, s3client_config=config)


def test_a_bucket_in_another_region_is_followed_once_and_remembered(
    s3_server: Any,
    bucket: str,
    client: s3torch.S3Client,
    front: RegionFront,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with client.put_object(bucket, "far/away") as writer:
        writer.write(b"over there")
    remote = client_via(s3_server, front)
    with caplog.at_level(logging.INFO, logger="s3torch"):
        s3torch.enable_logging("INFO")
        try:
            assert remote.head_object(bucket, "far/away").size == len(b"over there")
            flush_native_logs()
        finally:
            s3torch.disable_logging()
    assert len(front.redirected) == 1, front.redirected
    said = [
        r.getMessage() for r in caplog.records if f"bucket {bucket} is in region" in r.getMessage()
    ]
    assert said == [
        f"bucket {bucket} is in region eu-west-1, not us-east-1: its requests go there from now on"
    ]
    # Remembered: later requests of every kind go to the bucket's region directly.
    assert remote.get_object(bucket, "far/away").read() == b"over there"
    listed = [info.key for page in remote.list_objects(bucket) for info in page.object_info]
    assert listed == ["far/away"]
    with remote.put_object(bucket, "far/new") as writer:
        writer.write(b"new")
    assert client.get_object(bucket, "far/new").read() == b"new"
    assert len(front.redirected) == 1, front.redirected


@pytest.mark.parametrize("first", ["get", "list"])
def test_a_read_or_listing_is_followed_as_well(
    s3_server: Any, bucket: str, client: s3torch.S3Client, front: RegionFront, first: str
) -> None:
    with client.put_object(bucket, "k") as writer:
        writer.write(b"data")
    remote = client_via(s3_server, front)
    if first == "get":
        assert remote.get_object(bucket, "k").read() == b"data"
    else:
        assert [i.key for p in remote.list_objects(bucket) for i in p.object_info] == ["k"]
    assert len(front.redirected) == 1, front.redirected
    assert remote.head_object(bucket, "k").size == 4
    assert len(front.redirected) == 1, front.redirected
