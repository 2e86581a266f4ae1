"""``s3torch cp``: copy files and folders between the local disk and S3 (or S3 and S3).

One command, one module: its options, the plan of copies and the copier that runs them change
together, and the parts every command shares already live in ``_common.py`` and ``_jobs.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._client import S3Client
from .._errors import S3Exception
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    MIB,
    CommandError,
    LocalPath,
    Location,
    S3Location,
    add_client_options,
    add_command,
    add_concurrency_option,
    add_filter_options,
    as_folder_prefix,
    describe_error,
    format_rate,
    human_size,
    is_selected,
    location_argument,
    make_client,
)
from ._jobs import JobPool, Stopwatch
from ._progress import Progress, wants_progress

_CHUNK = 4 * MIB
"""Bytes read from a local file per write to an upload."""

DEFAULT_CONCURRENCY = 8

_SUMMARY = "copy files and folders to, from and between S3 locations"
_DESCRIPTION = (
    "Copy a local file or folder to S3, an object or prefix from S3 to the\n"
    "local disk, or objects from S3 to S3 (server-side)."
)
_EPILOG = """\
destinations:
  A destination ending in "/" (or an existing local folder) means "into this folder": the
  source's name is added. With --recursive, the files under a local folder become the keys
  under the destination prefix (their relative paths, with "/"), and the objects under an
  S3 prefix become the files under the destination folder.

examples:
  s3torch cp model.pt s3://my-bucket/checkpoints/           # -> checkpoints/model.pt
  s3torch cp s3://my-bucket/checkpoints/model.pt .          # -> ./model.pt
  s3torch cp -r ./shards s3://my-bucket/datasets/shards     # a whole folder
  s3torch cp -r s3://my-bucket/datasets/shards ./shards --concurrency 32
  s3torch cp s3://my-bucket/a.tar s3://other-bucket/a.tar   # server-side copy
  tar c data | s3torch cp - s3://my-bucket/data.tar         # from stdin
  s3torch cp s3://my-bucket/data.tar - | tar x              # to stdout
  s3torch cp -r ./run s3://my-bucket/runs/7 --exclude "*" --include "*.pt"

