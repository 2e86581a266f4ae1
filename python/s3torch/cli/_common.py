"""What the commands share: client options, locations, errors, number formatting.

The job pool the commands run their transfers on is in ``_jobs.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from .._client import S3Client
from .._config import MAX_ATTEMPTS_LIMIT, S3ClientConfig
from .._errors import S3Exception, S3NetworkError, S3TimeoutError
from .._uri import parse_s3_uri

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

KIB = 1024
MIB = 1024 * KIB


class CommandError(Exception):
    """A failure to report as one line on stderr (exit status 1)."""


# -- locations --------------------------------------------------------------


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/key``; ``key`` may be empty or end with ``/`` (a prefix)."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class LocalPath:
    """A local file or directory as the user wrote it; ``-`` is stdin or stdout."""

    path: str

    @property
    def is_stdio(self) -> bool:
        return self.path == "-"

    def __str__(self) -> str:
        return self.path


Location = Union[S3Location, LocalPath]


def s3_uri_argument(text: str) -> S3Location:
    """argparse type of an argument that must be an ``s3://`` URI."""
    try:
        bucket, key = parse_s3_uri(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return S3Location(bucket, key)


def location_argument(text: str) -> Location:
    """argparse type of an argument that is an ``s3://`` URI or a local path."""
    if text[:5].lower() == "s3://":
        return s3_uri_argument(text)
    if not text:
        raise argparse.ArgumentTypeError("a local path must not be empty")
    return LocalPath(text)


def add_command(
    commands: Any,
    name: str,
    summary: str,
    description: str,
    epilog: str,
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, carried out by ``run(args)`` (its exit status); its
    description and epilog keep their line breaks."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def add_concurrency_option(parser: argparse.ArgumentParser, *, default: int, what: str) -> None:
    """``-j/--concurrency N``: how many ``what`` (e.g. "files copied") run at once."""
    parser.add_argument(
        "-j",
        "--concurrency",
        type=positive_int,
        default=default,
        metavar="N",
        help=f"{what} at once (default {default})",
    )


def as_folder_prefix(key: str) -> str:
    """``data`` -> ``data/``; ``""`` and ``data/`` stay as they are."""
    return key if not key or key.endswith("/") else key + "/"


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KIB,
    "kb": 1000,
    "kib": KIB,
    "m": MIB,
    "mb": 1000**2,
    "mib": MIB,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}


def size_argument(text: str) -> int:
    """argparse type of a byte size: ``4096``, ``64KiB``, ``8M``, ``1.5GiB``, ``10MB``."""
    stripped = text.strip().replace("_", "")
    number = stripped.rstrip("bBiIkKmMgG")
    unit = stripped[len(number) :].lower()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _SIZE_UNITS or not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (examples: 4096, 64KiB, 8MiB, 1GiB, 10MB)"
        )
    return int(value * _SIZE_UNITS[unit])


def positive_size_argument(text: str) -> int:
    size = size_argument(text)
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 byte")
    return size


# -- --include / --exclude ---------------------------------------------------


class _AddFilter(argparse.Action):
    """Appends ``(include, pattern)`` to one list, so the order of the options is kept."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        filters = list(getattr(namespace, self.dest) or [])
        filters.append((self.const, values))
        setattr(namespace, self.dest, filters)


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """``--exclude`` / ``--include``, with the AWS CLI's meaning."""
    group = parser.add_argument_group(
        "filters",
        "Every file or object is selected unless a filter says otherwise. Filters apply in the\n"
        "order given and the last one that matches decides. Patterns match the path relative\n"
        "to SOURCE (the folder or prefix; for a single file or object, its name): * matches any\n"
        "characters including /, ? one character, [abc] one of the characters.",
    )
    for flag, include, verb in (("--exclude", False, "skip"), ("--include", True, "select")):
        group.add_argument(
            flag,
            action=_AddFilter,
            dest="filters",
            const=include,
            default=[],
            metavar="PATTERN",
            help=f"{verb} the paths that match PATTERN (repeatable)",
        )


def is_selected(relative: str, filters: list[tuple[bool, str]]) -> bool:
    """Whether ``relative`` (a path under the source, with ``/``) passes the filters."""
    selected = True
    for include, pattern in filters:
        if fnmatch.fnmatchcase(relative, pattern):
            selected = include
    return selected


# -- client options ---------------------------------------------------------


