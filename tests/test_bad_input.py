"""Bad input (issue 6): every bad input gets a typed error whose message names it.

Typed means: a subclass of ``s3torch.S3Exception`` for what the server refuses (missing bucket
or key, wrong credentials, wrong region, ...), and ``ValueError``/``TypeError`` for bad
arguments, raised before any request is sent. Never ``pyo3_runtime.PanicException``,
``SystemError``, ``AttributeError`` or a crash.

Tables here drive each bad input through the public entry points (client, readers, writers,
checkpoints, datasets). The field-by-field checks of ``S3ClientConfig`` live in
``test_config.py``, the URI grammar in ``test_uri.py``, the error classes' attributes in
``test_errors.py``; this file does not repeat them, it checks that they reach the user through
every door. The hypothesis fuzz at the end throws arbitrary values at URI parsing, config and
client construction and reader operations.

A wrong region cannot be shown with SeaweedFS, which accepts a signature for any region (see
``test_seaweedfs_accepts_any_region``): those cases use a small loopback server that replays
the answers AWS S3 gives to a request signed for the wrong region.

Bugs found are pinned by ``xfail(strict=True)`` tests whose reason says what is wrong; the fuzz
keeps those inputs out of its strategies (each exclusion names the test that pins it).
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import s3torch
from conftest import ENDPOINT_VARIABLE, ServerInfo
from s3torch import S3ReaderConstructor, make_s3_uri, parse_s3_uri

MiB = 1024 * 1024
# Exceptions that are never acceptable answers to bad input: they mean a bug, not a refusal.
UNTYPED = (AttributeError, KeyError, IndexError, SystemError, AssertionError, RuntimeError)


def put(client: s3torch.S3Client, bucket: str, key: str, data: bytes) -> None:
    with client.put_object(bucket, key) as writer:
        writer.write(data)


def config_for(server: ServerInfo, **overrides: Any) -> s3torch.S3ClientConfig:
    settings_: dict[str, Any] = {
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
        "session_token": server.session_token,
        "force_path_style": True,
    }
    settings_.update(overrides)
    return s3torch.S3ClientConfig(**settings_)


@pytest.fixture
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS settings from the machine: empty config and credentials files, no AWS_* vars."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# ---------------------------------------------------------------------------------------------
# Malformed URIs, through every entry point that takes one
# ---------------------------------------------------------------------------------------------

BAD_OBJECT_URIS = [
    ("http://bucket/key", "must start with 's3://'"),
    ("", "must start with 's3://'"),
    ("s3:/bucket/key", "must start with 's3://'"),
    ("s3://", "bucket name is empty"),
    ("s3:///key", "bucket name is empty"),
    ("s3://ab/key", "3 to 63 characters"),
    ("s3://bad!bucket/key", "may only contain"),
    ("s3://-bucket/key", "start and end with a letter or digit"),
    ("s3://192.168.0.1/key", "IPv4"),
    ("s3://bucket/a\x00b", "NUL"),
    ("s3://bucket/" + "k" * 1025, "1024 bytes"),
    ("s3://bucket/\udc80", "surrogates"),
]
NO_KEY_URIS = ["s3://bucket", "s3://bucket/"]


def uri_entry_points(server: ServerInfo) -> dict[str, Callable[[Any], Any]]:
    """Every public function that takes one ``s3://`` URI, fed ``uri``."""
    config = config_for(server)
    checkpoint = s3torch.S3Checkpoint(server.region, server.endpoint, config)
    common = {"region": server.region, "endpoint": server.endpoint, "s3client_config": config}
    return {
        "S3Checkpoint.reader": checkpoint.reader,
        "S3Checkpoint.writer": checkpoint.writer,
        "save": lambda uri: s3torch.save({"x": 1}, uri, client=checkpoint),
        "load": lambda uri: s3torch.load(uri, client=checkpoint),
        "S3MapDataset.from_objects": lambda uri: s3torch.S3MapDataset.from_objects(uri, **common),
        "S3MapDataset.from_prefix": lambda uri: s3torch.S3MapDataset.from_prefix(uri, **common),
        "S3IterableDataset.from_objects": lambda uri: s3torch.S3IterableDataset.from_objects(
            uri, **common
        ),
        "S3IterableDataset.from_prefix": lambda uri: s3torch.S3IterableDataset.from_prefix(
            uri, **common
        ),
    }


ENTRY_POINTS = [
    "S3Checkpoint.reader",
    "S3Checkpoint.writer",
    "save",
    "load",
    "S3MapDataset.from_objects",
    "S3MapDataset.from_prefix",
    "S3IterableDataset.from_objects",
    "S3IterableDataset.from_prefix",
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(("uri", "reason"), BAD_OBJECT_URIS)
def test_a_malformed_uri_is_a_value_error_naming_it(
    s3_server: ServerInfo, entry: str, uri: str, reason: str
) -> None:
    with pytest.raises(ValueError) as caught:
        uri_entry_points(s3_server)[entry](uri)
    assert repr(uri) in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "entry",
    ["S3Checkpoint.reader", "S3Checkpoint.writer", "save", "load", "S3MapDataset.from_objects"],
)
@pytest.mark.parametrize("uri", NO_KEY_URIS)
def test_a_uri_without_key_where_an_object_is_needed_is_a_value_error(
    s3_server: ServerInfo, entry: str, uri: str
) -> None:
    with pytest.raises(ValueError, match="key") as caught:
        uri_entry_points(s3_server)[entry](uri)
    assert repr(uri) in str(caught.value)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("value", [None, 42, b"s3://bucket/key"])
