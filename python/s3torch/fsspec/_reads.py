"""How :class:`~s3torch.fsspec.S3TorchFileSystem` reads bytes without opening a file:
``cat_file``, ``cat_ranges`` and ``cat``, with byte ranges resolved as fsspec's (negative
offsets count from the end) and many GETs in flight at once.

The bound on GETs in flight (``max_concurrency`` of them, 256 MiB of ranges) is kept by
:class:`~s3torch._datasets.prefetch.Prefetcher`, which hands the bodies back in request order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._core import GetObjectStream
from .._datasets.prefetch import Prefetcher
from .._errors import S3InvalidRangeError
from ._listing import directories, has_children

if TYPE_CHECKING:
    from ._filesystem import S3TorchFileSystem

_MAX_BYTES_IN_FLIGHT = 256 * 1024 * 1024
_UNKNOWN_SIZE = 1024 * 1024  # weight of a whole-object GET of unknown size in the in-flight bound


def read_stream(fs: S3TorchFileSystem, path: str, stream: GetObjectStream) -> bytes:
    """The whole body of a GET of ``path``, with S3's errors made those of a file read."""
    try:
        return stream.read()
    except S3InvalidRangeError:
        return b""  # a range that starts at or past the end, as a file read there
    except FileNotFoundError:
        bucket, key = fs._split(path)
        if key and has_children(fs.client, bucket, key):
            raise IsADirectoryError(f"{path!r} is a directory, not a file") from None
        raise


def resolve_range(
    fs: S3TorchFileSystem, path: str, start: Any, end: Any, size: list[int]
) -> tuple[int | None, int | None]:
    """Negative offsets count from the end (one HEAD, shared through ``size``)."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if (start is not None and start < 0) or (end is not None and end < 0):
        if not size:
            size.append(int(fs.info(path)["size"]))
        if start is not None and start < 0:
            start = max(0, size[0] + start)
        if end is not None and end < 0:
            end = max(0, size[0] + end)
    if start is not None and end is not None and start > end:
        raise ValueError(f"inverted byte range for {path!r}: start={start} is after end={end}")
    if start == 0:
        start = None
    return start, end


def cat_file(fs: S3TorchFileSystem, path: str, start: Any, end: Any) -> bytes:
    bucket, key = fs._split(path)
    start, end = resolve_range(fs, path, start, end, [])
    if start is not None and end is not None and start == end:
        return b""
    return fs._read_stream(path, fs._start_get(bucket, key, start, end))


def fetch_many(
    fs: S3TorchFileSystem, requests: Sequence[tuple[str, int | None, int | None]], on_error: str
) -> list[Any]:
    """Fetch ``(path, start, end)`` requests with up to ``max_concurrency`` GETs in flight;
    results (bytes, or the exception when ``on_error`` is not ``"raise"``) in order."""

    def open_request(index: int) -> Any:
        path, start, end = requests[index]
        try:
            if start is not None and end is not None and start >= end:
                return b""
            bucket, key = fs._split(path)
            return fs._start_get(bucket, key, start, end)
        except Exception as err:  # reported in order, with the others
            return err

    def weight(index: int) -> int:
        _, start, end = requests[index]
        return -1 if end is None else end - (start or 0)

    results: list[Any] = []
    in_order = Prefetcher(
        range(len(requests)),
        open_request,
        weight,
        max_objects=fs.max_concurrency,
        max_bytes=_MAX_BYTES_IN_FLIGHT,
        unknown_size=_UNKNOWN_SIZE,
    )
    try:
        for index, opened in enumerate(in_order):
            try:
                if isinstance(opened, Exception):
                    raise opened
                if isinstance(opened, bytes):
                    results.append(opened)
                else:
                    results.append(fs._read_stream(requests[index][0], opened))
            except Exception as err:
                if on_error == "raise":
                    raise
                results.append(err)
    finally:
        in_order.close()
    return results


def cat_ranges(
    fs: S3TorchFileSystem,
    paths: list[str],
    starts: int | list[int | None] | None,
    ends: int | list[int | None] | None,
    max_gap: int | None,
    on_error: str,
) -> list[Any]:
    if max_gap is not None:
        raise NotImplementedError("max_gap is not supported: each range is its own GET")
    if not isinstance(paths, list):
        raise TypeError(f"paths must be a list, not {type(paths).__name__}")
    if on_error not in ("raise", "return"):
        raise ValueError(f"on_error={on_error!r}: must be 'raise' or 'return'")
    starts_list = starts if isinstance(starts, list) else [starts] * len(paths)
    ends_list = ends if isinstance(ends, list) else [ends] * len(paths)
    if len(starts_list) != len(paths) or len(ends_list) != len(paths):
        raise ValueError(
            f"cat_ranges got {len(paths)} paths, {len(starts_list)} starts and "
            f"{len(ends_list)} ends: they must be as many"
        )
    sizes: dict[str, list[int]] = {}
    requests = []
    for index, (path, start, end) in enumerate(zip(paths, starts_list, ends_list)):
        try:
            resolved = resolve_range(fs, path, start, end, sizes.setdefault(path, []))
        except ValueError as err:
            raise ValueError(f"cat_ranges range {index}: {err}") from None
        requests.append((path, *resolved))
    return fetch_many(fs, requests, on_error)


def cat(fs: S3TorchFileSystem, path: Any, recursive: bool, on_error: str) -> Any:
    if on_error not in ("raise", "omit", "return"):
        raise ValueError(f"on_error={on_error!r}: must be 'raise', 'omit' or 'return'")
    paths = fs.expand_path(path, recursive=recursive)
    if len(paths) == 1 and not isinstance(path, list) and paths[0] == fs._strip_protocol(path):
        return fs.cat_file(paths[0])
    if recursive:
        # expand_path lists the directories too: only objects have contents.
        listed = sorted(paths)
        skipped = set(directories(listed))
        paths = [p for p in listed if p not in skipped]
    results = fetch_many(
        fs, [(p, None, None) for p in paths], "raise" if on_error == "raise" else "return"
    )
    out: dict[str, Any] = {}
    for p, result in zip(paths, results):
        if isinstance(result, Exception) and on_error == "omit":
            continue
        out[p] = result
    return out
