"""Security (issue 6): credentials never leak, TLS certificates are verified by default, and
requests go unsigned only when asked to.

Credentials. Objects of every kind are built with distinctive static credentials (canaries)
and used, successfully and not; then everything a user could see is scanned for the secret key
and the session token: ``repr``/``str`` of every object, exception messages, tracebacks and
pickles of exceptions, log records (the Python loggers, and the native records that
``enable_logging`` forwards, the CRT's own log included), whatever reached stdout and stderr,
and plain pickles of configs, clients, checkpoints and datasets. The access key id is not a
secret (AWS prints it in its own error messages), but ``repr`` and pickles leave it out too.

Pickles follow the contract of ``S3ClientConfig``: ``pickle.dumps`` (hence ``torch.save``)
leaves the static credentials out, while ``multiprocessing`` hands them to its children, so a
DataLoader worker started with ``spawn`` still authenticates.

TLS. An HTTPS front for the test server runs on loopback with a throwaway CA made by the
``openssl`` command (the tests are skipped without it). A certificate the client must reject
costs time: s2n, the CRT's TLS library, waits 10 to 30 s before closing a connection whose
handshake failed ("blinding", against timing attacks), and the CRT tries four connections even
with ``max_attempts=1``. So the rejected handshakes all start at once, in one module fixture,
and the tests then look at their outcomes: about 75 s of waiting in all, nearly no CPU.

Unsigned requests. A loopback relay records the bytes clients send to the test server, so the
tests see the ``Authorization`` headers themselves.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import pickle
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import s3torch
from conftest import ServerInfo
from s3torch import S3ReaderConstructor
from support.loopback import LoopbackServer
from support.server import put

MiB = 1024 * 1024

# Canaries: distinctive, so a match anywhere is a leak.
CANARY_KEY_ID = "AKIACANARY" + uuid.uuid4().hex[:10].upper()
CANARY_SECRET = "canary-secret/" + uuid.uuid4().hex
CANARY_TOKEN = "canary-token+" + uuid.uuid4().hex


def canary_config(**overrides: Any) -> s3torch.S3ClientConfig:
    settings: dict[str, Any] = {
        "access_key_id": CANARY_KEY_ID,
        "secret_access_key": CANARY_SECRET,
        "session_token": CANARY_TOKEN,
        "force_path_style": True,
        "max_attempts": 1,
        "part_size": 5 * MiB,
    }
    settings.update(overrides)
    return s3torch.S3ClientConfig(**settings)


def real_config(server: ServerInfo, **overrides: Any) -> s3torch.S3ClientConfig:
    settings: dict[str, Any] = {
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
        "session_token": server.session_token,
        "force_path_style": True,
        "part_size": 5 * MiB,
    }
    settings.update(overrides)
    return s3torch.S3ClientConfig(**settings)


def secrets_of(server: ServerInfo) -> list[str]:
    """Everything that must never be seen: the canaries' secret and token, and the real ones."""
    found = [CANARY_SECRET, CANARY_TOKEN, server.secret_key]
    if server.session_token:
        found.append(server.session_token)
    return found


def assert_no_secret(text: str | bytes, secrets: list[str], where: str) -> None:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "backslashreplace")
    for secret in secrets:
        # Also as repr() would escape it, and as a pickle of protocol 0 stores it.
        forms = {secret.encode(), repr(secret)[1:-1].encode(), secret.encode("raw_unicode_escape")}
        # No `assert form not in data`: pytest would print the credential in its report.
        if any(form in data for form in forms):
            raise AssertionError(f"a credential appears in {where}")


# ---------------------------------------------------------------------------------------------
# Everything a user can see, built and used with canary credentials
# ---------------------------------------------------------------------------------------------