def test_a_uri_that_is_not_a_str_is_a_type_error_naming_its_type(
    s3_server: ServerInfo, entry: str, value: object
) -> None:
    with pytest.raises(TypeError) as caught:
        uri_entry_points(s3_server)[entry](value)
    assert type(value).__name__ in str(caught.value)


# Keys with spaces, '%', '+' and non-ASCII text are not bad input: they must arrive verbatim,
# never percent-decoded or normalised, through URIs as through the client (test_client.py).
UNUSUAL_KEYS = ["dir with space/file name.pt", "100%25 sure+plus%2Fslash.pt", "ünï/ключ/鍵 ✓.pt"]


def test_unusual_keys_travel_verbatim_through_uris(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    entry = uri_entry_points(s3_server)
    for key in UNUSUAL_KEYS:
        s3torch.save({"key": key}, f"s3://{bucket}/{key}", client=client)
    stored = sorted(item["Key"] for item in boto3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert stored == sorted(UNUSUAL_KEYS)
    for key in UNUSUAL_KEYS:
        assert s3torch.load(f"s3://{bucket}/{key}", client=client) == {"key": key}
    dataset = entry["S3MapDataset.from_prefix"](f"s3://{bucket}/")
    assert sorted(dataset[i].key for i in range(len(dataset))) == sorted(UNUSUAL_KEYS)
    by_uri = entry["S3MapDataset.from_objects"]([f"s3://{bucket}/{k}" for k in UNUSUAL_KEYS])
    assert [by_uri[i].key for i in range(len(by_uri))] == UNUSUAL_KEYS
    assert [len(by_uri[i].read()) > 0 for i in range(len(by_uri))] == [True] * 3


# ---------------------------------------------------------------------------------------------
# Bad bucket names and keys given to the client directly
# ---------------------------------------------------------------------------------------------

CLIENT_CALLS: dict[str, Callable[[s3torch.S3Client, str, str], Any]] = {
    # A reader checks the empty bucket and key at once, the rest on its first read.
    "get_object": lambda c, b, k: c.get_object(b, k).read(),
    "get_object_stream": lambda c, b, k: c.get_object_stream(b, k),
    "put_object": lambda c, b, k: c.put_object(b, k),
    "put_object_stream": lambda c, b, k: c.put_object_stream(b, k),
    "head_object": lambda c, b, k: c.head_object(b, k),
    "delete_object": lambda c, b, k: c.delete_object(b, k),
    "copy_object(source)": lambda c, b, k: c.copy_object(b, k, "bucket", "dst"),
    "copy_object(destination)": lambda c, b, k: c.copy_object("bucket", "src", b, k),
}


@pytest.mark.parametrize("call", sorted(CLIENT_CALLS))
@pytest.mark.parametrize(
    ("bucket", "key", "fragment"),
    [
        ("", "k", "bucket"),
        ("a/b", "k", '"a/b"'),
        ("a\x00b", "k", "bucket"),
        ("bucket", "", "key must not be empty"),
        ("bucket", "a\x00b", "NUL"),
        ("bucket", "k" * 1025, "1024 bytes"),
    ],
)
def test_a_bad_bucket_or_key_is_a_value_error_before_any_request(
    client: s3torch.S3Client, call: str, bucket: str, key: str, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        CLIENT_CALLS[call](client, bucket, key)


@pytest.mark.parametrize("call", sorted(CLIENT_CALLS))
def test_a_key_that_is_not_utf8_is_a_value_error_naming_the_key(
    client: s3torch.S3Client, call: str
) -> None:
    with pytest.raises(ValueError) as caught:
        CLIENT_CALLS[call](client, "bucket", "bad\udc80key")
    assert "key" in str(caught.value) and repr("bad\udc80key") in str(caught.value)


def test_list_objects_rejects_max_keys_out_of_range_naming_it(client: s3torch.S3Client) -> None:
    for max_keys in (0, 1001):
        with pytest.raises(ValueError, match=f"max_keys={max_keys}"):
            client.list_objects("bucket", max_keys=max_keys)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda c: c.list_objects("bucket", max_keys=-1), "max_keys"),
        (lambda c: c.list_objects("bucket", max_keys=2**70), "max_keys"),
        (lambda c: c.get_object_stream("bucket", "key", -1), "start"),
        (lambda c: c.get_object_stream("bucket", "key", 0, -5), "end"),
        (lambda c: c.get_object_stream("bucket", "key", 2**70), "start"),
    ],
)
def test_a_negative_or_huge_count_is_a_value_error_naming_it(
    client: s3torch.S3Client, call: Callable[[s3torch.S3Client], Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        call(client)


# ---------------------------------------------------------------------------------------------
# Bad settings: client construction
# ---------------------------------------------------------------------------------------------

# One row per bad setting the issue names; test_config.py checks each field's full range.
BAD_CONFIGS = [
    ({"part_size": 5 * MiB - 1}, ValueError, "S3ClientConfig.part_size=5242879"),
    ({"part_size": 2**64}, ValueError, "S3ClientConfig.part_size=18446744073709551616"),
    ({"part_size": 8.0 * MiB}, TypeError, "S3ClientConfig.part_size"),
    ({"max_attempts": -1}, ValueError, "S3ClientConfig.max_attempts=-1"),
    ({"max_attempts": 10**30}, ValueError, "S3ClientConfig.max_attempts=" + "1" + "0" * 30),
    ({"max_attempts": 0}, ValueError, "S3ClientConfig.max_attempts=0"),
    ({"addressing_style": "dns"}, ValueError, "S3ClientConfig.addressing_style='dns'"),
    ({"addressing_style": None}, TypeError, "S3ClientConfig.addressing_style"),
    ({"throughput_target_gbps": float("nan")}, ValueError, "throughput_target_gbps=nan"),
    ({"throughput_target_gbps": -1.0}, ValueError, "throughput_target_gbps=-1.0"),
    ({"unsigned": "yes"}, TypeError, "S3ClientConfig.unsigned"),
    ({"upload_checksum": "md5"}, ValueError, "S3ClientConfig.upload_checksum='md5'"),
    ({"ca_bundle": "/no/such/ca.pem"}, ValueError, "S3ClientConfig.ca_bundle='/no/such/ca.pem'"),
    ({"profile": ""}, ValueError, "S3ClientConfig.profile"),
    ({"access_key_id": "AKID"}, ValueError, "S3ClientConfig.secret_access_key"),
]


@pytest.mark.parametrize(("fields", "error", "fragment"), BAD_CONFIGS)
def test_a_bad_setting_is_refused_naming_it(
    fields: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        s3torch.S3ClientConfig(**fields)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("arguments", "error", "fragment"),
    [
        ({"endpoint": "ftp://host"}, ValueError, "'ftp://host'"),
        ({"endpoint": "http://host:99999"}, ValueError, "'http://host:99999'"),
        ({"endpoint": "http://host/?x=1"}, ValueError, "query"),
        ({"endpoint": "http://a b"}, ValueError, "whitespace"),
        ({"user_agent": 42}, TypeError, "user_agent"),
        ({"s3client_config": {"part_size": 1}}, TypeError, "s3client_config"),
    ],
)
def test_a_bad_client_argument_is_refused_naming_it(
    isolated_aws_env: None, arguments: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        s3torch.S3Client("us-east-1", **arguments)
    assert fragment in str(caught.value)


def test_an_unknown_profile_is_a_credentials_error_naming_it(isolated_aws_env: None) -> None:
    config = s3torch.S3ClientConfig(profile="no-such-profile-s3torch")
    with pytest.raises(s3torch.S3CredentialsError, match="no-such-profile-s3torch"):
        s3torch.S3Client("us-east-1", endpoint="http://127.0.0.1:9", s3client_config=config)


@pytest.mark.parametrize(
    "arguments",
    [{"region": 42}, {"region": ["us-east-1"]}, {"endpoint": 42}, {"endpoint": b"http://h"}],
)
def test_a_region_or_endpoint_that_is_not_a_str_is_a_type_error_naming_it(
    isolated_aws_env: None, arguments: dict[str, Any]
) -> None:
    [(name, value)] = arguments.items()
    with pytest.raises(TypeError) as caught:
        s3torch.S3Client(**{"region": "us-east-1", name: value})
    assert name in str(caught.value)


# Text that becomes part of an HTTP header. Today each is accepted, and every request then
# fails only after all its attempts (max_attempts=10: about 35 s) with
# S3NetworkError("AWS_ERROR_HTTP_INVALID_HEADER_VALUE"), or (region) a generic S3Exception from
# endpoint resolution: nothing tells the user which setting is wrong.
HEADER_INJECTION = "x\r\nX-Injected: 1"


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: s3torch.S3Client("us-east-1\x00"), id="region-NUL"),
        pytest.param(lambda: s3torch.S3Client("us-\r\neast-1"), id="region-CRLF"),
        pytest.param(lambda: s3torch.S3Client("us-east-1", user_agent=HEADER_INJECTION), id="ua"),
        pytest.param(lambda: s3torch.S3Client("us-east-1", user_agent="a\x00b"), id="ua-NUL"),
        pytest.param(
            lambda: s3torch.S3ClientConfig(access_key_id="AK\x00ID", secret_access_key="s"),
            id="access_key_id",
        ),
        pytest.param(
            lambda: s3torch.S3ClientConfig(access_key_id="AKID", secret_access_key="s\r\nx"),
            id="secret_access_key",
        ),
        pytest.param(
            lambda: s3torch.S3ClientConfig(
                access_key_id="AKID", secret_access_key="s", session_token=HEADER_INJECTION
            ),
            id="session_token",
        ),
    ],
)
def test_header_text_with_control_characters_is_refused_at_construction(
    isolated_aws_env: None, build: Callable[[], Any]
) -> None:
    with pytest.raises(ValueError):
        build()


