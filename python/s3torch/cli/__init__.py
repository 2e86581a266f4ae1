"""The ``s3torch`` command: ``ls``, ``cp``, ``rm``, ``bench`` and ``server``.

Run ``s3torch --help`` (or ``python -m s3torch --help``) for the commands, and
``s3torch COMMAND --help`` for each command's options.

Exit status: 0 on success, 1 when an operation failed, 2 for a usage error, 130 when
interrupted (Ctrl-C). When the reader of the output goes away (``s3torch ls ... | head``), the
command stops quietly with status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from .. import _core
from .._errors import S3Exception
from . import bench, cp, ls, rm, server
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
    add_debug_option,
    describe_error,
    forget_endpoint,
)

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
List, copy, delete and benchmark objects on Amazon S3 or any S3-compatible store, and run a
local S3 server for experiments.
"""

_EPILOG = """\
examples:
  s3torch ls s3://my-bucket/datasets/
  s3torch cp --recursive ./shards s3://my-bucket/datasets/shards/
  s3torch rm --recursive s3://my-bucket/scratch/
  s3torch bench s3://my-bucket/scratch --endpoint-url http://127.0.0.1:8333
  s3torch server --bucket data

Connection settings come from the options of each command or, as for the library, from
AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, the credentials variables and ~/.aws.
Exit status: 0 success, 1 an operation failed, 2 usage error, 130 interrupted.
"""

_COMMANDS = (ls, cp, rm, bench, server)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``s3torch`` command, with all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="s3torch",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"s3torch {_core.__version__}")
    add_debug_option(parser)
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    for command in _COMMANDS:
        sub = command.add_parser(commands)
        # After the command too (`s3torch ls --debug ...`), without resetting a --debug that
        # came before it.
        add_debug_option(sub, default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``s3torch`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status instead of exiting, also for ``--help`` and usage errors.
    """
    forget_endpoint()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return _exit_code(exit_)
    except BrokenPipeError:  # `s3torch --help | head`
        _silence_stdout()
        return EXIT_OK
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        _report("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`s3torch ls ... | head`): it has what it wanted,
        # so, as for other Unix tools in a pipeline, that is neither an error nor worth a word.
        _silence_stdout()
        return EXIT_OK
    except SystemExit as exit_:
        return _exit_code(exit_)
    except (CommandError, S3Exception, OSError, ValueError, RuntimeError) as error:
        if args.debug:
            traceback.print_exc()
        _report(describe_error(error))
        return EXIT_FAILED
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        _report(
            f"unexpected {type(error).__name__}: {describe_error(error)} "
            "(run with --debug for the traceback)"
        )
        return EXIT_FAILED


def _exit_code(exit_: SystemExit) -> int:
    code = exit_.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_FAILED


def _report(message: str) -> None:
    try:
        print(f"s3torch: error: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    # Point stdout at /dev/null so that the interpreter's final flush does not fail again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
