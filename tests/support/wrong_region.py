"""A loopback server that answers every request as AWS S3 answers one signed for the wrong region.

SeaweedFS accepts a signature for any region, so the wrong-region tests cannot use it.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import s3torch

# What AWS S3 answers a request signed for us-east-1 about a bucket in eu-west-1: a 301
# PermanentRedirect (classic path-style endpoint), or a 400 AuthorizationHeaderMalformed (a
# regional endpoint); both carry the bucket's region in x-amz-bucket-region. HEAD answers
# have no body.
PERMANENT_REDIRECT = (
    301,
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>PermanentRedirect</Code><Message>The "
    b"bucket you are attempting to access must be addressed using the specified endpoint."
    b"</Message><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>b</Bucket>"
    b"<RequestId>REQ301</RequestId></Error>",
)
HEADER_MALFORMED = (
    400,
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>AuthorizationHeaderMalformed</Code>"
    b"<Message>The authorization header is malformed; the region 'us-east-1' is wrong; "
    b"expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>REQ400</RequestId>"
    b"</Error>",
)


class WrongRegionHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer: tuple[int, bytes] = PERMANENT_REDIRECT

    def _reply(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        status, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("x-amz-bucket-region", "eu-west-1")
        self.send_header("x-amz-request-id", f"REQ{status}")
        self.send_header("content-type", "application/xml")
        if self.command == "HEAD":
            body = b""
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _reply

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wrong_region_server(answer: tuple[int, bytes]) -> Iterator[s3torch.S3Client]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WrongRegionHandler)
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = s3torch.S3ClientConfig(
            access_key_id="AKID", secret_access_key="secret", max_attempts=1
        )
        yield s3torch.S3Client(
            "us-east-1", endpoint=f"http://127.0.0.1:{server.server_port}", s3client_config=config
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