def every_kind_of_object(server: ServerInfo, bucket: str, config: Any) -> dict[str, Any]:
    """One object of every public kind, built from ``config`` against the test server."""
    client = s3torch.S3Client(server.region, endpoint=server.endpoint, s3client_config=config)
    common = {"region": server.region, "endpoint": server.endpoint, "s3client_config": config}
    objects: dict[str, Any] = {
        "config": config,
        "client": client,
        "native client": client._native,
        "checkpoint": s3torch.S3Checkpoint(server.region, server.endpoint, config),
        "map dataset": s3torch.S3MapDataset.from_objects(f"s3://{bucket}/k", **common),
        "iterable dataset": s3torch.S3IterableDataset.from_prefix(f"s3://{bucket}/", **common),
        "tar dataset": s3torch.S3TarDataset.from_objects(f"s3://{bucket}/s.tar", **common),
        "shuffled dataset": s3torch.ShuffleDataset(
            s3torch.S3IterableDataset.from_prefix(f"s3://{bucket}/", **common), 4
        ),
        "writer": client.put_object(bucket, "never-closed"),
        "upload stream": client.put_object_stream(bucket, "never-closed-2"),
        "download stream": client.get_object_stream(bucket, "k"),
        "listing": client.list_objects(bucket),
    }
    for name, constructor in {
        "sequential reader": S3ReaderConstructor.sequential(),
        "ranged reader": S3ReaderConstructor.range_based(),
    }.items():
        objects[name] = client.get_object(bucket, "k", reader_constructor=constructor)
    return objects


def close_all(objects: dict[str, Any]) -> None:
    for name in ("writer", "upload stream"):
        with contextlib.suppress(Exception):
            objects[name].abort()
    for name in ("download stream", "sequential reader", "ranged reader"):
        with contextlib.suppress(Exception):
            objects[name].close()


def use_everything(
    objects: dict[str, Any], bucket: str, between: Callable[[], None] = lambda: None
) -> list[BaseException]:
    """Every operation that sends a request, on every object that can, calling ``between``
    after each; the errors raised."""
    client = objects["client"]
    operations: list[Callable[[], Any]] = [
        lambda: objects["download stream"].read(),
        lambda: objects["sequential reader"].read(),
        lambda: objects["ranged reader"].read(3),
        lambda: list(objects["listing"]),
        lambda: objects["writer"].write(b"x" * 100) and objects["writer"].close(),
        lambda: (
            objects["upload stream"].write(b"y" * (6 * MiB)) and objects["upload stream"].close()
        ),
        lambda: client.head_object(bucket, "k"),
        lambda: client.delete_object(bucket, "k"),
        lambda: client.copy_object(bucket, "k", bucket, "k2"),
        lambda: len(objects["map dataset"]) and objects["map dataset"][0].read(),
        lambda: list(objects["iterable dataset"]),
        lambda: list(objects["tar dataset"]),
        lambda: objects["checkpoint"].reader(f"s3://{bucket}/k").read(),
        lambda: s3torch.save({"w": 1}, f"s3://{bucket}/c.pt", client=objects["checkpoint"]),
        lambda: s3torch.load(f"s3://{bucket}/c.pt", client=client),
    ]
    errors: list[BaseException] = []
    for operation in operations:
        try:
            operation()
        except Exception as error:
            errors.append(error)
        between()
    return errors


def error_views(error: BaseException) -> dict[str, str | bytes]:
    """Every way an exception is shown or shipped."""
    views: dict[str, str | bytes] = {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "traceback": "".join(traceback.format_exception(error)),
        "attributes": repr(vars(error)),
    }
    with contextlib.suppress(Exception):
        views["pickle"] = pickle.dumps(error)
    return views


def test_repr_and_str_of_every_object_never_show_credentials(
    s3_server: ServerInfo, bucket: str
) -> None:
    objects = every_kind_of_object(s3_server, bucket, canary_config())
    try:
        for name, obj in objects.items():
            for view in (repr(obj), str(obj)):
                assert_no_secret(view, [*secrets_of(s3_server), CANARY_KEY_ID], f"repr({name})")
    finally:
        close_all(objects)