def test_a_storage_class_with_control_characters_is_a_value_error(
    client: s3torch.S3Client,
) -> None:
    writer = None
    try:
        with pytest.raises(ValueError, match="storage_class"):
            writer = client.put_object("bucket", "key", HEADER_INJECTION)
    finally:
        if writer is not None:
            writer.abort()


# ---------------------------------------------------------------------------------------------
# What the server refuses: missing bucket, missing key, wrong credentials, unsigned requests
# ---------------------------------------------------------------------------------------------

MISSING_BUCKET = "no-such-bucket-s3torch-bad-input"


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("read", s3torch.S3NoSuchBucketError),
        # The ranged reader asks for the size first, with a HEAD (see below).
        ("ranged read", FileNotFoundError),
        ("delete", s3torch.S3NoSuchBucketError),
        # HEAD answers carry no body: a missing bucket looks like a missing key (as in boto3).
        ("head", FileNotFoundError),
        ("copy", FileNotFoundError),
        ("map dataset", s3torch.S3NoSuchBucketError),
        ("iterable dataset", s3torch.S3NoSuchBucketError),
    ],
)
def test_a_missing_bucket_is_file_not_found_naming_it(
    s3_server: ServerInfo, client: s3torch.S3Client, operation: str, error: type[Exception]
) -> None:
    entry = uri_entry_points(s3_server)
    calls: dict[str, Callable[[], Any]] = {
        "read": lambda: client.get_object(MISSING_BUCKET, "k").read(),
        "ranged read": lambda: client.get_object(
            MISSING_BUCKET, "k", reader_constructor=S3ReaderConstructor.range_based()
        ).read(3),
        "delete": lambda: client.delete_object(MISSING_BUCKET, "k"),
        "head": lambda: client.head_object(MISSING_BUCKET, "k"),
        "copy": lambda: client.copy_object(MISSING_BUCKET, "k", MISSING_BUCKET, "k2"),
        "map dataset": lambda: len(entry["S3MapDataset.from_prefix"](f"s3://{MISSING_BUCKET}/")),
        "iterable dataset": lambda: list(
            entry["S3IterableDataset.from_prefix"](f"s3://{MISSING_BUCKET}/p")
        ),
    }
    with pytest.raises(error) as caught:
        calls[operation]()
    assert isinstance(caught.value, s3torch.S3Exception)
    assert isinstance(caught.value, FileNotFoundError)
    assert f"s3://{MISSING_BUCKET}" in str(caught.value)
    assert caught.value.bucket == MISSING_BUCKET


