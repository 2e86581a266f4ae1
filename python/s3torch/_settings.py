"""The one resolved settings object the native client is built from.

:class:`ClientSettings` is the contract between the two layers: Python resolves the user's
:class:`~s3torch.S3ClientConfig`, arguments and environment into it, and the native core reads it
by field name (``s3torch._core.S3Client(settings)``). Its field names are the config's where the
two share a setting, so an error from either layer names the same field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ._aws_config import (
    default_addressing_style,
    resolve_ca_bundle,
    resolve_endpoint,
    resolve_profile,
    resolve_region,
)
from ._config import S3ClientConfig

__all__ = ["DEFAULT_READ_WINDOW", "ClientSettings", "resolve_settings"]

DEFAULT_READ_WINDOW = 128 * 1024 * 1024
"""How far ahead of the reader a GET may fetch, in bytes.

It bounds the parts of one stream in flight: 16 parts of 8 MiB. On a link like S3's (about
50 MiB/s per connection, 25 ms to the first byte) one stream reads at most about
``window / (25 ms + part_size / 50 MiB/s)``: 346 MiB/s with 64 MiB, 692 with 128 MiB (measured
through the ``--net s3`` proxy: 252 and 420 MiB/s for a 256 MiB object). It is also the memory a
stream read slower than the network holds: M1's peak RSS growth rose from 106 to 170 MiB.
"""


@dataclass(frozen=True)
class ClientSettings:
    """Everything a native client is built from, resolved: no "not set" left to look up.

    Not checked here: the native core checks what it relies on and names the field. Static
    credentials are left out of ``repr()``.
    """

    region: str
    endpoint: str | None = None
    user_agent_prefix: str = ""
    throughput_target_gbps: float = 10.0
    part_size: int = 8 * 1024 * 1024
    profile: str | None = None
    """The profile credentials come from; None for static keys, unsigned or the default chain."""
    unsigned: bool = False
    force_path_style: bool = False
    max_attempts: int = 10
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    requester_pays: bool = False
    ca_bundle: str | None = None
    upload_checksum: str | None = "crc32c"
    read_window: int = DEFAULT_READ_WINDOW
    stall_timeout_s: float | None = 120.0
    connect_refused_timeout_s: float | None = 5.0


def resolve_settings(
    config: S3ClientConfig,
    *,
    region: str | None = None,
    endpoint: str | None = None,
    user_agent_prefix: str = "",
) -> ClientSettings:
    """Resolve ``config`` and the explicit arguments the AWS way (see :mod:`s3torch._aws_config`).

    Raises:
        ValueError: The endpoint found is not a usable URL (the message says where it came from).
    """
    profile = resolve_profile(config.profile)
    resolved_endpoint = resolve_endpoint(endpoint, profile)
    style = default_addressing_style(resolved_endpoint, config.effective_addressing_style)
    return ClientSettings(
        region=resolve_region(region, profile),
        endpoint=resolved_endpoint,
        user_agent_prefix=user_agent_prefix,
        throughput_target_gbps=config.throughput_target_gbps,
        part_size=config.part_size,
        profile=_credentials_profile(config, profile),
        unsigned=config.unsigned,
        force_path_style=style == "path",
        max_attempts=config.max_attempts,
        access_key_id=config.access_key_id,
        secret_access_key=config.secret_access_key,
        session_token=config.session_token,
        requester_pays=config.requester_pays,
        ca_bundle=resolve_ca_bundle(config.ca_bundle),
        upload_checksum=config.upload_checksum,
        stall_timeout_s=config.stall_timeout_s,
        connect_refused_timeout_s=config.connect_refused_timeout_s,
    )


def _credentials_profile(config: S3ClientConfig, profile: str | None) -> str | None:
    """The profile to take credentials from, or None for the default chain.

    As in the AWS CLI and boto3: keys in the environment win over a profile named only by
    ``AWS_PROFILE``; a profile named in the config wins over them.
    """
    if config.unsigned or config.access_key_id is not None:
        return None
    if config.profile is None and os.environ.get("AWS_ACCESS_KEY_ID"):
        if os.environ.get("AWS_SECRET_ACCESS_KEY"):
            return None
    return profile
