"""The path rules of :class:`~s3torch.fsspec.S3TorchFileSystem`: the URL schemes it serves and
how a path (``bucket/key``, with or without a scheme in front) names a bucket and a key."""

from __future__ import annotations

from typing import Any

import fsspec  # type: ignore[import-untyped]

from .._uri import parse_s3_uri

PROTOCOLS = ("s3torch", "s3", "s3a")
"""URL schemes the filesystem strips: its own, and those it serves after :func:`register`."""


def strip_protocol(path: Any) -> str:
    """``path`` as ``bucket/key``: without its scheme (one of :data:`PROTOCOLS`), an fsspec
    ``s3torch::`` chain prefix, or slashes at either end."""
    text = fsspec.utils.stringify_path(path)
    if not isinstance(text, str):
        raise TypeError(f"an S3 path must be a str, not {type(text).__name__}")
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in PROTOCOLS:
            raise ValueError(
                f"{text!r} is a {scheme}:// URL: S3TorchFileSystem serves "
                "s3torch://, s3:// and s3a:// URLs and bucket/key paths"
            )
        text = rest
    elif text.startswith("s3torch::"):
        text = text[len("s3torch::") :]
    return text.lstrip("/").rstrip("/")


def split(path: Any, stripped: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``path``, given as ``stripped`` (:func:`strip_protocol`'s result);
    the key may be empty (the bucket itself)."""
    if not stripped:
        raise ValueError(
            f"{path!r} names no bucket: S3 paths are bucket/key (listing all buckets is not "
            "supported)"
        )
    try:
        return parse_s3_uri("s3://" + stripped)
    except ValueError as err:
        raise ValueError(f"invalid S3 path {path!r}: {err}") from None


def join(bucket: str, key: str) -> str:
    """The path of ``key`` in ``bucket``: ``bucket/key``, or ``bucket`` for an empty key."""
    return f"{bucket}/{key}" if key else bucket