@pytest.mark.parametrize(
    "operation",
    ["sequential read", "ranged read", "seek from end", "head", "copy", "load", "map dataset"],
)
def test_a_missing_key_is_no_such_key_naming_it(
    s3_server: ServerInfo, client: s3torch.S3Client, bucket: str, operation: str
) -> None:
    uri = f"s3://{bucket}/missing/key.pt"
    entry = uri_entry_points(s3_server)
    calls: dict[str, Callable[[], Any]] = {
        "sequential read": lambda: client.get_object(bucket, "missing/key.pt").read(),
        "ranged read": lambda: client.get_object(
            bucket, "missing/key.pt", reader_constructor=S3ReaderConstructor.range_based()
        ).read(10),
        "seek from end": lambda: client.get_object(bucket, "missing/key.pt").seek(-1, io.SEEK_END),
        "head": lambda: client.head_object(bucket, "missing/key.pt"),
        "copy": lambda: client.copy_object(bucket, "missing/key.pt", bucket, "dst"),
        "load": lambda: s3torch.load(uri, client=client),
        "map dataset": lambda: entry["S3MapDataset.from_objects"](uri)[0].read(),
    }
    with pytest.raises(s3torch.S3NoSuchKeyError) as caught:
        calls[operation]()
    assert isinstance(caught.value, FileNotFoundError)
    assert uri in str(caught.value)
    assert (caught.value.bucket, caught.value.key) == (bucket, "missing/key.pt")


def test_a_range_past_the_end_is_an_invalid_range_error_naming_the_object(
    client: s3torch.S3Client, bucket: str
) -> None:
    put(client, bucket, "small", b"12345")
    with pytest.raises(s3torch.S3InvalidRangeError) as caught:
        client.get_object_stream(bucket, "small", 100, 200).read()
    assert f"s3://{bucket}/small" in str(caught.value) and caught.value.status == 416


@pytest.mark.parametrize(
    ("credentials", "error", "code"),
    [
        ({"secret_access_key": "wrong-secret-s3torch"}, s3torch.S3CredentialsError, None),
        ({"access_key_id": "NOSUCHKEYS3TORCH"}, s3torch.S3CredentialsError, "InvalidAccessKeyId"),
        (
            {"unsigned": True, "access_key_id": None, "secret_access_key": None},
            s3torch.S3AccessDeniedError,
            "AccessDenied",
        ),
    ],
    ids=["wrong secret", "unknown access key", "unsigned"],
)
@pytest.mark.parametrize("operation", ["read", "list", "write", "head"])
def test_refused_credentials_are_permission_errors_naming_the_target(
    make_client: Any,
    client: s3torch.S3Client,
    bucket: str,
    credentials: dict[str, Any],
    error: type[Exception],
    code: str | None,
    operation: str,
) -> None:
    put(client, bucket, "k", b"private")
    refused = make_client(max_attempts=1, **credentials)

    def write() -> None:
        with refused.put_object(bucket, "new") as writer:
            writer.write(b"x")

    calls: dict[str, Callable[[], Any]] = {
        "read": lambda: refused.get_object(bucket, "k").read(),
        "list": lambda: list(refused.list_objects(bucket)),
        "write": write,
        "head": lambda: refused.head_object(bucket, "k"),
    }
    with pytest.raises(PermissionError) as caught:
        calls[operation]()
    assert isinstance(caught.value, s3torch.S3Exception)
    assert f"s3://{bucket}" in str(caught.value)
    assert caught.value.status == 403
    if operation != "head":  # a HEAD answer has no body, so no S3 error code to classify by
        assert isinstance(caught.value, error)
        if code is not None:
            assert caught.value.code == code
    assert client.get_object(bucket, "k").read() == b"private"
    assert [info.key for page in client.list_objects(bucket) for info in page.object_info] == ["k"]


