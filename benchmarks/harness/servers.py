"""The S3 servers the benchmarks run against, on loopback.

- ``localbucket`` (PyPI, pinned in the Makefile): a small threaded Python server that keeps
  objects as files. It is light, so what is measured is mostly the client. It does not check
  credentials, checksums or signatures.
- ``seaweedfs``: SeaweedFS ``weed mini`` through :class:`s3torch.testing.LocalS3Server`,
  a real store that checks signatures and checksums.

Each server is one process, so its CPU time can be read from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .spec import REGION

_LOOPBACK = "127.0.0.1"
_BENCHMARKS = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _executable(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name!r} not found next to {sys.executable} or on PATH")
    return found


class Server:
    """What the harness needs from a server."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str = REGION
    pid: int | None
    # Where the server keeps each object as the plain file ``bucket/key``, for the data to be
    # written there instead of uploaded (see datagen.IntoFiles); None where it keeps them
    # otherwise.
    object_files: Path | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version(), "endpoint": self.endpoint}


# localbucket's own main(), with two settings changed (the server's code is untouched):
# - Nagle's algorithm off on its sockets (TCP_NODELAY, as S3 and SeaweedFS have it). It answers
#   in two writes, headers then body; with Nagle on, the body waits for the client's delayed ACK
#   of the headers, up to 40 ms per response (W7 through s3torchconnector: 7 objects/s).
# - a listen backlog of 1024 instead of socketserver's 5: a client opening dozens of connections
#   at once otherwise has SYNs dropped and waits a second for each retransmission.
# - its log of every request off, so that it spends its CPU on serving.
_TUNED_LAUNCH = (
    "import logging, sys, localbucket; "
    "localbucket.S3Handler.disable_nagle_algorithm = True; "
    "localbucket.ThreadingHTTPServer.request_queue_size = 1024; "
    "logging.disable(logging.INFO); "
    "sys.argv[0] = 'localbucket'; "
    "localbucket.main()"
)


class LocalBucket(Server):
    """``localbucket --host 127.0.0.1 --port P DATA_ROOT`` (see ``_TUNED_LAUNCH``)."""

    name = "localbucket"

    def __init__(self, data_dir: Path, tuned: bool = True) -> None:
        self.data_dir = data_dir
        self.object_files = data_dir
        self.tuned = tuned
        # localbucket accepts any credentials; these only have to be well-formed.
        self.access_key = "bench"
        self.secret_key = "bench-secret"
        self._process: subprocess.Popen[bytes] | None = None
        self.pid = None
        self.endpoint = ""

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            port = free_port()
            self._process = subprocess.Popen(
                [*self._command(), "--host", _LOOPBACK, "--port", str(port), str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it logs every request
                start_new_session=True,
            )
            self.pid = self._process.pid
            self.endpoint = f"http://{_LOOPBACK}:{port}"
            if self._wait_ready(port, timeout):
                return
            self.stop()
        raise RuntimeError("localbucket did not start")

    def _command(self) -> list[str]:
        if not self.tuned:
            return [_executable("localbucket")]
        return [sys.executable, "-c", _TUNED_LAUNCH]

    def _wait_ready(self, port: int, timeout: float) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # probably lost the port to someone else: try another
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection(_LOOPBACK, port, timeout=2)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    connection.close()
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        if process is not None:
            process.wait()
        self.pid = None

    def version(self) -> str:
        out = subprocess.run(
            [_executable("localbucket"), "--version"], capture_output=True, text=True, check=False
        )
        return (out.stdout or out.stderr).strip()

    def describe(self) -> dict[str, Any]:
        settings = (
            "TCP_NODELAY on, listen backlog 1024, request log off" if self.tuned else "as installed"
        )
        return {**super().describe(), "settings": settings}


class SeaweedFS(Server):
    """SeaweedFS ``weed mini``, as the s3torch tests run it."""

    name = "seaweedfs"

    def __init__(self, data_dir: Path) -> None:
        from s3torch.testing import LocalS3Server

        self.data_dir = data_dir
        self._server = LocalS3Server(data_dir=data_dir, region=REGION)
        self.access_key = self._server.access_key
        self.secret_key = self._server.secret_key
        self.pid = None
        self.endpoint = ""

    def start(self) -> None:
        self._server.start()
        self.pid = self._server.pid
        self.endpoint = self._server.endpoint

    def stop(self) -> None:
        self._server.stop()
        self.pid = None

    def version(self) -> str:
        from s3torch.testing import find_weed

        out = subprocess.run(
            [str(find_weed()), "version"], capture_output=True, text=True, check=False
        )
        text = (out.stdout or out.stderr).strip()
        found = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", text)  # "version 8000GB 4.48 pypi ..."
        return f"SeaweedFS {found.group(1)}" if found else f"SeaweedFS ({text[:60]})"


def make_server(name: str, data_dir: Path, tuned: bool = True) -> Server:
    if name == "localbucket":
        return LocalBucket(data_dir, tuned)
    if name == "seaweedfs":
        return SeaweedFS(data_dir)
    raise ValueError(f"unknown server {name!r}")


def client_env(server: Server) -> dict[str, str]:
    """The environment of a client process (a benchmark worker): credentials for ``server``
    and nothing from the user's AWS configuration (no profile, no endpoint, no instance
    metadata); ``harness`` and this checkout's ``s3torch`` importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "AWS_REGION": server.region,
            "AWS_DEFAULT_REGION": server.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONPATH": os.pathsep.join([str(_BENCHMARKS), str(_BENCHMARKS.parent / "python")]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
