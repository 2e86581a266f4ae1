"""Parsing, building and validating ``s3://bucket/key`` URIs.

The rules here are deliberately strict so that a typo in a URI is reported
before any request is sent, while still accepting the bucket names that
S3-compatible stores (and old AWS buckets) use.

Bucket names are accepted when they follow **one** of two rules:

* *Standard names* consist only of lowercase ASCII letters, digits, ``.``
  and ``-``. They must be 3 to 63 characters long, start and end with a
  letter or digit, and must not be formatted like an IPv4 address (such as
  ``192.168.5.4``). These are the current AWS naming rules.
* *Legacy names* contain at least one uppercase ASCII letter or ``_``
  (allowed for old AWS buckets in us-east-1 and by S3-compatible stores such
  as Ceph or SeaweedFS). They may use ASCII letters of either case, digits,
  ``.``, ``-`` and ``_``, must be 1 to 255 characters long and must start
  and end with a letter or digit.

Object keys are kept verbatim: nothing is percent-decoded or normalised, so
spaces, ``%``, ``+``, non-ASCII text and repeated slashes are part of the
key. A key may be empty (meaning "the whole bucket", for example as a
listing prefix), must not contain NUL characters, and must be at most 1024
bytes long once UTF-8 encoded. A key that names one object (what the client's
``get_object``, ``put_object``, ``head_object``, ... take) must not be empty.

These are the rules of every layer: the URI parser, :class:`~s3torch.S3Client`
and the readers, writers and datasets all check bucket names and keys here.
The native core keeps only the invariants it relies on (a non-empty name
without ``/``, a key of at most :data:`MAX_KEY_BYTES` bytes), which these
rules imply.
"""

from __future__ import annotations

import functools
import re

# Largest object key S3 accepts, in bytes of its UTF-8 encoding: the native core's limit.
from ._core import MAX_KEY_BYTES

__all__ = [
    "MAX_KEY_BYTES",
    "has_control_character",
    "make_s3_uri",
    "parse_object_uri",
    "parse_s3_uri",
    "validate_bucket_name",
    "validate_key",
    "validate_object_key",
]