# ---------------------------------------------------------------------------------------------
# Wrong region
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    bool(os.environ.get(ENDPOINT_VARIABLE)), reason="a fact about the local SeaweedFS"
)
def test_seaweedfs_accepts_any_region(make_client: Any, client: Any, bucket: str) -> None:
    """Why the wrong-region tests below use a replaying server instead of SeaweedFS."""
    put(client, bucket, "k", b"any region")
    elsewhere = s3torch.S3Client(
        "ap-southeast-2", endpoint=client.endpoint, s3client_config=client.s3client_config
    )
    assert elsewhere.get_object(bucket, "k").read() == b"any region"


# What AWS S3 answers a request signed for us-east-1 about a bucket in eu-west-1: a 301
# PermanentRedirect (classic path-style endpoint), or a 400 AuthorizationHeaderMalformed (a
# regional endpoint); both carry the bucket's region in x-amz-bucket-region. HEAD answers
# have no body.
_PERMANENT_REDIRECT = (
    301,
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>PermanentRedirect</Code><Message>The "
    b"bucket you are attempting to access must be addressed using the specified endpoint."
    b"</Message><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>b</Bucket>"
    b"<RequestId>REQ301</RequestId></Error>",
)
_HEADER_MALFORMED = (
    400,
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>AuthorizationHeaderMalformed</Code>"
    b"<Message>The authorization header is malformed; the region 'us-east-1' is wrong; "
    b"expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>REQ400</RequestId>"
    b"</Error>",
)


