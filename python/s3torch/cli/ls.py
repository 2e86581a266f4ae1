"""``s3torch ls``: list the objects and prefixes under an S3 URI, or the buckets."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from .._datasets.listing import PartitionedListing
from ._common import (
    EXIT_OK,
    CommandError,
    S3Location,
    add_client_options,
    add_command,
    human_size,
    make_client,
    s3_uri_argument,
)

_SUMMARY = "list objects and prefixes, or the buckets"
_DESCRIPTION = (
    "List the objects (and, unless --recursive, the common prefixes) under\n"
    "s3://BUCKET/PREFIX, or the buckets when no URI is given."
)
_EPILOG = """\
output:
  DATE TIME  SIZE  NAME for each object, and  PRE NAME/  for each common prefix ("folder")
  when not --recursive. Names are shown relative to the folder of the URI; with
  --recursive, whole keys are shown. Without a URI, DATE TIME BUCKET for each bucket
  (DATE TIME is when it was created). Times are local.

examples:
  s3torch ls                                     # the buckets of the account
  s3torch ls s3://my-bucket                      # the top level of the bucket
  s3torch ls s3://my-bucket/datasets/            # one level under datasets/
  s3torch ls s3://my-bucket/datasets/train-      # names starting with train-
  s3torch ls -r -H --summarize s3://my-bucket/checkpoints/

A URI with a non-empty prefix under which nothing exists is an error (exit status 1).
"""


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = add_command(commands, "ls", _SUMMARY, _DESCRIPTION, _EPILOG, run)
    parser.add_argument(
        "uri",
        nargs="?",
        type=s3_uri_argument,
        metavar="S3_URI",
        help="s3://BUCKET or s3://BUCKET/PREFIX; none lists the buckets",
    )
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="list every key under the prefix"
    )
    parser.add_argument(
        "-H",
        "--human-readable",
        action="store_true",
        help="show sizes as KiB, MiB, GiB, ...",
    )
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="end with the number of objects listed and their total size",
    )
    add_client_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    location: S3Location | None = args.uri
    if location is None:
        return _list_buckets(args)
    client = make_client(args)
    # Without --recursive, names are shown relative to the "folder" the prefix is in.
    shown_from = 0 if args.recursive else location.key.rfind("/") + 1
    size_text = human_size if args.human_readable else str
    out = sys.stdout
    progress: ListingProgress | None = None
    pages: Iterable[Any]
    if args.recursive:
        # Every key: listed by key ranges in parallel, shown in key order as they arrive.
        progress = ListingProgress(sys.stderr, out)
        listing = PartitionedListing(
            client.list_objects,
            location.bucket,
            location.key,
            on_progress=progress,
            progress_every_s=progress.every_s,
        )
        pages = _pages_of(listing.rows())
    else:
        pages = client.list_objects(location.bucket, location.key, "/")
    try:
        objects, total_size, prefixes = _show(pages, out, shown_from, size_text)
    finally:
        if progress is not None:
            progress.done()
    if location.key and not objects and not prefixes:
        raise CommandError(f"nothing found under {location.uri}")
    if args.summarize:
        total = human_size(total_size) if args.human_readable else f"{total_size} bytes"
        out.write(f"\nTotal objects: {objects}\n   Total size: {total}\n")
    out.flush()
    return EXIT_OK


class _Page(NamedTuple):
    object_info: list[Any]
    common_prefixes: list[str]


def _pages_of(rows: Iterable[Any], size: int = 1000) -> Iterator[_Page]:
    """Listed rows as pages of ``ObjectInfo``-like rows (key, size, last_modified)."""
    rows = iter(rows)
    while True:
        batch = list(itertools.islice(rows, size))
        if not batch:
            return
        yield _Page(batch, [])


def _show(pages: Iterable[Any], out: Any, shown_from: int, size_text: Any) -> tuple[int, int, int]:
    """Write a line per object and common prefix of ``pages``; return how many objects (and
    their total size) and prefixes were shown."""
    objects = total_size = prefixes = 0
    for page in pages:
        lines: list[tuple[str, str]] = []
        for prefix in page.common_prefixes:
            prefixes += 1
            lines.append((prefix, f"{'PRE':>30} {prefix[shown_from:]}"))
        for info in page.object_info:
            name = info.key[shown_from:]
            if not name:
                continue  # the folder's own marker object (key == "folder/")
            objects += 1
            total_size += info.size
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.last_modified))
            lines.append((info.key, f"{when} {size_text(info.size):>10} {name}"))
        # S3 sorts keys and prefixes separately within a page; show them interleaved.
        lines.sort(key=lambda entry: entry[0])
        for _, line in lines:
            out.write(line + "\n")
    return objects, total_size, prefixes


class ListingProgress:
    """The running count of a long ``ls -r`` on stderr, never on stdout.

    On a terminal (when stdout is not that terminal's listing), one line rewritten in place
    twice a second; elsewhere (a log file), a line every :data:`SLOW_EVERY_S` seconds, so only
    a slow listing writes any. Called from the listing's threads with the keys so far.
    """

    SLOW_EVERY_S = 10.0

    def __init__(self, err: Any, out: Any) -> None:
        self._err = err
        self._tty = _isatty(err) and not _isatty(out)
        self.every_s = 0.5 if self._tty else self.SLOW_EVERY_S
        self._shown = False

    def __call__(self, count: int) -> None:
        if self._tty:
            self._err.write(f"\rlisting: {count:,} keys so far")
        else:
            self._err.write(f"s3torch ls: {count:,} keys listed so far\n")
        self._err.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the terminal's count line, if one was shown."""
        if self._tty and self._shown:
            self._err.write("\r\x1b[K")
            self._err.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _list_buckets(args: argparse.Namespace) -> int:
    # Loaded here: it brings http.client, ssl and XML, which listing objects does without.
    from ._buckets import list_buckets

    out = sys.stdout
    for bucket in list_buckets(
        endpoint=args.endpoint_url,
        region=args.region,
        profile=args.profile,
        unsigned=bool(args.no_sign_request),
        ca_bundle=args.ca_bundle,
        max_attempts=args.max_attempts,
    ):
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(bucket.created))
            if bucket.created is not None
            else f"{'-':<19}"
        )
        out.write(f"{when} {bucket.name}\n")
    out.flush()
    return EXIT_OK