def test_errors_from_refused_requests_never_show_credentials(
    s3_server: ServerInfo, bucket: str, client: s3torch.S3Client
) -> None:
    put(client, bucket, "k", b"private")
    objects = every_kind_of_object(s3_server, bucket, canary_config())
    try:
        errors = use_everything(objects, bucket)
    finally:
        close_all(objects)
    # The canaries are refused by the server: every operation that sent a request failed.
    refused = [e for e in errors if isinstance(e, PermissionError)]
    assert len(refused) >= 10, errors
    for error in errors:
        for view, text in error_views(error).items():
            assert_no_secret(text, secrets_of(s3_server), f"{view} of {type(error).__name__}")


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: s3torch.S3ClientConfig(secret_access_key=CANARY_SECRET), id="no id"),
        pytest.param(
            lambda: s3torch.S3ClientConfig(session_token=CANARY_TOKEN), id="token without keys"
        ),
        pytest.param(
            lambda: s3torch.S3ClientConfig(
                access_key_id=CANARY_KEY_ID, secret_access_key=CANARY_SECRET.encode()
            ),
            id="secret as bytes",
        ),
        pytest.param(
            lambda: s3torch.S3ClientConfig(
                access_key_id=CANARY_KEY_ID, secret_access_key=CANARY_SECRET, session_token=7
            ),
            id="token of the wrong type",
        ),
        pytest.param(
            lambda: s3torch.S3Client(
                "us-east-1", s3client_config=canary_config(unsigned=True, max_attempts=2)
            ),
            id="unsigned with keys",
        ),
        pytest.param(
            lambda: s3torch.S3Client(
                "us-east-1", s3client_config=pickle.loads(pickle.dumps(canary_config()))
            ),
            id="unpickled config",
        ),
    ],
)
def test_errors_from_bad_settings_never_show_credentials(
    s3_server: ServerInfo, isolated_aws_env: None, build: Callable[[], Any]
) -> None:
    with pytest.raises(Exception) as caught:
        build()
    assert isinstance(caught.value, (ValueError, TypeError))
    for view, text in error_views(caught.value).items():
        assert_no_secret(text, [*secrets_of(s3_server)], f"{view} of {caught.value!r}")


def test_an_endpoint_with_a_password_is_refused_without_showing_it(isolated_aws_env: None) -> None:
    endpoint = f"http://user:{CANARY_SECRET.replace('/', '')}@127.0.0.1:9"
    with pytest.raises(ValueError) as caught:
        s3torch.S3Client("us-east-1", endpoint=endpoint)
    assert_no_secret(str(caught.value), [CANARY_SECRET.replace("/", "")], "the error")


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def everything_logged(crt_level: int | None) -> Iterator[None]:
    """Every logger at its most verbose, native records forwarded (the CRT's too, at
    ``crt_level``, unless None)."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(1)
    s3torch.enable_logging(1, crt_level=crt_level)
    try:
        yield
    finally:
        from s3torch._logging import flush_native_logs

        time.sleep(0.3)
        flush_native_logs()
        s3torch.disable_logging()
        root.setLevel(previous)


def run_logged_session(server: ServerInfo, bucket: str, client: s3torch.S3Client) -> None:
    """Successful requests (real keys) and refused ones (canaries, with a session token),
    handing the native records to logging after each so that none is dropped."""
    from s3torch._logging import flush_native_logs

    objects = every_kind_of_object(server, bucket, real_config(server))
    try:
        put(client, bucket, "k", b"private")
        use_everything(objects, bucket, flush_native_logs)
    finally:
        close_all(objects)
    objects = every_kind_of_object(server, bucket, canary_config())
    try:
        use_everything(objects, bucket, flush_native_logs)
    finally:
        close_all(objects)


def scan_logs(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], secrets: list[str]
) -> set[str]:
    """Check every record and all output; return the names of the loggers that wrote.

    A few native records may be dropped when the CRT's threads contend for the queue (by
    design: its producers never wait): the callers check that the records that matter (the
    signer's) did arrive."""
    for record in caplog.records:
        text = f"{record.getMessage()} {record.exc_text or ''} {record.pathname}"
        assert_no_secret(text, secrets, f"a log record of {record.name} at {record.levelname}")
    out, err = capfd.readouterr()
    assert_no_secret(out + err, secrets, "stdout or stderr")
    return {record.name for record in caplog.records}


@pytest.mark.timeout(120)
def test_logs_at_every_level_never_show_credentials(
    s3_server: ServerInfo,
    bucket: str,
    client: s3torch.S3Client,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(1)
    with everything_logged(crt_level=None):
        run_logged_session(s3_server, bucket, client)
    loggers = scan_logs(caplog, capfd, secrets_of(s3_server))
    assert "s3torch.client" in loggers, "the native records were not forwarded: nothing checked"


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "crt_level",
    [
        pytest.param(logging.WARNING, id="WARNING"),
        # The SigV4 signer logs the canonical request, security token included, at INFO.
        pytest.param(logging.INFO, id="INFO"),
        pytest.param(logging.DEBUG, id="DEBUG"),
        pytest.param(5, id="TRACE"),
    ],
)
def test_the_crt_log_never_shows_credentials(
    s3_server: ServerInfo,
    bucket: str,
    client: s3torch.S3Client,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    crt_level: int,
) -> None:
    caplog.set_level(1)
    with everything_logged(crt_level):
        run_logged_session(s3_server, bucket, client)
    scan_logs(caplog, capfd, secrets_of(s3_server))
    if crt_level <= logging.INFO:
        assert signer_records(caplog), "the signer's records did not arrive: nothing checked"


def signer_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "canonical request" in r.getMessage()]