class _WrongRegionHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer: tuple[int, bytes] = _PERMANENT_REDIRECT

    def _reply(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        status, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("x-amz-bucket-region", "eu-west-1")
        self.send_header("x-amz-request-id", f"REQ{status}")
        self.send_header("content-type", "application/xml")
        if self.command == "HEAD":
            body = b""
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _reply

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wrong_region_server(answer: tuple[int, bytes]) -> Iterator[s3torch.S3Client]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WrongRegionHandler)
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = s3torch.S3ClientConfig(
            access_key_id="AKID", secret_access_key="secret", max_attempts=1
        )
        yield s3torch.S3Client(
            "us-east-1", endpoint=f"http://127.0.0.1:{server.server_port}", s3client_config=config
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _write(client: s3torch.S3Client) -> None:
    with client.put_object("bucket", "key") as writer:
        writer.write(b"x")


REGION_OPERATIONS: dict[str, Callable[[s3torch.S3Client], Any]] = {
    "read": lambda c: c.get_object("bucket", "key").read(),
    "list": lambda c: list(c.list_objects("bucket")),
    "write": _write,
    "delete": lambda c: c.delete_object("bucket", "key"),
    "head": lambda c: c.head_object("bucket", "key"),
    "copy": lambda c: c.copy_object("bucket", "key", "bucket", "key2"),
}


@pytest.mark.parametrize(
    ("answer", "operation"),
    [pytest.param(_PERMANENT_REDIRECT, op, id=f"301-{op}") for op in REGION_OPERATIONS]
    + [
        pytest.param(
            _HEADER_MALFORMED,
            op,
            id=f"400-{op}",
        )
        for op in REGION_OPERATIONS
    ],
)
def test_a_wrong_region_is_a_wrong_region_error_naming_the_right_one(
    answer: tuple[int, bytes], operation: str
) -> None:
    with wrong_region_server(answer) as client, pytest.raises(s3torch.S3WrongRegionError) as e:
        REGION_OPERATIONS[operation](client)
    assert "s3://bucket" in str(e.value)
    if answer is _HEADER_MALFORMED and operation in ("head", "copy"):
        # The crate keeps neither the headers of a HEAD answer (which has no body) nor the body
        # of a failed copy, so the error can only say that the region is the likely cause.
        assert "region" in str(e.value)
    else:
        assert "eu-west-1" in str(e.value)


# ---------------------------------------------------------------------------------------------
# Closed readers, writers and streams used again
# ---------------------------------------------------------------------------------------------

READER_CONSTRUCTORS = {
    "sequential": S3ReaderConstructor.sequential(),
    "range": S3ReaderConstructor.range_based(),
    "range-small-buffer": S3ReaderConstructor.range_based(buffer_size=16),
}
# test_reader.py covers read, readinto, seek, tell and readline; these are the rest.
CLOSED_READER_CALLS: list[tuple[str, tuple[Any, ...], bool]] = [
    # (method, arguments, whether s3torch implements it, so its message names the object)
    ("peek", (), True),
    ("peek", (10,), True),
    ("read1", (4,), True),
    ("readinto1", (bytearray(4),), True),
    ("readable", (), True),
    ("seekable", (), True),
    ("writable", (), True),
    ("seek", (0, io.SEEK_END), True),
    ("__next__", (), True),
    # io.BufferedIOBase's own methods, whose message is Python's "I/O operation on closed file."
    ("readlines", (), False),
    ("__iter__", (), False),
    ("__enter__", (), False),
    ("isatty", (), False),
]


@pytest.mark.parametrize("strategy", sorted(READER_CONSTRUCTORS))
def test_a_closed_reader_refuses_every_operation(
    client: s3torch.S3Client, bucket: str, strategy: str
) -> None:
    put(client, bucket, "k", b"line one\nline two\n")
    for name, args, ours in CLOSED_READER_CALLS:
        reader = client.get_object(bucket, "k", reader_constructor=READER_CONSTRUCTORS[strategy])
        reader.read(3)
        reader.close()
        with pytest.raises(ValueError, match="closed") as caught:
            getattr(reader, name)(*args)
        if ours:
            assert f"s3://{bucket}/k" in str(caught.value), name
        reader.close()


@pytest.mark.parametrize(
    "strategy",
    [pytest.param(name) for name in sorted(READER_CONSTRUCTORS)],
)
def test_a_closed_reader_refuses_prefetch(
    client: s3torch.S3Client, bucket: str, strategy: str
) -> None:
    put(client, bucket, "k", b"data")
    reader = client.get_object(bucket, "k", reader_constructor=READER_CONSTRUCTORS[strategy])
    reader.close()
    with pytest.raises(ValueError, match=f"closed reader of s3://{bucket}/k"):
        reader.prefetch()


def test_a_closed_or_aborted_writer_refuses_writes_naming_the_object(
    client: s3torch.S3Client, bucket: str, boto3_client: Any
) -> None:
    closed = client.put_object(bucket, "closed")
    closed.write(b"done")
    closed.close()
    aborted = client.put_object(bucket, "aborted")
    aborted.write(b"never")
    aborted.abort()
    for writer, state in ((closed, "closed"), (aborted, "aborted")):
        with pytest.raises(ValueError, match=f"{state} writer of s3://{bucket}/{state}"):
            writer.write(b"more")
        with pytest.raises(ValueError, match="closed"):
            writer.writelines([b"more"])
        with pytest.raises(ValueError, match="closed"):
            writer.flush()
    assert closed.etag is not None
    keys = [o["Key"] for o in boto3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["closed"]


def test_a_closed_or_aborted_upload_stream_refuses_writes_naming_the_object(
    client: s3torch.S3Client, bucket: str
) -> None:
    closed = client.put_object_stream(bucket, "closed")
    closed.write(b"done")
    closed.close()
    aborted = client.put_object_stream(bucket, "aborted")
    aborted.abort()
    for stream, state in ((closed, "already closed"), (aborted, "aborted")):
        for call in (lambda s: s.write(b"x"), lambda s: s.close()):
            with pytest.raises(ValueError, match=f"s3://{bucket}/.* was {state}"):
                call(stream)
        stream.abort()  # aborting again is harmless


@pytest.mark.parametrize("call", ["read", "read(5)", "readinto"])
def test_a_closed_download_stream_refuses_reads(
    client: s3torch.S3Client, bucket: str, call: str
) -> None:
    put(client, bucket, "k", b"0123456789")
    stream = client.get_object_stream(bucket, "k")
    assert stream.read(2) == b"01"
    stream.close()
    calls: dict[str, Callable[[], Any]] = {
        "read": stream.read,
        "read(5)": lambda: stream.read(5),
        "readinto": lambda: stream.readinto(bytearray(5)),
    }
    with pytest.raises(ValueError, match="closed"):
        calls[call]()


# ---------------------------------------------------------------------------------------------
# Fuzz: arbitrary values never give an untyped exception, a panic or a crash
# ---------------------------------------------------------------------------------------------

# What a careless caller might pass anywhere: numbers at and beyond every machine limit, text
# with NUL, surrogates and control characters, bytes, containers and plain objects.
ANY_INT = st.one_of(
    st.integers(-10, 10),
    st.integers(),
    st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, 2**64, 2**64 + 1, -(2**63), -(2**64), 10**30]),
)
ANY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec=None, categories=None), max_size=20),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\udc80", "x\r\ny", "é", "s3://", "auto", "path"]),
)
ANYTHING = st.one_of(
    ANY_INT,
    ANY_TEXT,
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=10),
    st.lists(st.integers(0, 3), max_size=2),
    st.just(object()),
    st.just(1 + 2j),
)
ALLOWED_FOR_ARGUMENTS = (ValueError, TypeError)


