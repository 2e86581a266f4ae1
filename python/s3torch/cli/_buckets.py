"""ListBuckets for ``s3torch ls`` without a URI.

The native client speaks to buckets only, so this one service-level request is sent from
Python: signed by s3torch's small SigV4 signer and sent with :mod:`http.client`. It resolves
the endpoint, region and CA bundle as the library does, and reads credentials from the places
that hold them as plain keys: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and
``AWS_SESSION_TOKEN``) unless ``--profile`` names a profile, else the profile's section of the
shared credentials file and of the config file. Credentials that only a provider can produce
(SSO, ``credential_process``, an assumed role, an instance or container role) are refused with
a message that says what to do instead.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import os
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .._aws_config import (
    profile_section,
    read_config_section,
    resolve_ca_bundle,
    resolve_endpoint,
    resolve_profile,
    resolve_region,
)
from .._sigv4 import canonical_query_string, sign_request_headers
from ._common import CommandError

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_TIMEOUT_S = 30.0
_DEFAULT_ATTEMPTS = 3
# Profile settings that mean "credentials come from a provider", which this module cannot run.
_PROVIDER_SETTINGS = (
    "sso_session",
    "sso_start_url",
    "credential_process",
    "role_arn",
    "web_identity_token_file",
)


@dataclass(frozen=True)
class Bucket:
    name: str
    created: float | None
    """Seconds since the epoch, or None if the server did not say."""


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    session_token: str | None


def list_buckets(
    *,
    endpoint: str | None,
    region: str | None,
    profile: str | None,
    unsigned: bool,
    ca_bundle: str | None,
    max_attempts: int | None,
    environ: Mapping[str, str] = os.environ,
) -> Iterator[Bucket]:
    """The buckets of the account, page by page, in the order the server gives them."""
    try:
        url = resolve_endpoint(endpoint, profile, environ)
        signing_region = resolve_region(region, profile, environ)
    except (TypeError, ValueError) as err:
        raise CommandError(str(err)) from err
    if url is None:
        url = f"https://s3.{signing_region}.amazonaws.com"
    parts = urllib.parse.urlsplit(url)
    credentials = None if unsigned else _credentials(profile, environ)
    context = None
    if parts.scheme == "https":
        bundle = resolve_ca_bundle(ca_bundle, environ)
        try:
            context = ssl.create_default_context(cafile=bundle)
        except (OSError, ssl.SSLError) as err:
            raise CommandError(f"cannot read the CA bundle {bundle!r}: {err}") from err
    attempts = max_attempts or _DEFAULT_ATTEMPTS
    token: str | None = None
    while True:
        query: dict[str, str | None] | None = {"continuation-token": token} if token else None
        root = _request(parts, signing_region, credentials, context, query, attempts)
        for element in root.iter(f"{_NS}Bucket"):
            created = element.findtext(f"{_NS}CreationDate")
            yield Bucket(element.findtext(f"{_NS}Name", ""), _parse_time(created))
        token = root.findtext(f"{_NS}ContinuationToken")
        if not token:
            return


def _request(
    parts: urllib.parse.SplitResult,
    region: str,
    credentials: _Credentials | None,
    context: ssl.SSLContext | None,
    query: dict[str, str | None] | None,
    attempts: int,
) -> ET.Element:
    path = parts.path.rstrip("/") + "/"
    target = urllib.parse.quote(path)
    query_string = canonical_query_string(query)
    if query_string:
        target += "?" + query_string
    where = f"{parts.scheme}://{parts.netloc}"
    for attempt in range(1, attempts + 1):
        headers = {"Host": parts.netloc}
        if credentials is not None:
            extra = {}
            if credentials.session_token:
                extra["x-amz-security-token"] = credentials.session_token
            headers = sign_request_headers(
                "GET",
                parts.netloc,
                path,
                region=region,
                access_key=credentials.access_key,
                secret_key=credentials.secret_key,
                payload_sha256=hashlib.sha256(b"").hexdigest(),
                query=query,
                headers=extra,
            )
        connection: http.client.HTTPConnection
        if context is not None:
            connection = http.client.HTTPSConnection(
                parts.netloc, timeout=_TIMEOUT_S, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.netloc, timeout=_TIMEOUT_S)
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            status, body = response.status, response.read()
            request_id = response.getheader("x-amz-request-id")
        except ssl.SSLCertVerificationError as err:
            raise CommandError(
                f"ListBuckets on {where}: the server's TLS certificate did not verify "
                f"({err.verify_message}); see --ca-bundle"
            ) from err
        except (ConnectionRefusedError, socket.gaierror) as err:
            # Nothing listens there, or the name does not resolve: retrying will not help.
            raise CommandError(f"could not connect to {where}: {err.strerror or err}") from err
        except (OSError, http.client.HTTPException) as err:
            if attempt == attempts:
                raise CommandError(
                    f"ListBuckets on {where} failed after {attempts} attempts: {err}"
                ) from err
            time.sleep(0.2 * 2**attempt)
            continue
        finally:
            connection.close()
        if status == 200:
            try:
                return ET.fromstring(body)
            except ET.ParseError as err:
                raise CommandError(f"ListBuckets on {where}: the answer is not XML") from err
        if status >= 500 and attempt < attempts:
            time.sleep(0.2 * 2**attempt)
            continue
        raise CommandError(_describe_failure(where, status, body, request_id))
    raise AssertionError("unreachable")


def _describe_failure(where: str, status: int, body: bytes, request_id: str | None) -> str:
    code = message = None
    try:
        root = ET.fromstring(body)
        code, message = root.findtext("Code"), root.findtext("Message")
    except ET.ParseError:
        pass
    text = f"ListBuckets on {where} failed: HTTP {status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message}"
    if request_id:
        text += f" (request id {request_id})"
    if status == 403 and code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        text += "; listing buckets needs the s3:ListAllMyBuckets permission and valid credentials"
    return text


def _credentials(profile: str | None, environ: Mapping[str, str]) -> _Credentials:
    # As in the library (and boto3): keys in the environment win over a profile named only by
    # AWS_PROFILE; a profile named with --profile wins over them.
    access_key = (environ.get("AWS_ACCESS_KEY_ID") or "").strip()
    secret_key = (environ.get("AWS_SECRET_ACCESS_KEY") or "").strip()
    if profile is None and access_key and secret_key:
        token = (environ.get("AWS_SESSION_TOKEN") or "").strip() or None
        return _Credentials(access_key, secret_key, token)
    name = resolve_profile(profile, environ) or "default"
    credentials_file = environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    config_file = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    for path, section in ((credentials_file, name), (config_file, profile_section(name))):
        settings = read_config_section(os.path.expanduser(path), section)
        key_id = settings.get("aws_access_key_id")
        secret = settings.get("aws_secret_access_key")
        if key_id and secret:
            return _Credentials(key_id, secret, settings.get("aws_session_token") or None)
        provider = next((s for s in _PROVIDER_SETTINGS if settings.get(s)), None)
        if provider is not None:
            raise CommandError(
                f"profile {name!r} gets its credentials through {provider}, which listing "
                "buckets does not support: export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
                "and AWS_SESSION_TOKEN (e.g. from `aws configure export-credentials "
                "--format env`), or name a bucket: s3torch ls s3://BUCKET"
            )
    raise CommandError(
        "no credentials found to list buckets: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or keys in ~/.aws/credentials (--profile to pick one), or "
        "use --no-sign-request; instance and container roles are not read here: name a "
        "bucket instead (s3torch ls s3://BUCKET)"
    )


def _parse_time(text: str | None) -> float | None:
    # S3 writes 2024-05-01T12:34:56.000Z; a server that writes something else gets no date.
    if not text:
        return None
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()