# ---------------------------------------------------------------------------------------------
# Pickles
# ---------------------------------------------------------------------------------------------


def picklable_objects(server: ServerInfo, bucket: str) -> dict[str, Any]:
    """Objects that users pickle, built with the canaries; the iterable dataset, which lists
    its objects before it is pickled, with the real keys."""
    config = canary_config()
    client = s3torch.S3Client(server.region, endpoint=server.endpoint, s3client_config=config)
    common = {"region": server.region, "endpoint": server.endpoint, "s3client_config": config}
    listing = {**common, "s3client_config": real_config(server)}
    return {
        "config": config,
        "client": client,
        "checkpoint": s3torch.S3Checkpoint(server.region, server.endpoint, config),
        "map dataset": s3torch.S3MapDataset.from_objects(f"s3://{bucket}/k", **common),
        "iterable dataset": s3torch.S3IterableDataset.from_prefix(f"s3://{bucket}/", **listing),
        "tar dataset": s3torch.S3TarDataset.from_objects(f"s3://{bucket}/s.tar", **common),
        "a list holding a config": [1, {"config": config}],
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_pickles_never_carry_credentials(
    s3_server: ServerInfo, bucket: str, protocol: int
) -> None:
    for name, obj in picklable_objects(s3_server, bucket).items():
        try:
            data = pickle.dumps(obj, protocol=protocol)
        except (TypeError, pickle.PicklingError, AttributeError):
            continue  # objects that cannot be pickled at all cannot leak through a pickle
        assert_no_secret(data, [*secrets_of(s3_server), CANARY_KEY_ID], f"a pickle of {name}")


def test_torch_save_of_a_dataset_never_carries_credentials(
    s3_server: ServerInfo, bucket: str
) -> None:
    torch = pytest.importorskip("torch")
    objects = picklable_objects(s3_server, bucket)
    buffer = io.BytesIO()
    torch.save({"dataset": objects["map dataset"], "config": objects["config"]}, buffer)
    assert_no_secret(buffer.getvalue(), [*secrets_of(s3_server), CANARY_KEY_ID], "torch.save")


def test_an_unpickled_config_refuses_to_build_a_client_without_its_credentials(
    s3_server: ServerInfo,
) -> None:
    clone = pickle.loads(pickle.dumps(canary_config()))
    assert clone.access_key_id is None and clone.secret_access_key is None
    assert clone.credentials_withheld
    with pytest.raises(ValueError, match="without its static credentials"):
        s3torch.S3Client("us-east-1", endpoint=s3_server.endpoint, s3client_config=clone)
    # A client unpickled the same way cannot quietly fall back to other credentials either.
    plain_client = s3torch.S3Client("us-east-1", s3client_config=canary_config())
    with pytest.raises(ValueError, match="without its static credentials"):
        pickle.loads(pickle.dumps(plain_client))


def test_copies_and_multiprocessing_keep_the_credentials(s3_server: ServerInfo) -> None:
    config = canary_config()
    assert copy.deepcopy(config).secret_access_key == CANARY_SECRET
    assert copy.copy(config).session_token == CANARY_TOKEN
    shipped = pickle.loads(ForkingPickler.dumps(config))
    assert (shipped.access_key_id, shipped.secret_access_key, shipped.session_token) == (
        CANARY_KEY_ID,
        CANARY_SECRET,
        CANARY_TOKEN,
    )


def read_whole(reader: Any) -> tuple[str, bytes]:
    return reader.key, reader.read()


@pytest.mark.timeout(180)
def test_spawned_dataloader_workers_authenticate_with_static_credentials(
    s3_server: ServerInfo, bucket: str, client: s3torch.S3Client, isolated_aws_env: None
) -> None:
    """Workers get no credentials from the environment (it has none): only from the config
    that multiprocessing handed them."""
    torch_data = pytest.importorskip("torch.utils.data")
    put(client, bucket, "a", b"first")
    put(client, bucket, "b", b"second")
    dataset = s3torch.S3MapDataset.from_objects(
        [f"s3://{bucket}/a", f"s3://{bucket}/b"],
        region=s3_server.region,
        endpoint=s3_server.endpoint,
        s3client_config=real_config(s3_server),
        transform=read_whole,
    )
    loader = torch_data.DataLoader(
        dataset, batch_size=None, num_workers=1, multiprocessing_context="spawn", timeout=120
    )
    assert [tuple(item) for item in loader] == [("a", b"first"), ("b", b"second")]


# ---------------------------------------------------------------------------------------------
# A loopback relay that records what clients send, optionally behind TLS
# ---------------------------------------------------------------------------------------------


class Relay(LoopbackServer):
    """Accepts connections on 127.0.0.1 (TLS when given a server context), forwards each to
    ``upstream`` and records every byte the clients sent (after decryption)."""

    def __init__(self, upstream: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.upstream, self.tls = upstream, tls
        self.received = bytearray()
        self.handshake_failures: list[str] = []
        self.lock = threading.Lock()
        super().__init__()

    def endpoint(self, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def sent(self) -> bytes:
        with self.lock:
            return bytes(self.received)

    def serve(self, connection: socket.socket) -> None:
        try:
            if self.tls is not None:
                connection.settimeout(60)
                connection = self.tls.wrap_socket(connection, server_side=True)
                connection.settimeout(None)
            upstream = socket.create_connection(self.upstream, timeout=30)
        except (OSError, ssl.SSLError) as error:
            with self.lock:
                self.handshake_failures.append(repr(error))
            connection.close()
            return
        try:
            self.pump(connection, upstream)
        finally:
            connection.close()
            upstream.close()

    def pump(self, client: socket.socket, upstream: socket.socket) -> None:
        while True:
            # An SSL socket may hold decrypted bytes that select() cannot see.
            pending = isinstance(client, ssl.SSLSocket) and client.pending()
            ready = [client] if pending else select.select([client, upstream], [], [], 60)[0]
            if not ready:
                return
            for sock in ready:
                try:
                    data = sock.recv(256 * 1024)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                if sock is client:
                    with self.lock:
                        self.received += data
                    upstream.sendall(data)
                else:
                    client.sendall(data)


def upstream_of(server: ServerInfo) -> tuple[str, int]:
    parts = urlsplit(server.endpoint)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@pytest.fixture
def recording_relay(s3_server: ServerInfo) -> Iterator[Relay]:
    relay = Relay(upstream_of(s3_server))
    yield relay
    relay.close()


REQUEST_LINE = re.compile(rb"(GET|PUT|POST|HEAD|DELETE) /\S* HTTP/1\.1\r\n")


def request_lines(sent: bytes) -> list[bytes]:
    """The request lines in the recorded bytes (found anywhere: a body has no line end)."""
    return [match.group(0) for match in REQUEST_LINE.finditer(sent)]


def header_values(sent: bytes, name: str) -> list[bytes]:
    """The values of header ``name`` (any case) in the recorded bytes."""
    pattern = re.compile(rb"\r\n" + re.escape(name.encode()) + rb":[ \t]*([^\r\n]*)", re.I)
    return pattern.findall(sent)


# ---------------------------------------------------------------------------------------------
# Unsigned requests: only when asked for
# ---------------------------------------------------------------------------------------------


def test_unsigned_requests_carry_no_credentials_and_a_private_bucket_refuses_them(
    s3_server: ServerInfo, bucket: str, client: s3torch.S3Client, recording_relay: Relay
) -> None:
    put(client, bucket, "k", b"private")
    anonymous = s3torch.S3Client(
        s3_server.region,
        endpoint=recording_relay.endpoint(),
        s3client_config=s3torch.S3ClientConfig(unsigned=True, force_path_style=True),
    )
    calls: list[Callable[[], Any]] = [
        lambda: list(anonymous.list_objects(bucket)),
        lambda: anonymous.get_object(bucket, "k").read(),
        lambda: anonymous.head_object(bucket, "k"),
    ]
    for call in calls:
        with pytest.raises(PermissionError) as caught:
            call()
        assert isinstance(caught.value, s3torch.S3Exception) and caught.value.status == 403
    sent = recording_relay.sent()
    assert len(request_lines(sent)) >= 3
    for header in ("authorization", "x-amz-security-token"):
        assert header_values(sent, header) == [], f"an unsigned request sent {header}"
    assert b"x-amz-credential" not in sent.lower() and b"x-amz-signature" not in sent.lower()


def test_signed_requests_carry_a_signature_but_never_the_secret(
    s3_server: ServerInfo, bucket: str, recording_relay: Relay
) -> None:
    signed = s3torch.S3Client(
        s3_server.region,
        endpoint=recording_relay.endpoint(),
        s3client_config=real_config(s3_server),
    )
    put(signed, bucket, "k", b"private")
    assert signed.get_object(bucket, "k").read() == b"private"
    sent = recording_relay.sent()
    requests = request_lines(sent)
    signatures = header_values(sent, "authorization")
    assert len(requests) >= 2 and len(signatures) == len(requests)
    credential = f"AWS4-HMAC-SHA256 Credential={s3_server.access_key}/".encode()
    assert all(value.startswith(credential) for value in signatures)
    assert_no_secret(sent, [s3_server.secret_key], "the bytes sent")


def test_without_credentials_nothing_is_sent_unsigned(
    isolated_aws_env: None, bucket: str, recording_relay: Relay
) -> None:
    """No credentials anywhere is an error, never a silent fall back to unsigned requests."""
    nobody = s3torch.S3Client(
        "us-east-1",
        endpoint=recording_relay.endpoint(),
        s3client_config=s3torch.S3ClientConfig(force_path_style=True, max_attempts=1),
    )
    for call in (
        lambda: list(nobody.list_objects(bucket)),
        lambda: nobody.get_object(bucket, "k").read(),
        lambda: nobody.head_object(bucket, "k"),
    ):
        with pytest.raises(s3torch.S3CredentialsError, match="no credentials"):
            call()
    assert recording_relay.sent() == b""


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------


def openssl(*arguments: str, folder: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=s3torch throwaway {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        folder=folder,
    )  # fmt: skip


def make_server_cert(folder: Path, name: str, ca: str, names: str) -> None:
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=s3torch test server",
        folder=folder,
    )  # fmt: skip
    (folder / f"{name}.ext").write_text(
        f"subjectAltName={names}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        folder=folder,
    )  # fmt: skip


def server_context(folder: Path, name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / f"{name}.pem", folder / f"{name}.key")
    return context


class HttpsFronts:
    """HTTPS in front of the test server: one with a certificate for 127.0.0.1 from ``ca``, one
    with a certificate from the same CA for another host name."""

    def __init__(self, server: ServerInfo, folder: Path) -> None:
        self.folder = folder
        self.ca = str(folder / "ca.pem")
        self.other_ca = str(folder / "other-ca.pem")
        upstream = upstream_of(server)
        self.good = Relay(upstream, server_context(folder, "server"))
        self.misnamed = Relay(upstream, server_context(folder, "misnamed"))

    def close(self) -> None:
        self.good.close()
        self.misnamed.close()


@pytest.fixture(scope="module")
def https(s3_server: ServerInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsFronts]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a throwaway CA")
    folder = tmp_path_factory.mktemp("tls")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    make_server_cert(folder, "server", "ca", "DNS:localhost,IP:127.0.0.1")
    make_server_cert(folder, "misnamed", "ca", "DNS:elsewhere.invalid")
    fronts = HttpsFronts(s3_server, folder)
    yield fronts
    fronts.close()


def https_client(server: ServerInfo, endpoint: str, **overrides: Any) -> s3torch.S3Client:
    return s3torch.S3Client(
        server.region, endpoint=endpoint, s3client_config=real_config(server, **overrides)
    )


# The handshakes the client must refuse, all started at once (see the module docstring).
REFUSED_HANDSHAKES = {
    "system trust store": {"front": "good", "ca_bundle": None, "max_attempts": 1},
    "another CA": {"front": "good", "ca_bundle": "other", "max_attempts": 1},
    "host name mismatch": {"front": "misnamed", "ca_bundle": "ca", "max_attempts": 1},
    # The defaults (10 attempts, stall_timeout_s=120) shortened to a 40 s stall limit.
    "default attempts": {"front": "good", "ca_bundle": None, "stall_timeout_s": 40.0},
}


@pytest.fixture(scope="module")
def refused_handshakes(
    s3_server: ServerInfo, https: HttpsFronts
) -> dict[str, tuple[BaseException | None, float, bytes]]:
    """Each refused handshake's error (None if none), how long it took, and what the relay
    received through the connection."""
    previous = os.environ.pop("AWS_CA_BUNDLE", None)
    outcomes: dict[str, tuple[BaseException | None, float, bytes]] = {}
    try:
        fronts = {
            name: Relay(
                upstream_of(s3_server),
                (https.good if case["front"] == "good" else https.misnamed).tls,
            )
            for name, case in REFUSED_HANDSHAKES.items()
        }
        bundles = {None: None, "ca": https.ca, "other": https.other_ca}

        def attempt(name: str) -> None:
            case = dict(REFUSED_HANDSHAKES[name])
            case.pop("front")
            case["ca_bundle"] = bundles[case["ca_bundle"]]
            started = time.monotonic()
            error: BaseException | None = None
            try:
                https_client(s3_server, fronts[name].endpoint(), **case).head_object("bucket", "k")
            except BaseException as caught:
                error = caught
            outcomes[name] = (error, time.monotonic() - started, fronts[name].sent())

        threads = [threading.Thread(target=attempt, args=(n,)) for n in REFUSED_HANDSHAKES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        for relay in fronts.values():
            relay.close()
    finally:
        if previous is not None:
            os.environ["AWS_CA_BUNDLE"] = previous
    return outcomes


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", ["system trust store", "another CA", "host name mismatch"])
def test_certificates_are_verified_by_default(
    refused_handshakes: dict[str, tuple[BaseException | None, float, bytes]], case: str
) -> None:
    error, _, received = refused_handshakes[case]
    assert isinstance(error, s3torch.S3NetworkError), error
    assert isinstance(error, ConnectionError)
    assert "TLS" in str(error) and "s3://bucket/k" in str(error)
    assert received == b"", "a request went out over an unverified connection"


@pytest.mark.timeout(300)
def test_a_refused_certificate_with_default_attempts_is_a_prompt_tls_error(
    refused_handshakes: dict[str, tuple[BaseException | None, float, bytes]],
) -> None:
    error, elapsed, _ = refused_handshakes["default attempts"]
    assert isinstance(error, s3torch.S3NetworkError) and "TLS" in str(error), error
    assert elapsed < 40


@pytest.mark.timeout(300)
def test_a_refused_certificate_with_one_attempt_fails_after_one_connection(
    refused_handshakes: dict[str, tuple[BaseException | None, float, bytes]],
) -> None:
    _, elapsed, _ = refused_handshakes["system trust store"]
    assert elapsed < 35, f"{elapsed:.0f} s: more than one blinding delay (at most 30 s)"


@pytest.mark.timeout(120)
def test_a_ca_bundle_in_the_config_is_trusted(
    s3_server: ServerInfo, bucket: str, https: HttpsFronts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    client = https_client(s3_server, https.good.endpoint(), ca_bundle=https.ca)
    before = len(https.good.sent())
    data = os.urandom(6 * MiB)  # a multipart upload: several connections, all verified
    put(client, bucket, "over-tls", data)
    assert client.get_object(bucket, "over-tls").read() == data
    assert [i.key for p in client.list_objects(bucket) for i in p.object_info] == ["over-tls"]
    assert b"GET /" + bucket.encode() in https.good.sent()[before:], "not through the front"


@pytest.mark.timeout(120)
def test_aws_ca_bundle_in_the_environment_is_trusted(
    s3_server: ServerInfo, bucket: str, https: HttpsFronts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", https.ca)
    client = https_client(s3_server, https.good.endpoint())
    put(client, bucket, "env-ca", b"trusted through AWS_CA_BUNDLE")
    assert client.get_object(bucket, "env-ca").read() == b"trusted through AWS_CA_BUNDLE"
    assert client.head_object(bucket, "env-ca").size == len(b"trusted through AWS_CA_BUNDLE")
