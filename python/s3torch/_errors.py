"""The exceptions s3torch raises.

Every failed S3 request raises a subclass of :class:`S3Exception`. Where a built-in exception
means the same thing, the class is also a subclass of it, so code that already handles
``FileNotFoundError`` or ``PermissionError`` keeps working::

    try:
        reader = client.get_object_stream("bucket", "missing.pt")
        reader.read()
    except FileNotFoundError as e:   # also s3torch.S3NoSuchKeyError
        print(e.bucket, e.key, e.status, e.request_id)

Bad arguments and bad configuration raise the built-in :class:`ValueError`.
"""

from __future__ import annotations

from typing import Any


class S3Exception(Exception):
    """A request to S3 failed.

    Attributes:
        operation: the S3 operation, e.g. ``"GetObject"``.
        bucket: the bucket the request was about, if any.
        key: the key (or prefix) the request was about, if any.
        status: the HTTP status of the response, if one arrived.
        code: the S3 error code, e.g. ``"NoSuchKey"``, if the server sent one.
        request_id: the server's request id, if known: quote it to your provider's support.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the attributes across pickling (DataLoader workers send exceptions to the parent).
        attributes = {
            "operation": self.operation,
            "bucket": self.bucket,
            "key": self.key,
            "status": self.status,
            "code": self.code,
            "request_id": self.request_id,
        }
        return (_rebuild, (type(self), str(self), attributes))


def _rebuild(cls: type[S3Exception], message: str, attributes: dict[str, Any]) -> S3Exception:
    return cls(message, **attributes)


class S3NoSuchBucketError(S3Exception, FileNotFoundError):
    """The bucket does not exist (or is not visible with these credentials and endpoint)."""


class S3NoSuchKeyError(S3Exception, FileNotFoundError):
    """No object exists under the key."""


class S3AccessDeniedError(S3Exception, PermissionError):
    """The credentials are valid but not allowed to do this (HTTP 403 AccessDenied)."""


class S3CredentialsError(S3Exception, PermissionError):
    """The request could not be signed or its signature was rejected: missing credentials,
    an unknown access key, a wrong secret key or an expired token."""


class S3WrongRegionError(S3Exception):
    """The bucket lives in another region than the client's and the request could not follow it
    (an upload that was the first request to the bucket, or a store that does not say where
    the bucket is): pass ``region=`` or set ``AWS_REGION``."""


class S3ThrottledError(S3Exception):
    """The service asked to slow down (HTTP 503 SlowDown) and the retries ran out."""


class S3NetworkError(S3Exception, ConnectionError):
    """No usable response arrived: the endpoint refused the connection, the connection broke,
    DNS failed, or TLS could not be established."""


class S3ChecksumError(S3Exception):
    """The data did not match its checksum: it was corrupted on the way."""


class S3PreconditionFailedError(S3Exception):
    """A conditional request's condition did not hold (HTTP 412), e.g. the object changed."""


class S3InvalidRangeError(S3Exception):
    """The byte range asked for lies outside the object (HTTP 416)."""


class S3CanceledError(S3Exception):
    """The request was canceled before it finished."""


class S3TimeoutError(S3Exception, TimeoutError):
    """An operation made no progress (no response headers, body bytes or completion) for
    ``S3ClientConfig.stall_timeout_s`` seconds, so it was canceled."""


__all__ = [
    "S3AccessDeniedError",
    "S3CanceledError",
    "S3ChecksumError",
    "S3CredentialsError",
    "S3Exception",
    "S3InvalidRangeError",
    "S3NetworkError",
    "S3NoSuchBucketError",
    "S3NoSuchKeyError",
    "S3PreconditionFailedError",
    "S3ThrottledError",
    "S3TimeoutError",
    "S3WrongRegionError",
]

# Shown as `s3torch.S3NoSuchKeyError` in tracebacks, where users import them from (and pickles
# find them there too).
for _name in __all__:
    globals()[_name].__module__ = "s3torch"
del _name