def assert_typed(error: BaseException, allowed: tuple[type[BaseException], ...]) -> None:
    """Fail unless ``error`` is one of the ``allowed`` typed refusals."""
    if not isinstance(error, allowed) or isinstance(error, UNTYPED):
        raise AssertionError(
            f"untyped error {type(error).__module__}.{type(error).__name__}"
        ) from error


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANYTHING, ANY_TEXT.map(lambda s: "s3://" + s), st.just("s3://bucket/")))
def test_fuzz_parse_s3_uri_only_raises_typed_errors(value: Any) -> None:
    try:
        bucket, key = parse_s3_uri(value)
    except BaseException as error:
        assert_typed(error, ALLOWED_FOR_ARGUMENTS)
        if isinstance(error, ValueError):
            assert repr(value) in str(error)
    else:
        assert parse_s3_uri(make_s3_uri(bucket, key)) == (bucket, key)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANYTHING, st.just("bucket")), st.one_of(ANYTHING, st.just("key")))
def test_fuzz_make_s3_uri_only_raises_typed_errors(bucket: Any, key: Any) -> None:
    try:
        uri = make_s3_uri(bucket, key)
    except BaseException as error:
        assert_typed(error, ALLOWED_FOR_ARGUMENTS)
        if isinstance(error, ValueError):
            assert repr(bucket) in str(error) or repr(key) in str(error)
    else:
        assert parse_s3_uri(uri) == (bucket, key)


CONFIG_FIELDS = [
    "throughput_target_gbps",
    "part_size",
    "unsigned",
    "force_path_style",
    "max_attempts",
    "profile",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "requester_pays",
    "ca_bundle",
    "addressing_style",
    "upload_checksum",
]
SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")


def config_arguments(field: str, value: Any) -> dict[str, Any]:
    """``{field: value}`` plus what that field needs to be checked on its own."""
    if field == "session_token":
        return {"access_key_id": "AKID", "secret_access_key": "SECRET", field: value}
    if field == "access_key_id":
        return {"secret_access_key": "SECRET", field: value}
    if field == "secret_access_key":
        return {"access_key_id": "AKID", field: value}
    return {field: value}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CONFIG_FIELDS), ANYTHING)
def test_fuzz_config_fields_only_raise_typed_errors_naming_the_field(
    field: str, value: Any
) -> None:
    try:
        s3torch.S3ClientConfig(**config_arguments(field, value))
    except BaseException as error:
        assert_typed(error, ALLOWED_FOR_ARGUMENTS)
        assert f"S3ClientConfig.{field}" in str(error)
        if field in SECRET_FIELDS and isinstance(value, str) and len(value) >= 3:
            assert value not in str(error)


# Non-str regions and endpoints are pinned by
# test_a_region_or_endpoint_that_is_not_a_str_is_a_type_error_naming_it; control characters in
# header text by test_header_text_with_control_characters_is_refused_at_construction (they do
# not fail at construction, so they cannot mislead this test).
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    region=st.one_of(st.none(), ANY_TEXT),
    endpoint=st.one_of(
        st.none(), ANY_TEXT, ANY_TEXT.map(lambda s: "http://" + s), st.just("https://127.0.0.1:9")
    ),
    user_agent=st.one_of(st.none(), ANYTHING),
    field=st.sampled_from(CONFIG_FIELDS),
    value=ANYTHING,
)
@example(region="us-east-1", endpoint="http://h:99999", user_agent=None, field="part_size", value=0)
def test_fuzz_client_construction_only_raises_typed_errors(
    isolated_aws_env: None, region: Any, endpoint: Any, user_agent: Any, field: str, value: Any
) -> None:
    try:
        config = s3torch.S3ClientConfig(**config_arguments(field, value))
    except (ValueError, TypeError):
        config = None
    try:
        s3torch.S3Client(region, endpoint=endpoint, user_agent=user_agent, s3client_config=config)
    except BaseException as error:
        assert_typed(error, (ValueError, TypeError, s3torch.S3Exception))


# -- reader operations ------------------------------------------------------------------------

FUZZ_OBJECT = b"".join(b"line %d %s\n" % (i, b"x" * (i % 37)) for i in range(150))


@pytest.fixture(scope="module")
def fuzz_object(module_client: s3torch.S3Client, s3_server: ServerInfo) -> Iterator[str]:
    name = "t-" + uuid.uuid4().hex[:16]
    s3_server.create_bucket(name)
    put(module_client, name, "fuzz", FUZZ_OBJECT)
    yield name
    s3_server.delete_bucket(name)


def _non_contiguous() -> memoryview:
    return memoryview(bytearray(16))[::2]


