"""Bad input, fuzzed: arbitrary values never give an untyped exception, a panic or a crash.

Hypothesis throws arbitrary values at URI parsing, config and client construction and reader
operations. Bugs found are pinned by ``xfail(strict=True)`` tests whose reason says what is
wrong; the fuzz keeps those inputs out of its strategies (each exclusion names the test that
pins it). See :mod:`support.bad_input` for what the bad-input tests share.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import s3torch
from s3torch import make_s3_uri, parse_s3_uri
from support.bad_input import READER_CONSTRUCTORS, UNTYPED
from support.server import ServerInfo, stocked_bucket

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


# The exact errors for non-str regions and endpoints are pinned by
# test_a_region_or_endpoint_that_is_not_a_str_is_a_type_error_naming_it, those for control
# characters in header text by test_header_text_with_control_characters_is_refused_at_construction
# (both in test_bad_input_settings.py); here such values only have to raise a typed error.
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
    with stocked_bucket(s3_server, module_client, [("fuzz", FUZZ_OBJECT)]) as name:
        yield name


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
