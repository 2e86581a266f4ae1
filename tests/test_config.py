"""Tests for s3torch._config: S3ClientConfig and the resolution helpers."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import re
from collections.abc import Callable, Mapping
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3torch._aws_config import (
    DEFAULT_REGION,
    default_addressing_style,
    resolve_ca_bundle,
    resolve_endpoint,
    resolve_profile,
    resolve_region,
)
from s3torch._config import MAX_ATTEMPTS_LIMIT, MAX_PART_SIZE, MIN_PART_SIZE, S3ClientConfig

# --------------------------------------------------------------------------
# S3ClientConfig: compatibility with s3torchconnector 1.5
# --------------------------------------------------------------------------


def test_fields_order_and_defaults() -> None:
    fields = [(f.name, f.default) for f in dataclasses.fields(S3ClientConfig)]
    assert fields == [
        # s3torchconnector 1.5, in order
        ("throughput_target_gbps", 10.0),
        ("part_size", 8 * 1024 * 1024),
        ("unsigned", False),
        ("force_path_style", False),
        ("max_attempts", 10),
        ("profile", None),
        # ours
        ("access_key_id", None),
        ("secret_access_key", None),
        ("session_token", None),
        ("requester_pays", False),
        ("ca_bundle", None),
        ("addressing_style", "auto"),
        ("upload_checksum", "crc32c"),
        ("stall_timeout_s", 120.0),
        ("connect_refused_timeout_s", 5.0),
    ]


def test_positional_arguments_like_s3torchconnector() -> None:
    config = S3ClientConfig(20.0, 16 * 1024 * 1024, True, True, 3, "dev")
    assert config.throughput_target_gbps == 20.0
    assert config.part_size == 16 * 1024 * 1024
    assert config.unsigned is True
    assert config.force_path_style is True
    assert config.max_attempts == 3
    assert config.profile == "dev"


def test_frozen_and_hashable() -> None:
    config = S3ClientConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.part_size = 6 * 1024 * 1024  # type: ignore[misc]
    assert hash(config) == hash(S3ClientConfig())


def test_replace_revalidates() -> None:
    config = S3ClientConfig()
    assert dataclasses.replace(config, max_attempts=3).max_attempts == 3
    with pytest.raises(ValueError, match=re.escape("S3ClientConfig.max_attempts=0")):
        dataclasses.replace(config, max_attempts=0)


# --------------------------------------------------------------------------
# Numeric ranges
# --------------------------------------------------------------------------


def test_part_size_message() -> None:
    with pytest.raises(ValueError) as info:
        S3ClientConfig(part_size=1024)
    assert str(info.value) == (
        f"S3ClientConfig.part_size=1024 is out of range: must be at least {MIN_PART_SIZE}"
    )


@pytest.mark.parametrize("size", [MIN_PART_SIZE, MAX_PART_SIZE])
def test_part_size_boundaries_accepted(size: int) -> None:
    assert S3ClientConfig(part_size=size).part_size == size


@pytest.mark.parametrize("size", [MIN_PART_SIZE - 1, MAX_PART_SIZE + 1, 0, -1])
def test_part_size_boundaries_rejected(size: int) -> None:
    with pytest.raises(ValueError, match=re.escape("S3ClientConfig.part_size")):
        S3ClientConfig(part_size=size)


@given(st.integers(MIN_PART_SIZE, MAX_PART_SIZE))
def test_part_size_inside(size: int) -> None:
    assert S3ClientConfig(part_size=size).part_size == size


@given(
    st.one_of(
        st.integers(max_value=MIN_PART_SIZE - 1),
        st.integers(min_value=MAX_PART_SIZE + 1),
    )
)
def test_part_size_outside(size: int) -> None:
    with pytest.raises(ValueError, match=r"S3ClientConfig\.part_size=.*out of range"):
        S3ClientConfig(part_size=size)


@pytest.mark.parametrize("attempts", [1, MAX_ATTEMPTS_LIMIT])
def test_max_attempts_boundaries_accepted(attempts: int) -> None:
    assert S3ClientConfig(max_attempts=attempts).max_attempts == attempts


@pytest.mark.parametrize("attempts", [0, MAX_ATTEMPTS_LIMIT + 1, -5])
def test_max_attempts_boundaries_rejected(attempts: int) -> None:
    with pytest.raises(ValueError) as info:
        S3ClientConfig(max_attempts=attempts)
    bound = "at least 1" if attempts < 1 else f"at most {MAX_ATTEMPTS_LIMIT}"
    assert str(info.value) == (
        f"S3ClientConfig.max_attempts={attempts} is out of range: must be {bound}"
    )


@given(st.integers(1, MAX_ATTEMPTS_LIMIT))
def test_max_attempts_inside(attempts: int) -> None:
    assert S3ClientConfig(max_attempts=attempts).max_attempts == attempts


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_ATTEMPTS_LIMIT + 1)))
def test_max_attempts_outside(attempts: int) -> None:
    with pytest.raises(ValueError, match=r"S3ClientConfig\.max_attempts="):
        S3ClientConfig(max_attempts=attempts)


def test_huge_int_does_not_break_message() -> None:
    with pytest.raises(ValueError, match=re.escape("S3ClientConfig.part_size")):
        S3ClientConfig(part_size=10**5000)
    with pytest.raises(ValueError, match=re.escape("S3ClientConfig.throughput_target_gbps")):
        S3ClientConfig(throughput_target_gbps=10**5000)


@pytest.mark.parametrize("gbps", [400.0, 400, 1e-300, 5e-324, 1, 10.0, 0.5])
def test_throughput_boundaries_accepted(gbps: float) -> None:
    config = S3ClientConfig(throughput_target_gbps=gbps)
    assert config.throughput_target_gbps == gbps
    assert type(config.throughput_target_gbps) is float


@pytest.mark.parametrize(
    "gbps",
    [0.0, -0.0, 0, -1.0, 400.0000001, 401, math.inf, -math.inf, math.nan],
)
def test_throughput_boundaries_rejected(gbps: float) -> None:
    with pytest.raises(ValueError) as info:
        S3ClientConfig(throughput_target_gbps=gbps)
    message = str(info.value)
    assert message.startswith("S3ClientConfig.throughput_target_gbps=")
    assert "out of range" in message and "400" in message


@given(st.floats(min_value=0.0, max_value=400.0, exclude_min=True))
def test_throughput_inside(gbps: float) -> None:
    assert S3ClientConfig(throughput_target_gbps=gbps).throughput_target_gbps == gbps


@given(
    st.one_of(
        st.floats(max_value=0.0),
        st.floats(min_value=400.0, exclude_min=True),
        st.just(math.nan),
        st.integers(max_value=0),
        st.integers(min_value=401),
    )
)
def test_throughput_outside(gbps: float) -> None:
    with pytest.raises(ValueError, match=r"S3ClientConfig\.throughput_target_gbps="):
        S3ClientConfig(throughput_target_gbps=gbps)


# --------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("throughput_target_gbps", True),
        ("throughput_target_gbps", "10"),
        ("throughput_target_gbps", None),
        ("part_size", 8.0 * 1024 * 1024),
        ("part_size", True),
        ("part_size", "8388608"),
        ("max_attempts", True),
        ("max_attempts", 3.0),
        ("max_attempts", None),
        ("unsigned", 1),
        ("unsigned", "false"),
        ("unsigned", None),
        ("force_path_style", 0),
        ("requester_pays", "yes"),
        ("profile", 3),
        ("profile", b"dev"),
        ("ca_bundle", 3),
        ("ca_bundle", b"/etc/ssl/cert.pem"),
        ("addressing_style", None),
        ("addressing_style", 1),
    ],
)
def test_wrong_types(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"S3ClientConfig\.{field} must be"):
        S3ClientConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["unsigned", "force_path_style", "requester_pays"])
@pytest.mark.parametrize("value", [True, False])
def test_bools_accepted(field: str, value: bool) -> None:
    assert getattr(S3ClientConfig(**{field: value}), field) is value  # type: ignore[arg-type]


@given(
    st.sampled_from(["unsigned", "force_path_style", "requester_pays"]),
    st.one_of(st.integers(), st.floats(), st.text(), st.none()),
)
def test_bools_must_be_real_bools(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"S3ClientConfig\.{field}"):
        S3ClientConfig(**{field: value})  # type: ignore[arg-type]


def test_profile() -> None:
    assert S3ClientConfig(profile="dev").profile == "dev"
    with pytest.raises(
        ValueError, match=re.escape("S3ClientConfig.profile must not be an empty string")
    ):
        S3ClientConfig(profile="")


# --------------------------------------------------------------------------
# Addressing style and checksums
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("force", "style", "effective"),
    [
        (False, "auto", "auto"),
        (False, "path", "path"),
        (False, "virtual", "virtual"),
        (True, "auto", "path"),
        (True, "path", "path"),
    ],
)
def test_effective_addressing_style(force: bool, style: str, effective: str) -> None:
    config = S3ClientConfig(force_path_style=force, addressing_style=style)
    assert config.effective_addressing_style == effective


def test_force_path_style_conflicts_with_virtual() -> None:
    with pytest.raises(ValueError, match="force_path_style=True conflicts"):
        S3ClientConfig(force_path_style=True, addressing_style="virtual")


@pytest.mark.parametrize("style", ["", "Path", "VIRTUAL", "dns", "auto "])
def test_bad_addressing_style(style: str) -> None:
    with pytest.raises(ValueError, match=rf"S3ClientConfig\.addressing_style={style!r}"):
        S3ClientConfig(addressing_style=style)


@pytest.mark.parametrize("checksum", ["crc32c", None])
def test_upload_checksum_accepted(checksum: str | None) -> None:
    assert S3ClientConfig(upload_checksum=checksum).upload_checksum == checksum


@pytest.mark.parametrize("checksum", ["", "CRC32C", "crc32", "sha256", "md5"])
def test_upload_checksum_rejected(checksum: object) -> None:
    with pytest.raises(ValueError, match=r"S3ClientConfig\.upload_checksum=.*'crc32c'"):
        S3ClientConfig(upload_checksum=checksum)  # type: ignore[arg-type]


@pytest.mark.parametrize("checksum", [1, False, b"crc32c"])
def test_upload_checksum_of_another_type_is_a_type_error(checksum: object) -> None:
    with pytest.raises(TypeError, match=r"S3ClientConfig\.upload_checksum must be a str or None"):
        S3ClientConfig(upload_checksum=checksum)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# CA bundle
# --------------------------------------------------------------------------


def test_ca_bundle(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    assert S3ClientConfig(ca_bundle=str(pem)).ca_bundle == str(pem)
    from_path = S3ClientConfig(ca_bundle=pem)  # type: ignore[arg-type]
    assert from_path.ca_bundle == str(pem)
    assert type(from_path.ca_bundle) is str

    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ValueError, match=r"S3ClientConfig\.ca_bundle=.* does not exist"):
        S3ClientConfig(ca_bundle=missing)
    with pytest.raises(ValueError, match=r"S3ClientConfig\.ca_bundle=.* is not a file"):
        S3ClientConfig(ca_bundle=str(tmp_path))
    with pytest.raises(
        ValueError, match=re.escape("S3ClientConfig.ca_bundle must not be an empty string")
    ):
        S3ClientConfig(ca_bundle="")


# --------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------

# Credentials go into HTTP headers: printable text only (control characters are refused).
secrets = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1).map(
    lambda s: f"SECRET<{s}>"
)


def test_credentials_accepted() -> None:
    config = S3ClientConfig(access_key_id="AKIA", secret_access_key="shh")
    assert (config.access_key_id, config.secret_access_key) == ("AKIA", "shh")
    config = S3ClientConfig(access_key_id="AKIA", secret_access_key="shh", session_token="tok")
    assert config.session_token == "tok"


@given(secrets, secrets, secrets)
def test_repr_never_shows_secrets(key_id: str, secret: str, token: str) -> None:
    config = S3ClientConfig(access_key_id=key_id, secret_access_key=secret, session_token=token)
    text = repr(config) + str(config)
    assert "SECRET<" not in text
    assert repr(config) == repr(S3ClientConfig())
    for name in ("access_key_id", "secret_access_key", "session_token"):
        assert name not in text


@given(secrets, secrets)
def test_credential_errors_never_show_secrets(first: str, second: str) -> None:
    attempts: list[dict[str, object]] = [
        {"access_key_id": first},
        {"secret_access_key": first},
        {"session_token": first},
        {"access_key_id": first, "session_token": second},
        {"secret_access_key": first, "session_token": second},
        {"access_key_id": first, "secret_access_key": ""},
        {"access_key_id": "", "secret_access_key": first},
        {"access_key_id": first, "secret_access_key": second, "session_token": ""},
        {"access_key_id": first, "secret_access_key": second.encode()},
        {"access_key_id": first, "secret_access_key": second, "max_attempts": 0},
        {"access_key_id": first, "secret_access_key": second, "unsigned": 1},
    ]
    for kwargs in attempts:
        with pytest.raises((TypeError, ValueError)) as info:
            S3ClientConfig(**kwargs)  # type: ignore[arg-type]
        message = str(info.value)
        assert "SECRET<" not in message
        assert "S3ClientConfig." in message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"access_key_id": "a"}, "access_key_id was given without"),
        ({"secret_access_key": "s"}, "secret_access_key was given without"),
        ({"session_token": "t"}, "session_token was given without"),
        (
            {"access_key_id": "a", "session_token": "t"},
            "access_key_id was given without",
        ),
        (
            {"access_key_id": "a", "secret_access_key": ""},
            "secret_access_key must not be an empty string",
        ),
        (
            {"access_key_id": "a", "secret_access_key": "s", "unsigned": True},
            r"unsigned=True conflicts with static credentials \(S3ClientConfig.access_key_id\)",
        ),
    ],
)
def test_credential_combinations(kwargs: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        S3ClientConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["access_key_id", "secret_access_key"])
def test_credential_type_error_names_field_not_value(field: str) -> None:
    kwargs: dict[str, object] = {
        "access_key_id": "a",
        "secret_access_key": "s",
        field: b"SECRET<bytes>",
    }
    with pytest.raises(TypeError) as info:
        S3ClientConfig(**kwargs)  # type: ignore[arg-type]
    assert f"S3ClientConfig.{field} must be a str or None, not bytes" == str(info.value)


# --------------------------------------------------------------------------
# Pickling
# --------------------------------------------------------------------------


def test_pickle_round_trip(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("pem")
    configs = [
        S3ClientConfig(),
        S3ClientConfig(
            throughput_target_gbps=100,
            part_size=MIN_PART_SIZE,
            force_path_style=True,
            max_attempts=1,
            profile="dev",
            access_key_id="AKIA",
            secret_access_key="shh",
            session_token="tok",
            requester_pays=True,
            ca_bundle=str(pem),
            addressing_style="path",
            upload_checksum=None,
        ),
    ]
    for config in configs:
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            # Handed to another process (DataLoader workers): everything travels.
            clone = pickle.loads(ForkingPickler.dumps(config, protocol=protocol))
            assert clone == config
            assert repr(clone) == repr(config)
            assert copy.deepcopy(config) == config
            # Written to a pickle: everything but the static credentials.
            data = pickle.dumps(config, protocol=protocol)
            assert b"shh" not in data and b"tok" not in data and b"AKIA" not in data
            written = pickle.loads(data)
            assert written == dataclasses.replace(
                config, access_key_id=None, secret_access_key=None, session_token=None
            )
            assert written.credentials_withheld == (config.access_key_id is not None)
            assert not dataclasses.replace(written).credentials_withheld


# --------------------------------------------------------------------------
# Resolution helpers
# --------------------------------------------------------------------------

AWS_CONFIG = """\
[default]
region = eu-west-1
endpoint_url = http://default.example:9000/

