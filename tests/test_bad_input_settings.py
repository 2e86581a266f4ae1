"""Bad input: bad settings at client construction.

The field-by-field checks of ``S3ClientConfig`` live in ``test_config.py``; these check that
each bad setting reaches the user through every door. See :mod:`support.bad_input` for what
the bad-input tests share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import s3torch
from support.bad_input import MiB

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


# Text that becomes part of an HTTP header is refused when the config or client is built. Were it
# accepted, every request would fail only after all its attempts (max_attempts=10: about 35 s)
# with S3NetworkError("AWS_ERROR_HTTP_INVALID_HEADER_VALUE"), or (region) a generic S3Exception
# from endpoint resolution, and nothing would tell the user which setting is wrong.
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