BUFFERS = st.one_of(
    st.integers(0, 300).map(bytearray),
    st.just(b"read-only"),
    st.builds(lambda: memoryview(b"read-only")),
    st.builds(_non_contiguous),
    st.builds(lambda: memoryview(bytearray(24)).cast("d")),
    st.builds(lambda: __import__("array").array("i", [0] * 5)),
    ANYTHING,
)
# Offsets stay well below 2**63 so that relative seeks cannot carry the position past 2**64;
# positions that far are pinned by test_reading_at_a_position_beyond_u64_returns_nothing.
OFFSETS = st.one_of(st.integers(-20, len(FUZZ_OBJECT) + 20), st.integers(-(2**58), 2**58))
SIZES_ = st.one_of(st.integers(-3, 300), st.none(), ANYTHING)
WHENCES = st.one_of(st.sampled_from([0, 1, 2]), ANYTHING)
OPERATIONS = st.one_of(
    st.tuples(st.just("read"), st.tuples(SIZES_)),
    st.tuples(st.just("read"), st.just(())),
    st.tuples(st.just("read1"), st.tuples(SIZES_)),
    st.tuples(st.just("readinto"), st.tuples(BUFFERS)),
    st.tuples(st.just("readinto1"), st.tuples(BUFFERS)),
    st.tuples(st.just("seek"), st.tuples(OFFSETS)),
    st.tuples(st.just("seek"), st.tuples(st.one_of(OFFSETS, ANYTHING), WHENCES)),
    st.tuples(st.just("tell"), st.just(())),
    st.tuples(st.just("peek"), st.tuples(SIZES_)),
    st.tuples(st.just("readline"), st.tuples(SIZES_)),
    st.tuples(st.just("prefetch"), st.just(())),
    st.tuples(st.just("close"), st.just(())),
)
DETERMINED = {"read", "readinto", "seek", "tell", "readline"}


def _huge(args: tuple[Any, ...]) -> bool:
    return any(isinstance(a, int) and not -sys.maxsize - 1 <= a <= sys.maxsize for a in args)


def _outcome(target: Any, name: str, args: tuple[Any, ...], buffer: Any) -> tuple[str, Any]:
    """("ok", result) or ("error", exception) of ``target.name(*args)``; for a bytearray
    buffer the result includes the bytes filled in."""
    try:
        result = getattr(target, name)(*args)
    except BaseException as error:
        return "error", error
    if isinstance(buffer, bytearray):
        return "ok", (result, bytes(buffer[: result if isinstance(result, int) else 0]))
    return "ok", result


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    strategy=st.sampled_from(sorted(READER_CONSTRUCTORS)),
    operations=st.lists(OPERATIONS, min_size=1, max_size=8),
)
def test_fuzz_reader_operations_only_raise_typed_errors_and_agree_with_bytesio(
    module_client: s3torch.S3Client, fuzz_object: str, strategy: str, operations: list[Any]
) -> None:
    reader = module_client.get_object(
        fuzz_object, "fuzz", reader_constructor=READER_CONSTRUCTORS[strategy]
    )
    model: io.BytesIO | None = io.BytesIO(FUZZ_OBJECT)
    try:
        for name, args in operations:
            ours_buffer = args[0] if name.startswith("readinto") else None
            if isinstance(ours_buffer, bytearray):
                model_args: tuple[Any, ...] = (bytearray(len(ours_buffer)),)
            else:
                model_args = args
            closed_before = reader.closed
            kind, ours = _outcome(reader, name, args, ours_buffer)
            if kind == "error":
                allowed: tuple[type[BaseException], ...] = (ValueError, TypeError)
                if name.startswith("readinto"):
                    allowed += (BufferError,)  # as io.BytesIO.readinto raises for such buffers
                if _huge(args):
                    allowed += (OverflowError,)  # as every io object does past sys.maxsize
                assert_typed(ours, allowed)
            # prefetch on a closed ranged reader: test_a_closed_reader_refuses_prefetch.
            if closed_before and name not in ("close", "prefetch"):
                assert kind == "error" and isinstance(ours, ValueError), (name, args, ours)
            if model is None:
                continue
            if name not in DETERMINED | {"close"}:
                # read1 and peek may return less than asked, but never other bytes.
                if kind == "ok" and name in ("read1", "peek"):
                    start = model.tell()
                    assert ours == FUZZ_OBJECT[start : start + len(ours)], (name, args)
                    assert ours or start >= len(FUZZ_OBJECT) or args[0] in (0, -3, -2, -1)
                if not reader.closed:
                    model.seek(reader.tell())
                continue
            model_buffer = model_args[0] if name.startswith("readinto") else None
            model_kind, theirs = _outcome(model, name, model_args, model_buffer)
            if kind == "ok" and model_kind == "ok":
                assert ours == theirs, (name, args)
            elif kind != model_kind:
                model = None  # the two disagree on validity (e.g. seek(2**58)): stop comparing
    finally:
        reader.close()


@pytest.mark.parametrize("call", ["read", "peek", "readinto"])
def test_reading_at_a_position_beyond_u64_returns_nothing(
    module_client: s3torch.S3Client, fuzz_object: str, call: str
) -> None:
    reader = module_client.get_object(fuzz_object, "fuzz")
    assert reader.seek(2**64) == 2**64
    calls: dict[str, Callable[[], Any]] = {
        "read": lambda: reader.read(10),
        "peek": lambda: reader.peek(10),
        "readinto": lambda: reader.readinto(bytearray(10)),
    }
    assert calls[call]() in (b"", 0)


def test_reading_far_past_the_end_returns_nothing(
    module_client: s3torch.S3Client, fuzz_object: str
) -> None:
    for constructor in READER_CONSTRUCTORS.values():
        reader = module_client.get_object(fuzz_object, "fuzz", reader_constructor=constructor)
        assert reader.seek(2**63) == 2**63
        assert reader.read(10) == b""
        assert reader.readinto(bytearray(10)) == 0
        assert reader.tell() == 2**63
