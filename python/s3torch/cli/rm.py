"""``s3torch rm``: delete an object, or every object under a prefix."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._client import S3Client
from .._errors import S3Exception
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    S3Location,
    add_client_options,
    add_command,
    add_concurrency_option,
    add_filter_options,
    as_folder_prefix,
    describe_error,
    human_size,
    is_selected,
    make_client,
    s3_uri_argument,
)
from ._jobs import JobPool
from ._progress import Progress

DEFAULT_CONCURRENCY = 16

_SUMMARY = "delete objects"
_DESCRIPTION = (
    "Delete the object s3://BUCKET/KEY or, with --recursive, every object\n"
    "under s3://BUCKET/PREFIX."
)
_EPILOG = """\
confirmation:
  Deleting more than one object asks first ("delete 12 objects (3.4 MiB) under
  s3://my-bucket/logs/? [y/N]"). --yes skips the question; without a terminal to ask on
  (a script, a pipe), s3torch refuses unless --yes is given. --dryrun shows what would be
  deleted and deletes nothing.

examples:
  s3torch rm s3://my-bucket/checkpoints/old.pt          # one object
  s3torch rm -r s3://my-bucket/scratch/                 # everything under scratch/
  s3torch rm -r s3://my-bucket/logs --exclude "*" --include "*.tmp" --yes
  s3torch rm -r --dryrun s3://my-bucket/datasets/v1/    # only show what would go

With --recursive, S3_URI is a folder: s3://my-bucket/logs means the keys under logs/
(not logs-old/...). Exit status 1 if any deletion failed (the others are still done).
"""


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = add_command(commands, "rm", _SUMMARY, _DESCRIPTION, _EPILOG, run)
    parser.add_argument(
        "uri", type=s3_uri_argument, metavar="S3_URI", help="s3://BUCKET/KEY or s3://BUCKET/PREFIX"
    )
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="delete every object under the prefix"
    )
    parser.add_argument(
        "--dryrun", action="store_true", help="print what would be deleted, delete nothing"
    )
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask before deleting more than one object",
    )
    add_concurrency_option(parser, default=DEFAULT_CONCURRENCY, what="deletions in flight")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_filter_options(parser)
    add_client_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    location: S3Location = args.uri
    client = make_client(args)
    keys, total_size, excluded = _plan(client, location, args)
    if not keys:
        if not args.quiet and excluded:
            print(f"Deleted 0 objects; {excluded} excluded by the filters", flush=True)
        return EXIT_OK
    if args.dryrun:
        for key in keys:
            print(f"(dryrun) delete: s3://{location.bucket}/{key}")
        sys.stdout.flush()
        return EXIT_OK
    if len(keys) > 1 and not args.yes:
        _confirm(len(keys), total_size, location)
    return _delete(client, location.bucket, keys, args)


def _plan(
    client: S3Client, location: S3Location, args: argparse.Namespace
) -> tuple[list[str], int, int]:
    """The keys to delete, their total size, and how many keys the filters left out."""
    filters: list[tuple[bool, str]] = args.filters
    if not args.recursive:
        if not location.key or location.key.endswith("/"):
            raise CommandError(
                f"{location.uri} is a prefix, not an object: use --recursive to delete "
                "what is under it"
            )
        # DELETE of a missing key succeeds in S3; say so rather than report a deletion.
        size = client.head_object(location.bucket, location.key).size
        if not is_selected(location.key.rsplit("/", 1)[-1], filters):
            return [], 0, 1
        return [location.key], size, 0
    prefix = as_folder_prefix(location.key)
    keys: list[str] = []
    total_size = excluded = 0
    for page in client.list_objects(location.bucket, prefix):
        for info in page.object_info:
            if is_selected(info.key[len(prefix) :], filters):
                keys.append(info.key)
                total_size += info.size
            else:
                excluded += 1
    if not keys and not excluded:
        raise CommandError(f"nothing found under s3://{location.bucket}/{prefix}")
    return keys, total_size, excluded


def _confirm(count: int, size: int, location: S3Location) -> None:
    where = f"s3://{location.bucket}/{as_folder_prefix(location.key)}"
    question = f"delete {count} objects ({human_size(size)}) under {where}?"
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise CommandError(
            f"refusing to {question[:-1]} without confirmation: there is no terminal to "
            "ask on; add --yes to delete them (or --dryrun to list them)"
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("nothing deleted")


def _delete(client: S3Client, bucket: str, keys: list[str], args: argparse.Namespace) -> int:
    quiet: bool = args.quiet
    failed = deleted = 0
    progress = Progress(False)
    pool = JobPool(args.concurrency, progress)

    def done(key: str, _: None) -> None:
        nonlocal deleted
        deleted += 1
        if not quiet:
            print(f"delete: s3://{bucket}/{key}")

    def failure(key: str, error: BaseException) -> None:
        nonlocal failed
        failed += 1
        text = describe_error(error)
        if not isinstance(error, S3Exception):
            text = f"delete of s3://{bucket}/{key} failed: {text}"
        print(f"s3torch: error: {text}", file=sys.stderr, flush=True)

    pool.run(lambda key: client.delete_object(bucket, key), keys, done, failure)
    if not quiet:
        noun = "object" if deleted == 1 else "objects"
        summary = f"Deleted {deleted} {noun}"
        if failed:
            summary += f"; {failed} failed"
        print(summary)
    sys.stdout.flush()
    return EXIT_FAILED if failed else EXIT_OK
