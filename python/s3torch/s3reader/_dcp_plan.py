"""What a distributed-checkpoint load fetches: the byte ranges of its plan, grouped into GETs.

Pure planning, no I/O: :mod:`s3torch.s3reader.dcp_optimized` reads what this plans, and
:class:`s3torch.dcp.S3StorageReader` names the checkpoint's files with the path helpers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from .._uri import parse_s3_uri

#: Ranges at most this far apart share one GET by default.
DEFAULT_MAX_GAP_SIZE = 32 * 1024 * 1024

GapSize = Union[int, float]


@dataclass
class ItemRange:
    """The bytes ``[start, end)`` of one blob (a tensor or a pickled object) in a file."""

    start: int
    end: int


@dataclass
class RangeGroup:
    """Neighbouring ranges read with one GET of ``[start, end)``.

    ``item_ranges`` are the ranges the group serves, in order, without overlaps (overlapping or
    repeated ranges are merged into one).
    """

    start: int
    end: int
    item_ranges: list[ItemRange] = field(default_factory=list)


def _check_gap_size(max_gap_size: Any) -> GapSize:
    if isinstance(max_gap_size, bool) or not isinstance(max_gap_size, (int, float)):
        raise TypeError(
            f"max_gap_size must be an int or float (bytes), not {type(max_gap_size).__name__}"
        )
    if not max_gap_size >= 0:  # also rejects NaN
        raise ValueError(f"max_gap_size must be non-negative, got {max_gap_size!r}")
    return max_gap_size


def coalesce_ranges(ranges: Iterable[ItemRange], max_gap_size: GapSize) -> list[RangeGroup]:
    """Group byte ranges into the GETs that fetch them.

    Empty ranges are dropped; the rest are sorted, overlapping or repeated ones are merged, and
    consecutive ranges at most ``max_gap_size`` bytes apart (``float("inf")``: any distance;
    ``0``: only touching ranges) share a group.

    Raises:
        ValueError: a range with a negative start or an end before its start; a negative
            ``max_gap_size``.
        TypeError: ``max_gap_size`` is not a number.
    """
    max_gap_size = _check_gap_size(max_gap_size)
    spans: list[ItemRange] = []
    for item in sorted(ranges, key=lambda r: (r.start, r.end)):
        if item.start < 0 or item.end < item.start:
            raise ValueError(f"invalid byte range {item.start}-{item.end}")
        if item.end == item.start:
            continue
        if spans and item.start < spans[-1].end:
            spans[-1] = ItemRange(spans[-1].start, max(spans[-1].end, item.end))
        else:
            spans.append(ItemRange(item.start, item.end))
    groups: list[RangeGroup] = []
    for span in spans:
        if groups and span.start - groups[-1].end <= max_gap_size:
            groups[-1].item_ranges.append(span)
            groups[-1].end = span.end
        else:
            groups.append(RangeGroup(span.start, span.end, [span]))
    return groups


def checkpoint_path(path: str | os.PathLike[str]) -> str:
    """``path`` as an ``s3://`` URI string. ``pathlib.Path`` turns ``s3://b/k`` into ``s3:/b/k``:
    that is mended."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"an S3 path must be a str or os.PathLike[str], not {type(text).__name__}")
    lowered = text[:4].lower()
    if lowered == "s3:/" and not text[:5].lower() == "s3://":
        text = text[:3] + "//" + text[4:]
    return text


def join_path(path: str | os.PathLike[str], suffix: str) -> str:
    """``suffix`` appended to the checkpoint ``path`` as a path segment (``os.path.join``
    style)."""
    base = checkpoint_path(path)
    return base + suffix if base.endswith("/") else f"{base}/{suffix}"


def _object_uri(path: str) -> str:
    bucket, key = parse_s3_uri(path)
    return f"s3://{bucket}/{key}"
