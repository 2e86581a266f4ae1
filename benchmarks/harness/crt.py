"""aws-crt-python's S3 client, used raw: the reference figures and the data upload.

This is how a program talks to S3 through the CRT with nothing in between: requests built by
hand, many in flight, bodies handed to a callback. Signing uses static credentials (localbucket
ignores them; SeaweedFS checks them) and an unsigned payload, as the CRT does by default for
plain HTTP.
"""

from __future__ import annotations

import io
import queue
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote, urlsplit

from awscrt.auth import (
    AwsCredentialsProvider,
    AwsSignatureType,
    AwsSigningAlgorithm,
    AwsSigningConfig,
)
from awscrt.http import HttpHeaders, HttpRequest
from awscrt.s3 import (
    S3ChecksumAlgorithm,
    S3ChecksumConfig,
    S3ChecksumLocation,
    S3Client,
    S3Request,
    S3RequestTlsMode,
    S3RequestType,
)

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

BodyCallback = Callable[..., None]


def _discard(chunk: Any, offset: int, **_: Any) -> None:
    """Body callback that drops the bytes."""


class RawS3:
    """A CRT S3 client for one endpoint (path-style addressing, plain HTTP)."""

    def __init__(
        self,
        endpoint: str,
        *,
        region: str,
        access_key: str,
        secret_key: str,
        throughput_target_gbps: float = 10.0,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or not parts.netloc:
            raise ValueError(f"expected an http:// endpoint, got {endpoint!r}")
        self.host = parts.netloc
        signing = AwsSigningConfig(
            algorithm=AwsSigningAlgorithm.V4,
            signature_type=AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=AwsCredentialsProvider.new_static(access_key, secret_key),
            region=region,
            service="s3",
            signed_body_value="UNSIGNED-PAYLOAD",
        )
        self.client = S3Client(
            region=region,
            tls_mode=S3RequestTlsMode.DISABLED,
            signing_config=signing,
            throughput_target_gbps=throughput_target_gbps,
            part_size=part_size,
        )

    def _request(
        self, method: str, path: str, body: Any = None, length: int | None = None
    ) -> HttpRequest:
        headers = HttpHeaders([("Host", self.host)])
        if length is not None:
            headers.add("Content-Length", str(length))
        return HttpRequest(method, path, headers, body)

    @staticmethod
    def path(bucket: str, key: str = "") -> str:
        return "/" + bucket + ("/" + quote(key, safe="/~") if key else "")

    # -- single requests, returning the CRT's request (its finished_future says when done) --

    def get(self, bucket: str, key: str, on_body: BodyCallback = _discard) -> S3Request:
        return self.client.make_request(
            type=S3RequestType.GET_OBJECT,
            request=self._request("GET", self.path(bucket, key)),
            on_body=on_body,
        )

    def put(self, bucket: str, key: str, body: Any, length: int, crc32c: bool = False) -> S3Request:
        """Upload ``length`` bytes from ``body`` (bytes-like or a binary file object).

        ``crc32c``: send a CRC32C trailer (aws-chunked body), as s3torch does by default.
        """
        stream = body if hasattr(body, "read") else io.BytesIO(body)
        checksum = (
            S3ChecksumConfig(
                algorithm=S3ChecksumAlgorithm.CRC32C, location=S3ChecksumLocation.TRAILER
            )
            if crc32c
            else None
        )
        return self.client.make_request(
            type=S3RequestType.PUT_OBJECT,
            request=self._request("PUT", self.path(bucket, key), stream, length),
            checksum_config=checksum,
        )

    def call(
        self, operation: str, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Any other S3 request: returns (status, body); a non-2xx status raises."""
        status: list[int] = []
        received = bytearray()

        def on_headers(status_code: int, headers: Any, **_: Any) -> None:
            status.append(status_code)

        def on_body(chunk: Any, offset: int, **_: Any) -> None:
            received.extend(chunk)

        request = self.client.make_request(
            type=S3RequestType.DEFAULT,
            operation_name=operation,
            request=self._request(
                method,
                path,
                None if body is None else io.BytesIO(body),
                None if body is None else len(body),
            ),
            on_headers=on_headers,
            on_body=on_body,
        )
        request.finished_future.result()
        return (status[0] if status else 0), bytes(received)

    def create_bucket(self, bucket: str) -> None:
        try:
            self.call("CreateBucket", "PUT", self.path(bucket), b"")
        except Exception as err:  # an existing bucket is fine
            body = getattr(err, "body", b"") or b""
            if b"BucketAlreadyOwnedByYou" not in body and b"BucketAlreadyExists" not in body:
                raise

    def head_size(self, bucket: str, key: str) -> int:
        """An object's size from HeadObject (raises if it does not exist)."""
        sizes: list[int] = []

        def on_headers(status_code: int, headers: Any, **_: Any) -> None:
            sizes.extend(int(v) for k, v in headers if k.lower() == "content-length")

        request = self.client.make_request(
            type=S3RequestType.DEFAULT,
            operation_name="HeadObject",
            request=self._request("HEAD", self.path(bucket, key)),
            on_headers=on_headers,
        )
        request.finished_future.result()
        return sizes[0]

    def delete(self, bucket: str, key: str) -> None:
        self.call("DeleteObject", "DELETE", self.path(bucket, key))

    def list_pages(self, bucket: str, prefix: str) -> Iterator[list[tuple[str, int]]]:
        """ListObjectsV2 pages of (key, size), one request after another."""
        token: str | None = None
        while True:
            query = "list-type=2&prefix=" + quote(prefix, safe="")
            if token is not None:
                query += "&continuation-token=" + quote(token, safe="")
            _, body = self.call("ListObjectsV2", "GET", f"/{bucket}?{query}")
            root = ET.fromstring(body)
            page = [
                (item.findtext(_S3_NS + "Key", ""), int(item.findtext(_S3_NS + "Size", "0")))
                for item in root.iter(_S3_NS + "Contents")
            ]
            yield page
            if root.findtext(_S3_NS + "IsTruncated") != "true":
                return
            token = root.findtext(_S3_NS + "NextContinuationToken")

    def list_keys(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        return [item for page in self.list_pages(bucket, prefix) for item in page]

    def keys_listed_ahead(self, bucket: str, prefix: str) -> Generator[str, None, None]:
        """The keys under a prefix, listed on a thread of their own one page ahead of the
        caller, as the datasets list while they fetch. Closing the iterator stops the listing
        after the page in progress; a failed listing raises here."""
        pages: queue.Queue[list[tuple[str, int]] | BaseException | None] = queue.Queue(2)
        stop = threading.Event()

        def put(item: list[tuple[str, int]] | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def lister() -> None:
            try:
                for page in self.list_pages(bucket, prefix):
                    if not put(page):
                        return
            except BaseException as err:  # handed to the caller, raised there
                put(err)
            else:
                put(None)

        threading.Thread(target=lister, name="list-ahead", daemon=True).start()
        try:
            while (item := pages.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield from (key for key, _ in item)
        finally:
            stop.set()

    # -- many requests in flight --

    def run_window(self, starts: Iterable[Callable[[], S3Request]], window: int) -> int:
        """Start requests with at most ``window`` in flight; wait for all; return the count.

        Raises the first failure.
        """
        slots = threading.BoundedSemaphore(window)
        pending: list[Future[Any]] = []
        count = 0
        for start in starts:
            slots.acquire()
            future = start().finished_future
            future.add_done_callback(lambda _: slots.release())
            pending.append(future)
            count += 1
            if len(pending) >= 4 * window:  # drop what is done, raising failures early
                still = []
                for item in pending:
                    if item.done():
                        item.result()
                    else:
                        still.append(item)
                pending = still
        for item in pending:
            item.result()
        return count
