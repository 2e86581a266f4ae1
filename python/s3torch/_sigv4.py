"""A minimal AWS Signature Version 4 signer for small S3 requests.

Two control-plane requests the native client does not make use it: the local
server (:class:`s3torch.testing.LocalS3Server`) creates buckets and checks that
it is ready, and ``s3torch ls`` with no URI lists buckets, with nothing but the
standard library. It signs the whole payload (``x-amz-content-sha256`` is the hex
SHA-256 of the body), uses path-style addressing (``/bucket/key``) and is
meant for control-plane requests with an empty or small body, such as
creating a bucket or listing buckets. It is not a general S3 client.

The signing steps follow the published SigV4 specification:

1. build the *canonical request* from the method, the URI-encoded path, the
   sorted and encoded query string, the lowercase sorted headers, the list of
   signed header names and the payload hash;
2. build the *string to sign* from the algorithm name, the request time, the
   credential scope (``date/region/service/aws4_request``) and the SHA-256 of
   the canonical request;
3. derive the signing key by chaining HMAC-SHA256 over the date, region,
   service and the literal ``aws4_request``, starting from ``"AWS4" + secret``;
4. send the hex HMAC of the string to sign in the ``Authorization`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

__all__ = [
    "ALGORITHM",
    "canonical_query_string",
    "canonical_uri",
    "sign_request_headers",
    "signed_request",
]

ALGORITHM = "AWS4-HMAC-SHA256"

if TYPE_CHECKING:
    from typing import TypeAlias

    #: Query parameters: a mapping, or a sequence of ``(name, value)`` pairs
    #: when a name repeats. ``None`` as a value means "no value" (``name=``).
    Query: TypeAlias = Mapping[str, str | None] | Iterable[tuple[str, str | None]]


def _uri_encode(text: str, *, keep_slash: bool) -> str:
    # SigV4 encodes every byte except the RFC 3986 unreserved characters
    # (A-Z a-z 0-9 - _ . ~) as %XY with uppercase hex; urllib.parse.quote
    # does exactly that for the characters it always treats as safe.
    return urllib.parse.quote(text, safe="/" if keep_slash else "")


def canonical_uri(path: str) -> str:
    """Return the encoded request path, as sent and as signed.

    *path* is the raw, unencoded path (``/bucket/key with spaces``). S3 encodes
    each path segment exactly once and keeps ``/`` as is, so the result is
    used both on the request line and in the canonical request.
    """
    if not path.startswith("/"):
        path = "/" + path
    return _uri_encode(path, keep_slash=True)


def _query_pairs(query: Query | None) -> list[tuple[str, str]]:
    if query is None:
        return []
    items = query.items() if isinstance(query, Mapping) else query
    return [(name, "" if value is None else value) for name, value in items]


def canonical_query_string(query: Query | None) -> str:
    """Return the encoded query string, sorted by name and then value.

    The same string is sent on the request line, so what the server sees is
    exactly what was signed.
    """
    encoded = sorted(
        (_uri_encode(name, keep_slash=False), _uri_encode(value, keep_slash=False))
        for name, value in _query_pairs(query)
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac_sha256(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac_sha256(key, region)
    key = _hmac_sha256(key, service)
    return _hmac_sha256(key, "aws4_request")


def _normalise_header_value(value: str) -> str:
    # Trim, and collapse runs of spaces inside the value to one space.
    return " ".join(value.strip().split())


def sign_request_headers(
    method: str,
    host: str,
    path: str,
    *,
    region: str,
    access_key: str,
    secret_key: str,
    payload_sha256: str,
    query: Query | None = None,
    headers: Mapping[str, str] | None = None,
    service: str = "s3",
    now: float | None = None,
) -> dict[str, str]:
    """Return the complete, signed header set for a request.

    The result contains *headers* plus ``Host``, ``x-amz-date``,
    ``x-amz-content-sha256`` and ``Authorization``; every header in it except
    ``Authorization`` is signed. Headers that an HTTP library adds on its own
    (``Content-Length``, ``Accept-Encoding``) stay unsigned, which servers
    accept: they verify only the headers listed as signed.

    *host* is the ``Host`` header value (``127.0.0.1:8333``), *path* the raw,
    unencoded path and *payload_sha256* the lowercase hex SHA-256 of the
    body. *now* fixes the signing time as seconds since the epoch; it
    defaults to the current time.
    """
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    date = amz_date[:8]

    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if name.lower() in (
            "authorization",
            "host",
            "x-amz-date",
            "x-amz-content-sha256",
        ):
            raise ValueError(f"header {name!r} is set by the signer")
        out[name] = value
    out["Host"] = host
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_sha256

    canonical_headers: dict[str, str] = {}
    for name, value in out.items():
        key = name.lower()
        if key in canonical_headers:
            raise ValueError(f"header {name!r} given twice")
        canonical_headers[key] = _normalise_header_value(value)
    names = sorted(canonical_headers)
    signed_headers = ";".join(names)

    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query_string(query),
            "".join(f"{name}:{canonical_headers[name]}\n" for name in names),
            signed_headers,
            payload_sha256,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    signature = hmac.new(
        _signing_key(secret_key, date, region, service),
        string_to_sign.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


def signed_request(
    method: str,
    endpoint: str,
    path: str,
    *,
    region: str,
    access_key: str,
    secret_key: str,
    body: bytes = b"",
    query: Query | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    """Send one SigV4-signed request and return ``(status, headers, body)``.

    *endpoint* is ``http://host:port`` (``https://`` also works); *path* is
    the raw path-style resource, for example ``/`` (ListBuckets),
    ``/my-bucket`` or ``/my-bucket/some key``; it is percent-encoded here.
    Response header names are returned in lowercase; the whole response body
    is read into memory. Connection errors propagate as :class:`OSError`.
    """
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint must look like http://host:port, got {endpoint!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"endpoint must not have a path or query, got {endpoint!r}")

    send_headers = sign_request_headers(
        method,
        parts.netloc,
        path,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
        payload_sha256=hashlib.sha256(body).hexdigest(),
        query=query,
        headers=headers,
    )
    target = canonical_uri(path)
    query_string = canonical_query_string(query)
    if query_string:
        target += "?" + query_string

    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=timeout)
    try:
        # Host is among send_headers, so http.client does not add its own.
        connection.request(method.upper(), target, body=body, headers=send_headers)
        response = connection.getresponse()
        data = response.read()
        response_headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, response_headers, data
    finally:
        connection.close()