Downloads are written to a temporary file next to the destination and renamed when
complete; an upload that fails is aborted. Neither leaves a partial file or object.
Exit status 1 if any copy failed (the others are still done).
"""


@dataclass(frozen=True)
class _Copy:
    """One file or object to copy."""

    source: str  # a local path or a key of the source bucket
    destination: str  # a local path or a key of the destination bucket
    size: int


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = add_command(commands, "cp", _SUMMARY, _DESCRIPTION, _EPILOG, run)
    parser.add_argument(
        "source",
        type=location_argument,
        metavar="SOURCE",
        help='a local file or folder, s3://BUCKET/KEY or PREFIX, or "-" for stdin',
    )
    parser.add_argument(
        "destination",
        type=location_argument,
        metavar="DESTINATION",
        help='a local path, s3://BUCKET/KEY or PREFIX, or "-" for stdout',
    )
    parser.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="copy a whole folder, or every object under a prefix",
    )
    add_concurrency_option(parser, default=DEFAULT_CONCURRENCY, what="files copied")
    parser.add_argument(
        "--no-progress", action="store_true", help="do not draw a progress bar on stderr"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_filter_options(parser)
    add_client_options(parser)
    parser.set_defaults(parser=parser)
    return parser


def run(args: argparse.Namespace) -> int:
    source: Location = args.source
    destination: Location = args.destination
    parser: argparse.ArgumentParser = args.parser
    if isinstance(source, LocalPath) and isinstance(destination, LocalPath):
        parser.error("SOURCE or DESTINATION must be an s3:// URI")
    streams = [loc for loc in (source, destination) if isinstance(loc, LocalPath) and loc.is_stdio]
    if streams and args.recursive:
        parser.error('"-" (stdin or stdout) copies a single object: it cannot be --recursive')
    if streams and args.filters:
        parser.error(
            '"-" (stdin or stdout) copies a single object: --include/--exclude do not apply'
        )

    client = make_client(args)
    if isinstance(source, LocalPath) and source.is_stdio:
        assert isinstance(destination, S3Location)
        return _upload_stdin(client, destination, args.quiet)
    if isinstance(destination, LocalPath) and destination.is_stdio:
        assert isinstance(source, S3Location)
        return _download_stdout(client, source)
    return _Copier(client, source, destination, args).run()


class _Copier:
    """Plans the copies, runs them on a pool of threads, and reports."""

    def __init__(
        self,
        client: S3Client,
        source: Location,
        destination: Location,
        args: argparse.Namespace,
    ) -> None:
        self.client = client
        self.source = source
        self.destination = destination
        self.recursive: bool = args.recursive
        self.quiet: bool = args.quiet
        self.progress = Progress(wants_progress(args.no_progress))
        self.pool = JobPool(args.concurrency, self.progress)
        self.out = sys.stdout
        self.copied = 0
        self.copied_bytes = 0
        self.failed = 0
        self.excluded = 0
        self.filters: list[tuple[bool, str]] = args.filters
        self._file_mode = _new_file_mode()

    # -- planning -----------------------------------------------------------

    def plan(self) -> list[_Copy]:
        source, destination = self.source, self.destination
        if isinstance(source, LocalPath):
            assert isinstance(destination, S3Location)
            if self.recursive:
                return list(self._plan_folder_upload(source.path, destination.key))
            return self._selected([self._plan_file_upload(source.path, destination.key)])
        if self.recursive:
            return self._plan_prefix_copies(source, destination)
        return self._selected([self._plan_object_copy(source, destination)])

    def _selected(self, single: list[_Copy]) -> list[_Copy]:
        # A single file or object is matched by its name, as if its folder were the source.
        name = single[0].source.replace(os.sep, "/").rsplit("/", 1)[-1]
        if is_selected(name, self.filters):
            return single
        self.excluded += 1
        return []

    def _plan_file_upload(self, path: str, key: str) -> _Copy:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise CommandError(f"{path!r} is a folder: use --recursive to copy it")
        if not key or key.endswith("/"):
            key += os.path.basename(os.path.normpath(path))
        return _Copy(path, key, info.st_size)

    def _plan_folder_upload(self, folder: str, prefix: str) -> Iterator[_Copy]:
        if not os.path.isdir(folder):
            os.stat(folder)  # a clear "No such file or directory" if it does not exist
            raise CommandError(f"{folder!r} is not a folder (drop --recursive to copy a file)")
        prefix = as_folder_prefix(prefix)

        def fail(error: OSError) -> None:
            raise error

        for here, folders, files in os.walk(folder, onerror=fail):
            folders.sort()
            for name in sorted(files):
                path = os.path.join(here, name)
                relative = os.path.relpath(path, folder).replace(os.sep, "/")
                if not is_selected(relative, self.filters):
                    self.excluded += 1
                    continue
                try:
                    info = os.stat(path)
                except OSError as error:
                    self._fail(f"cannot read {path!r}: {describe_error(error)}")
                    continue
                if not stat.S_ISREG(info.st_mode):
                    self._fail(f"skipped {path!r}: not a regular file")
                    continue
                yield _Copy(path, prefix + relative, info.st_size)

    def _plan_object_copy(self, source: S3Location, destination: Location) -> _Copy:
        if not source.key or source.key.endswith("/"):
            raise CommandError(
                f"{source.uri} is a prefix, not an object: use --recursive to copy what is under it"
            )
        size = self.client.head_object(source.bucket, source.key).size
        name = source.key.rsplit("/", 1)[-1]
        if isinstance(destination, S3Location):
            key = destination.key
            if not key or key.endswith("/"):
                key += name
            return _Copy(source.key, key, size)
        path = destination.path
        if path.endswith(("/", os.sep)) or os.path.isdir(path):
            path = os.path.join(path, name)
        return _Copy(source.key, path, size)

    def _plan_prefix_copies(self, source: S3Location, destination: Location) -> list[_Copy]:
        prefix = as_folder_prefix(source.key)
        copies: list[_Copy] = []
        for page in self.client.list_objects(source.bucket, prefix):
            for info in page.object_info:
                relative = info.key[len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue  # folder marker objects
                if not is_selected(relative, self.filters):
                    self.excluded += 1
                    continue
                if isinstance(destination, S3Location):
                    target = as_folder_prefix(destination.key) + relative
                else:
                    parts = relative.split("/")
                    if any(part in ("", ".", "..") for part in parts):
                        self._fail(
                            f"skipped s3://{source.bucket}/{info.key}: its key cannot be a "
                            "local path (empty, '.' or '..' segment)"
                        )
                        continue
                    target = os.path.join(destination.path, *parts)
                copies.append(_Copy(info.key, target, info.size))
        if not copies and not self.failed and not self.excluded:
            raise CommandError(f"nothing found under s3://{source.bucket}/{prefix}")
        return copies

    # -- running ------------------------------------------------------------

    def run(self) -> int:
        copies = self.plan()
        total = sum(copy.size for copy in copies)
        self.progress.begin("", total_bytes=total, total_items=len(copies))
        self.progress.render(force=True)
        clock = Stopwatch()
        try:
            self.pool.run(self._copy_one, copies, self._done, self._failed)
        finally:
            self.progress.clear()
        if not self.quiet:
            seconds = clock.elapsed
            noun = "file" if self.copied == 1 else "files"
            summary = (
                f"Copied {self.copied} {noun} ({human_size(self.copied_bytes)}) in "
                f"{seconds:.2f} s: {format_rate(self.copied_bytes, seconds)}"
            )
            if self.failed:
                summary += f"; {self.failed} failed"
            if self.excluded:
                summary += f"; {self.excluded} excluded by the filters"
            print(summary, file=self.out, flush=True)
        return EXIT_FAILED if self.failed else EXIT_OK

    def _copy_one(self, copy: _Copy) -> None:
        source, destination = self.source, self.destination
        if isinstance(source, LocalPath):
            assert isinstance(destination, S3Location)
            self._upload(copy.source, destination.bucket, copy.destination)
        elif isinstance(destination, LocalPath):
            self._download(source.bucket, copy.source, copy.destination)
        else:
            self.client.copy_object(
                source.bucket, copy.source, destination.bucket, copy.destination
            )
            self.progress.add(copy.size)

    def _upload(self, path: str, bucket: str, key: str) -> None:
        chunk = bytearray(_CHUNK)
        view = memoryview(chunk)
        with open(path, "rb") as file, self.client.put_object(bucket, key) as writer:
            while True:
                self.pool.check()
                count = file.readinto(chunk)
                if not count:
                    break
                writer.write(view[:count])
                self.progress.add(count)

    def _download(self, bucket: str, key: str, path: str) -> None:
        stream = self.client.get_object_stream(bucket, key)
        try:
            # The first part comes before anything is created locally: a missing key or
            # bucket leaves no trace.
            part = next(stream, None)
            folder = os.path.dirname(path) or "."
            os.makedirs(folder, exist_ok=True)
            handle, partial = tempfile.mkstemp(prefix=".s3torch-", suffix=".part", dir=folder)
            try:
                with open(handle, "wb") as file:
                    while part is not None:
                        self.pool.check()
                        file.write(part)
                        self.progress.add(len(part))
                        part = next(stream, None)
                os.chmod(partial, self._file_mode)
                os.replace(partial, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise
        finally:
            stream.close()

    def _done(self, copy: _Copy, _: None) -> None:
        self.copied += 1
        self.copied_bytes += copy.size
        self.progress.item_done()
        if not self.quiet:
            verb, source, destination = self._describe(copy)
            self.progress.print(f"{verb}: {source} to {destination}", self.out)

    def _failed(self, copy: _Copy, error: BaseException) -> None:
        self.progress.item_done()
        if isinstance(error, S3Exception):
            self._fail(describe_error(error))
        else:
            verb, source, destination = self._describe(copy)
            self._fail(f"{verb} of {source} to {destination} failed: {describe_error(error)}")

    def _fail(self, message: str) -> None:
        self.failed += 1
        self.progress.print(f"s3torch: error: {message}", sys.stderr)

    def _describe(self, copy: _Copy) -> tuple[str, str, str]:
        source, destination = self.source, self.destination
        if isinstance(source, LocalPath):
            assert isinstance(destination, S3Location)
            return "upload", copy.source, f"s3://{destination.bucket}/{copy.destination}"
        if isinstance(destination, LocalPath):
            return "download", f"s3://{source.bucket}/{copy.source}", copy.destination
        return (
            "copy",
            f"s3://{source.bucket}/{copy.source}",
            f"s3://{destination.bucket}/{copy.destination}",
        )


def _upload_stdin(client: S3Client, destination: S3Location, quiet: bool) -> int:
    if not destination.key or destination.key.endswith("/"):
        raise CommandError(f"copying stdin needs an object key, not the prefix {destination.uri}")
    clock = Stopwatch()
    stdin = sys.stdin.buffer
    size = 0
    with client.put_object(destination.bucket, destination.key) as writer:
        while True:
            chunk = stdin.read(_CHUNK)
            if not chunk:
                break
            writer.write(chunk)
            size += len(chunk)
    if not quiet:
        seconds = clock.elapsed
        print(
            f"upload: - to {destination.uri}\nCopied 1 file ({human_size(size)}) in "
            f"{seconds:.2f} s: {format_rate(size, seconds)}",
            flush=True,
        )
    return EXIT_OK


def _download_stdout(client: S3Client, source: S3Location) -> int:
    if not source.key or source.key.endswith("/"):
        raise CommandError(f"{source.uri} is a prefix, not an object")
    stdout = sys.stdout.buffer
    stream = client.get_object_stream(source.bucket, source.key)
    try:
        for part in stream:
            stdout.write(part)
    finally:
        stream.close()
    stdout.flush()
    return EXIT_OK


def _new_file_mode() -> int:
    """The permissions a newly created file gets (0o666 less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
