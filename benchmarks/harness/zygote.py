"""A parent for measured runs: it imports the clients once, then forks one child per run.

Importing torch, s3torch, s3torchconnector, boto3 and the peers takes seconds on a busy machine;
a full benchmark is well over a hundred runs. s3dlio is left to the child: its import starts
threads. The zygote imports them (and does nothing else: no client,
no thread, no torch operation, so that a fork is as clean as a fresh start), then for each line
``SPEC RESULT`` on its stdin forks a child that runs :func:`harness.worker.run_files` in a
process group of its own. It answers ``started PID`` at once and ``done PID STATUS`` when the
child exits. The runner kills a child's group when it overstays its time.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def _preload() -> None:
    import tarfile  # noqa: F401

    for name in (
        "torch",
        "torch.utils.data",
        "s3torch",
        "s3torchconnector",
        "s3torchconnector._s3client",
        "boto3",
        "botocore.config",
        "awscrt.s3",
        "obstore",
        "obstore.store",
        "webdataset.tariterators",
        "harness.workloads",
        "harness.datagen",
        "harness.crt",
        "harness.peers",
    ):
        with contextlib.suppress(ImportError):
            __import__(name)


def main() -> None:
    _preload()
    from harness import worker

    print("ready", flush=True)
    for line in sys.stdin:
        spec_path, result_path = line.split()
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            os.dup2(2, 1)  # stdout is the conversation with the runner: keep it clean
            try:
                worker.run_files(Path(spec_path), Path(result_path))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
        with contextlib.suppress(OSError):  # also here, so that the runner can kill the group
            os.setpgid(pid, pid)
        print(f"started {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"done {pid} {status}", flush=True)


if __name__ == "__main__":
    main()
