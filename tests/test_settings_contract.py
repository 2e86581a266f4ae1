"""The settings contract between the two layers (python/s3torch/_config.py, _settings.py and
rust/src/settings.rs): every bad value is refused by ``S3ClientConfig`` and by the native
constructor alike, with the same error type and a message naming the same field.

No server is needed: each case fails before a request could be sent.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest

from s3torch import S3ClientConfig, _core
from s3torch._settings import ClientSettings, resolve_settings
from s3torch._uri import has_control_character

GOOD = ClientSettings("us-east-1")
KEYS = {"access_key_id": "AKID", "secret_access_key": "SECRET-VALUE"}
SECRETS = ("SECRET-VALUE", "SECRET-TOKEN", "SECRET\n")

# (settings shared by both layers, the field the message must name, the error type).
CASES: list[tuple[dict[str, Any], str, type[Exception]]] = [
    *(
        ({"part_size": value}, "part_size", ValueError)
        for value in (1024, _core.MIN_PART_SIZE - 1, _core.MAX_PART_SIZE + 1, -1, 2**70, 10**5000)
    ),
    *(({"part_size": value}, "part_size", TypeError) for value in ("8", 8.0, True, None)),
    *(({"max_attempts": value}, "max_attempts", ValueError) for value in (0, 65, -1, 2**70)),
    *(({"max_attempts": value}, "max_attempts", TypeError) for value in ("3", 3.0, False, None)),
    *(
        ({"throughput_target_gbps": value}, "throughput_target_gbps", ValueError)
        for value in (0, 0.0, -1.0, 400.5, float("inf"), float("nan"), 10**400)
    ),
    *(
        ({"throughput_target_gbps": value}, "throughput_target_gbps", TypeError)
        for value in ("10", True, None)
    ),
    *(
        ({"stall_timeout_s": value}, "stall_timeout_s", ValueError)
        for value in (0, -1.0, float("inf"), float("nan"))
    ),
    *(({"stall_timeout_s": value}, "stall_timeout_s", TypeError) for value in ("5", True)),
    *(
        ({"connect_refused_timeout_s": value}, "connect_refused_timeout_s", ValueError)
        for value in (0, -1.0, float("inf"), float("nan"))
    ),
    *(
        ({"connect_refused_timeout_s": value}, "connect_refused_timeout_s", TypeError)
        for value in ("5", True)
    ),
    *(
        ({name: value}, name, TypeError)
        for name in ("unsigned", "force_path_style", "requester_pays")
        for value in (1, "true", None)
    ),
    ({"profile": "dev\nprod"}, "profile", ValueError),
    ({"profile": ""}, "profile", ValueError),
    ({"profile": 3}, "profile", TypeError),
    ({"access_key_id": "AKID"}, "access_key_id", ValueError),
    ({"secret_access_key": "SECRET-VALUE"}, "secret_access_key", ValueError),
    ({"session_token": "SECRET-TOKEN"}, "session_token", ValueError),
    ({**KEYS, "access_key_id": "AK\x7fID"}, "access_key_id", ValueError),
    ({**KEYS, "secret_access_key": "SECRET\n"}, "secret_access_key", ValueError),
    ({**KEYS, "session_token": "SECRET\x85"}, "session_token", ValueError),
    ({**KEYS, "secret_access_key": b"SECRET-VALUE"}, "secret_access_key", TypeError),
    ({**KEYS, "session_token": ""}, "session_token", ValueError),
    ({**KEYS, "unsigned": True}, "unsigned", ValueError),
    ({"upload_checksum": "md5"}, "upload_checksum", ValueError),
    ({"upload_checksum": 1}, "upload_checksum", TypeError),
    ({"ca_bundle": 3}, "ca_bundle", TypeError),
    ({"ca_bundle": ""}, "ca_bundle", ValueError),
]


def _shown(name: str, value: object) -> str:
    if name in KEYS or "token" in name:
        return type(value).__name__
    if isinstance(value, int) and value.bit_length() > 64:
        return "huge-int"
    return repr(value)


def _case_id(case: tuple[dict[str, Any], str, type[Exception]]) -> str:
    values, field, error = case
    shown = ",".join(f"{name}={_shown(name, value)}" for name, value in values.items())
    return f"{error.__name__}:{field}:{shown[:60]}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_both_layers_refuse_a_bad_value_alike(
    case: tuple[dict[str, Any], str, type[Exception]],
) -> None:
    values, field, error = case
    with pytest.raises(error) as from_config:
        S3ClientConfig(**values)
    with pytest.raises(error) as from_native:
        _core.S3Client(dataclasses.replace(GOOD, **values))
    assert type(from_config.value) is type(from_native.value)
    for raised in (from_config.value, from_native.value):
        message = str(raised)
        assert field in message, message
        assert not any(secret in message for secret in SECRETS), message
    assert f"S3ClientConfig.{field}" in str(from_config.value)


def test_a_config_the_python_layer_accepts_builds_a_native_client() -> None:
    config = S3ClientConfig(
        part_size=_core.MAX_PART_SIZE,
        max_attempts=_core.MAX_ATTEMPTS,
        throughput_target_gbps=_core.MAX_THROUGHPUT_GBPS,
        stall_timeout_s=sys.float_info.max,
        **KEYS,
        session_token="SECRET-TOKEN",
        requester_pays=True,
        upload_checksum=None,
    )
    native = _core.S3Client(resolve_settings(config, region="eu-west-1"))
    assert (native.region, native.part_size, native.max_attempts) == (
        "eu-west-1",
        _core.MAX_PART_SIZE,
        _core.MAX_ATTEMPTS,
    )


def test_every_field_the_native_core_reads_is_a_field_of_the_settings() -> None:
    """A field renamed on one side only is a TypeError naming it, not a silent default."""

    @dataclasses.dataclass(frozen=True)
    class Renamed:
        region: str = "us-east-1"

    with pytest.raises(TypeError, match="no field"):
        _core.S3Client(Renamed())


def test_both_layers_agree_on_what_a_control_character_is() -> None:
    """Python's rule (``_uri.has_control_character``) and Rust's (``char::is_control``) refuse
    exactly the same characters, over the whole Basic Multilingual Plane."""
    # A setting that passes the header check still fails later (unsigned with keys), so no
    # client is built for any character.
    base = dataclasses.replace(GOOD, unsigned=True, **KEYS)
    disagreements = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates are not text
        ch = chr(code)
        with pytest.raises(ValueError) as caught:
            _core.S3Client(dataclasses.replace(base, user_agent_prefix=f"a{ch}b"))
        native = "control character" in str(caught.value)
        if native != has_control_character(ch):
            disagreements.append(hex(code))
    assert disagreements == []