[profile dev]
region = ap-south-1
endpoint_url = https://dev.example

[profile empty]
region =
endpoint_url =

[profile nested]
s3 =
    addressing_style = path
region = ca-central-1

[profile badurl]
endpoint_url = ftp://nope.example
"""


@pytest.fixture
def aws_config(tmp_path: Path) -> str:
    path = tmp_path / "config"
    path.write_text(AWS_CONFIG)
    return str(path)


def _env(config_file: str, **variables: str) -> dict[str, str]:
    """A fake environment that never reads the real ~/.aws/config."""
    return {"AWS_CONFIG_FILE": config_file, **variables}


@pytest.mark.parametrize(
    ("resolve", "variable"),
    [(resolve_profile, "AWS_PROFILE"), (resolve_ca_bundle, "AWS_CA_BUNDLE")],
    ids=["profile", "ca_bundle"],
)
@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("from-argument", "from-variable", "from-argument"),
        (None, "from-variable", "from-variable"),
        ("", "from-variable", "from-variable"),
        (None, "", None),
        (None, None, None),  # None: the variable is not set
        ("", None, None),
    ],
)
def test_resolve_takes_the_argument_then_the_variable_and_empty_is_unset(
    resolve: Callable[[str | None, Mapping[str, str]], str | None],
    variable: str,
    argument: str | None,
    value: str | None,
    expected: str | None,
) -> None:
    environ = {} if value is None else {variable: value}
    assert resolve(argument, environ) == expected


@pytest.mark.parametrize(
    ("region", "profile", "variables", "expected"),
    [
        (
            "us-west-2",
            None,
            {"AWS_REGION": "x", "AWS_DEFAULT_REGION": "y"},
            "us-west-2",
        ),
        (None, None, {"AWS_REGION": "x", "AWS_DEFAULT_REGION": "y"}, "x"),
        ("", None, {"AWS_REGION": "x", "AWS_DEFAULT_REGION": "y"}, "x"),
        (None, None, {"AWS_REGION": "", "AWS_DEFAULT_REGION": "y"}, "y"),
        (None, None, {"AWS_DEFAULT_REGION": "y"}, "y"),
        (None, None, {"AWS_REGION": "  "}, "eu-west-1"),
        (None, None, {}, "eu-west-1"),
        (None, "dev", {}, "ap-south-1"),
        (None, None, {"AWS_PROFILE": "dev"}, "ap-south-1"),
        (None, "nested", {"AWS_PROFILE": "dev"}, "ca-central-1"),
        (None, "default", {"AWS_PROFILE": "dev"}, "eu-west-1"),
        (None, "empty", {}, DEFAULT_REGION),
        (None, "unknown", {}, DEFAULT_REGION),
        (None, "dev", {"AWS_DEFAULT_REGION": "y"}, "y"),
    ],
)
def test_resolve_region(
    aws_config: str,
    region: str | None,
    profile: str | None,
    variables: dict[str, str],
    expected: str,
) -> None:
    assert resolve_region(region, profile, _env(aws_config, **variables)) == expected


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing file
        "",  # empty file
        "region = x\n",  # no section header
        "[default\nregion = x\n",  # malformed header
        b"\xff\xfe[default]\nregion = x\n",  # not UTF-8
    ],
)
def test_resolve_region_unusable_config_file(tmp_path: Path, content: str | bytes | None) -> None:
    path = tmp_path / "config"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert resolve_region(None, None, _env(str(path))) == DEFAULT_REGION
    assert resolve_endpoint(None, None, _env(str(path))) is None


def test_resolve_region_config_file_is_directory(tmp_path: Path) -> None:
    assert resolve_region(None, None, _env(str(tmp_path))) == DEFAULT_REGION


def test_uppercase_default_section_is_not_special(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[DEFAULT]\nregion = x\n[profile dev]\nendpoint_url = http://h\n")
    assert resolve_region(None, "dev", _env(str(path))) == DEFAULT_REGION
    assert resolve_region(None, None, _env(str(path))) == DEFAULT_REGION


def test_config_file_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nregion = sa-east-1\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    assert resolve_region(None, None, {}) == "sa-east-1"
    assert resolve_region(None, None, {"AWS_CONFIG_FILE": ""}) == "sa-east-1"


@pytest.mark.parametrize(
    ("endpoint", "profile", "variables", "expected"),
    [
        (
            "http://arg:1/",
            None,
            {"AWS_ENDPOINT_URL_S3": "http://s3", "AWS_ENDPOINT_URL": "http://all"},
            "http://arg:1",
        ),
        (
            None,
            None,
            {"AWS_ENDPOINT_URL_S3": "http://s3", "AWS_ENDPOINT_URL": "http://all"},
            "http://s3",
        ),
        (
            "",
            None,
            {"AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL": "http://all/"},
            "http://all",
        ),
        (None, None, {}, "http://default.example:9000"),
        (None, "dev", {}, "https://dev.example"),
        (None, None, {"AWS_PROFILE": "dev"}, "https://dev.example"),
        (None, "empty", {}, None),
        (None, "unknown", {}, None),
        (None, "dev", {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, None),
        (
            None,
            None,
            {
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE",
                "AWS_ENDPOINT_URL": "http://a",
            },
            None,
        ),
        (
            "https://arg",
            None,
            {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
            "https://arg",
        ),
        (
            None,
            None,
            {
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
                "AWS_ENDPOINT_URL": "http://a",
            },
            "http://a",
        ),
        (
            "HTTPS://Host.Example:8443/prefix//",
            None,
            {},
            "HTTPS://Host.Example:8443/prefix",
        ),
        ("http://[::1]:9000", None, {}, "http://[::1]:9000"),
        ("http://127.0.0.1:9000", None, {}, "http://127.0.0.1:9000"),
    ],
)
def test_resolve_endpoint(
    aws_config: str,
    endpoint: str | None,
    profile: str | None,
    variables: dict[str, str],
    expected: str | None,
) -> None:
    environ = _env(aws_config, **variables)
    assert resolve_endpoint(endpoint, profile, environ) == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "localhost:9000",
        "ftp://host",
        "http://",
        "http:///path",
        "https://:443",
        "http://host:port",
        "http://host:99999",
        "http://[::1",
        "http://host/?q=1",
        "http://host/#frag",
        "http://ho st",
        "http://ho\tst",
        "http://host\x00",
        "s3://bucket",
        "//host",
    ],
)
def test_resolve_endpoint_invalid(aws_config: str, endpoint: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_endpoint(endpoint, None, _env(aws_config))
    message = str(info.value)
    assert message.startswith(f"invalid S3 endpoint {endpoint.strip()!r}")
    assert "the endpoint argument" in message


@pytest.mark.parametrize(
    ("profile", "variables", "source"),
    [
        (None, {"AWS_ENDPOINT_URL_S3": "nope"}, "AWS_ENDPOINT_URL_S3"),
        (None, {"AWS_ENDPOINT_URL": "nope"}, "AWS_ENDPOINT_URL"),
        ("badurl", {}, "endpoint_url in the AWS config file"),
    ],
)
def test_resolve_endpoint_invalid_names_source(
    aws_config: str, profile: str | None, variables: dict[str, str], source: str
) -> None:
    with pytest.raises(ValueError, match=f"from {source}"):
        resolve_endpoint(None, profile, _env(aws_config, **variables))


@given(st.text())
def test_resolve_endpoint_raises_only_value_error(text: str) -> None:
    environ: Mapping[str, str] = {"AWS_CONFIG_FILE": "/nonexistent/s3torch/config"}
    try:
        result = resolve_endpoint(text, None, environ)
    except ValueError:
        return
    if result is not None:
        assert result.lower().startswith(("http://", "https://"))
        assert not result.endswith("/")


@pytest.mark.parametrize(
    ("endpoint", "style", "expected"),
    [
        (None, "auto", "virtual"),
        ("", "auto", "virtual"),
        ("http://localhost:9000", "auto", "path"),
        (None, "path", "path"),
        ("http://localhost:9000", "virtual", "virtual"),
        (None, "virtual", "virtual"),
    ],
)
def test_default_addressing_style(endpoint: str | None, style: str, expected: str) -> None:
    assert default_addressing_style(endpoint, style) == expected


def test_default_addressing_style_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="invalid addressing style 'dns'"):
        default_addressing_style(None, "dns")


def test_default_environ_is_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("AWS_PROFILE", "from-env")
    monkeypatch.setenv("AWS_REGION", "me-south-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://env:1/")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/env.pem")
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    assert resolve_profile(None) == "from-env"
    assert resolve_region(None) == "me-south-1"
    assert resolve_endpoint(None) == "http://env:1"
    assert resolve_ca_bundle(None) == "/env.pem"