def add_debug_option(parser: argparse.ArgumentParser, *, default: object = False) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show the full traceback of an error",
    )


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """The aws-cli style options that say which S3 to talk to and how."""
    group = parser.add_argument_group(
        "S3 connection",
        "Settings not given here are found as the library finds them: AWS_REGION,\n"
        "AWS_ENDPOINT_URL(_S3), AWS_PROFILE, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,\n"
        "~/.aws/config and ~/.aws/credentials.",
    )
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="URL of an S3-compatible endpoint, e.g. http://127.0.0.1:8333",
    )
    group.add_argument("--region", help="region of the bucket, to sign requests for")
    group.add_argument("--profile", help="named profile of ~/.aws/config to use")
    group.add_argument(
        "--no-sign-request",
        action="store_true",
        help="send anonymous requests (public buckets)",
    )
    group.add_argument(
        "--force-path-style",
        action="store_true",
        help="address buckets as ENDPOINT/BUCKET/KEY (the default for custom endpoints)",
    )
    group.add_argument(
        "--max-attempts",
        type=positive_int,
        metavar="N",
        help=f"attempts per request, first one included (1 to {MAX_ATTEMPTS_LIMIT}, default 10; "
        "the CRT takes 1 as its own default of 4: use 2 to fail fast)",
    )
    group.add_argument(
        "--ca-bundle", metavar="PEM", help="CA certificates to trust instead of the system's"
    )


_endpoint_in_use: str | None = None
"""Where the command's client sends its requests: for messages about not reaching it."""


def forget_endpoint() -> None:
    """Start a command with no endpoint known (each call of ``main`` is a new command)."""
    global _endpoint_in_use
    _endpoint_in_use = None


def make_client(args: argparse.Namespace) -> S3Client:
    """An S3Client configured from the client options (and the environment)."""
    global _endpoint_in_use
    try:
        config = S3ClientConfig(
            unsigned=bool(args.no_sign_request),
            force_path_style=bool(args.force_path_style),
            profile=args.profile,
            ca_bundle=args.ca_bundle,
        )
        if args.max_attempts is not None:
            config = dataclasses.replace(config, max_attempts=args.max_attempts)
        client = S3Client(args.region, endpoint=args.endpoint_url, s3client_config=config)
    except (TypeError, ValueError) as err:
        raise CommandError(in_option_names(str(err))) from err
    _endpoint_in_use = (
        f"endpoint {client.endpoint}" if client.endpoint else f"AWS S3, region {client.region}"
    )
    return client


# The library's names for the settings that the CLI takes as options.
_OPTION_NAMES = (
    ("unsigned=True", "--no-sign-request"),
    ("S3ClientConfig.unsigned", "--no-sign-request"),
    ("S3ClientConfig.max_attempts", "--max-attempts"),
    ("max_attempts", "--max-attempts"),
    ("S3ClientConfig.ca_bundle", "--ca-bundle"),
    ("ca_bundle", "--ca-bundle"),
    ("S3ClientConfig.force_path_style", "--force-path-style"),
    ("force_path_style", "--force-path-style"),
    ("S3ClientConfig.profile", "--profile"),
    ("the endpoint argument", "--endpoint-url"),
)
_OPTION_NAME = re.compile("|".join(rf"\b{re.escape(name)}\b" for name, _ in _OPTION_NAMES))


def in_option_names(message: str) -> str:
    """``message`` with the library's setting names replaced by the CLI's options.

    Errors and hints are written for library users (``unsigned=True``); someone at a shell
    needs the flag that does the same (``--no-sign-request``).
    """
    options = dict(_OPTION_NAMES)
    return _OPTION_NAME.sub(lambda match: options[match.group(0)], message)


# -- errors -----------------------------------------------------------------


def describe_error(error: BaseException) -> str:
    """One line saying what went wrong, for ``s3torch: error: ...``."""
    if isinstance(error, S3Exception):
        text = in_option_names(str(error))
        if error.request_id and error.request_id not in text:
            text += f" (request id {error.request_id})"
        # A wrong endpoint is the usual cause: show which one was tried, unless the text does.
        reach = isinstance(error, (S3NetworkError, S3TimeoutError))
        if reach and _endpoint_in_use is not None and _endpoint_in_use.split()[-1] not in text:
            text += f" ({_endpoint_in_use})"
        return text
    if isinstance(error, OSError) and error.strerror:
        where = error.filename
        if where is None:
            return error.strerror
        text = f"{error.strerror}: {os.fsdecode(where)!r}"
        if error.filename2 is not None:
            text += f" -> {os.fsdecode(error.filename2)!r}"
        return text
    return str(error) or type(error).__name__


# -- formatting -------------------------------------------------------------


def human_size(size: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; below 1 KiB, ``"13 B"``."""
    if size < KIB:
        return f"{size:.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        size /= KIB
        if size < KIB or unit == "PiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def format_rate(size: int, seconds: float) -> str:
    """Bytes per second in MiB/s, with fewer decimals as the figure grows."""
    rate = size / MIB / seconds if seconds > 0 else 0.0
    decimals = 0 if rate >= 100 else 1 if rate >= 10 else 2
    return f"{rate:,.{decimals}f} MiB/s"