# Unicode category Cc: C0 controls, DEL and C1 controls. The native core's rule for text sent in
# headers is the same (Rust's char::is_control); tests/test_settings_contract.py pins that.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc), which cannot be sent
    in an HTTP header."""
    return _CONTROL.search(text) is not None


_SCHEMES = ("s3://", "S3://")

# ASCII-only character classes: ``\d`` and ``str.isalnum`` also match
# non-ASCII digits and letters, which S3 does not allow in bucket names.
_STANDARD_BUCKET = re.compile(r"[a-z0-9.\-]+")
_LEGACY_BUCKET = re.compile(r"[A-Za-z0-9._\-]+")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_IPV4_LIKE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")


# A job names a few buckets millions of times (every reader, every URI): remember the verdicts.
@functools.lru_cache(maxsize=1024)
def _bucket_problem(bucket: str) -> str | None:
    """Return why ``bucket`` is not a valid bucket name, or None if it is."""
    if not bucket:
        return "the bucket name is empty"
    if _STANDARD_BUCKET.fullmatch(bucket):
        if not 3 <= len(bucket) <= 63:
            return (
                f"bucket name must be 3 to 63 characters long, got {len(bucket)} "
                "(only names containing uppercase letters or '_' may be up to "
                "255 characters)"
            )
        if _IPV4_LIKE.fullmatch(bucket):
            return "bucket name must not be formatted like an IPv4 address"
    elif _LEGACY_BUCKET.fullmatch(bucket):
        if len(bucket) > 255:
            return f"bucket name must be at most 255 characters long, got {len(bucket)}"
    else:
        return "bucket name may only contain ASCII letters, digits, '.', '-' and '_'"
    if not (_ALNUM.fullmatch(bucket[0]) and _ALNUM.fullmatch(bucket[-1])):
        return "bucket name must start and end with a letter or digit"
    return None


def _key_problem(key: str) -> str | None:
    """Return why ``key`` is not a valid object key, or None if it is."""
    if "\x00" in key:
        return "key must not contain NUL characters"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "key cannot be encoded as UTF-8 (it contains lone surrogates)"
    if size > MAX_KEY_BYTES:
        return f"key must be at most {MAX_KEY_BYTES} bytes when UTF-8 encoded, got {size} bytes"
    return None


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def validate_bucket_name(bucket: str) -> None:
    """Check that ``bucket`` is an acceptable S3 bucket name.

    See the module documentation for the exact rules (standard AWS names,
    plus legacy names containing uppercase letters or ``_``).

    Args:
        bucket: The bucket name, without ``s3://`` or slashes.

    Raises:
        TypeError: If ``bucket`` is not a ``str``.
        ValueError: If the name breaks the naming rules; the message shows
            the name and the rule it breaks.
    """
    _require_str(bucket, "S3 bucket name")
    problem = _bucket_problem(bucket)
    if problem is not None:
        raise ValueError(f"invalid S3 bucket name {bucket!r}: {problem}")


def validate_key(key: str) -> None:
    """Check that ``key`` is an acceptable S3 object key.

    The empty key is accepted (it stands for the whole bucket, for example
    as a listing prefix).

    Args:
        key: The object key, taken verbatim (no decoding is applied).

    Raises:
        TypeError: If ``key`` is not a ``str``.
        ValueError: If the key contains NUL, cannot be UTF-8 encoded, or is
            longer than 1024 bytes once encoded.
    """
    _require_str(key, "S3 object key")
    problem = _key_problem(key)
    if problem is not None:
        raise ValueError(f"invalid S3 object key {key!r}: {problem}")


def validate_object_key(key: str) -> None:
    """Check that ``key`` can name one object: :func:`validate_key`, and not empty.

    Raises:
        TypeError: If ``key`` is not a ``str``.
        ValueError: If the key is empty, or :func:`validate_key` refuses it.
    """
    _require_str(key, "S3 object key")
    problem = "key must not be empty" if not key else _key_problem(key)
    if problem is not None:
        raise ValueError(f"invalid S3 object key {key!r}: {problem}")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split an ``s3://bucket/key`` URI into its bucket and key.

    The scheme may be written ``s3://`` or ``S3://``. Everything after the
    first ``/`` following the bucket is the key, taken verbatim: it is not
    percent-decoded, and spaces, ``+``, ``%``, non-ASCII text and ``//`` are
    kept as they are. ``s3://bucket`` and ``s3://bucket/`` both give the
    empty key.

    Examples:
        >>> parse_s3_uri("s3://my-bucket/data/shard-0001.tar")
        ('my-bucket', 'data/shard-0001.tar')
        >>> parse_s3_uri("s3://my-bucket")
        ('my-bucket', '')

    Args:
        uri: The URI to parse.

    Returns:
        A ``(bucket, key)`` tuple.

    Raises:
        TypeError: If ``uri`` is not a ``str``.
        ValueError: If ``uri`` does not start with ``s3://``, or its bucket
            name or key is invalid (see the module documentation). The
            message shows the URI and what is wrong with it.
    """
    _require_str(uri, "S3 URI")
    if not uri.startswith(_SCHEMES):
        raise ValueError(f"invalid S3 URI {uri!r}: must start with 's3://'")
    bucket, _, key = uri[len("s3://") :].partition("/")
    problem = _bucket_problem(bucket)
    if problem is None:
        problem = _key_problem(key)
    if problem is not None:
        raise ValueError(f"invalid S3 URI {uri!r}: {problem}")
    return bucket, key


def make_s3_uri(bucket: str, key: str) -> str:
    """Build an ``s3://bucket/key`` URI; the inverse of :func:`parse_s3_uri`.

    The result always contains the ``/`` after the bucket, so the empty key
    gives ``s3://bucket/``. The key is inserted verbatim (no
    percent-encoding), so ``parse_s3_uri(make_s3_uri(b, k)) == (b, k)``.

    Args:
        bucket: The bucket name.
        key: The object key (may be empty).

    Returns:
        The URI.

    Raises:
        TypeError: If ``bucket`` or ``key`` is not a ``str``.
        ValueError: If the bucket name or the key is invalid (see
            :func:`validate_bucket_name` and :func:`validate_key`).
    """
    validate_bucket_name(bucket)
    validate_key(key)
    return f"s3://{bucket}/{key}"


def parse_object_uri(uri: str) -> tuple[str, str]:
    """Split an ``s3://bucket/key`` URI that must name one object (a non-empty key).

    The same rules as :func:`parse_s3_uri`; this is the one check for every place that reads or
    writes a single object (checkpoints, readers, writers, the CLI's object arguments).

    Raises:
        TypeError: If ``uri`` is not a ``str``.
        ValueError: As :func:`parse_s3_uri`, or if the URI names a bucket or ends in no key.
    """
    bucket, key = parse_s3_uri(uri)
    if not key:
        raise ValueError(f"invalid S3 URI {uri!r}: it names a bucket, not an object (no key)")
    return bucket, key
