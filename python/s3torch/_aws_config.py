"""Where settings come from when they are not given: the AWS resolution chain.

Each ``resolve_*`` function picks one setting the way the AWS CLI and SDKs do: an explicit
argument wins, then environment variables, then the active profile of the AWS config file, then
a default. Empty strings (after stripping whitespace) always count as "not set". The settings
themselves and their rules are in :mod:`s3torch._config`; :mod:`s3torch._settings` puts the two
together into what the native client is built from.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from ._uri import has_control_character

__all__ = [
    "ADDRESSING_STYLES",
    "DEFAULT_REGION",
    "default_addressing_style",
    "profile_section",
    "read_config_section",
    "resolve_ca_bundle",
    "resolve_endpoint",
    "resolve_profile",
    "resolve_region",
]

ADDRESSING_STYLES: tuple[str, ...] = ("auto", "path", "virtual")
"""Accepted values of ``S3ClientConfig.addressing_style``."""

DEFAULT_REGION = "us-east-1"
"""Region used when no region is configured anywhere."""


def _clean(value: str | None, what: str = "value") -> str | None:
    """Strip ``value``; None and empty strings both mean "not set"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")
    value = value.strip()
    return value or None


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return _clean(environ.get(name))


def resolve_profile(profile: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """Return the AWS profile name to use.

    Order: the ``profile`` argument, then the ``AWS_PROFILE`` environment
    variable, else None (meaning the ``default`` profile). Empty strings
    count as not set.

    Args:
        profile: Profile requested explicitly, or None.
        environ: Environment variables to consult (``os.environ`` by
            default).

    Returns:
        The profile name, or None.
    """
    return _clean(profile, "profile") or _env(environ, "AWS_PROFILE")


def profile_section(name: str) -> str:
    """The AWS config file's section for the profile ``name``: ``[default]`` or ``[profile NAME]``
    (the shared credentials file names its sections plainly: ``[NAME]``)."""
    return "default" if name == "default" else f"profile {name}"


def read_config_section(path: str, section: str) -> dict[str, str]:
    """The settings of ``[section]`` in the INI file at ``path`` (an AWS config or credentials
    file), their values stripped and their names lower-cased.

    A missing, unreadable or malformed file and a missing section all give ``{}``.
    """
    parser = configparser.ConfigParser(
        interpolation=None,
        strict=False,
        delimiters=("=",),
        # Keep configparser's special "DEFAULT" section out of the way.
        default_section="\x00s3torch-no-default-section",
    )
    try:
        parser.read(path, encoding="utf-8")
        if not parser.has_section(section):
            return {}
        return {key: value.strip() for key, value in parser.items(section)}
    except (OSError, UnicodeDecodeError, configparser.Error):
        return {}


def _profile_setting(option: str, profile: str | None, environ: Mapping[str, str]) -> str | None:
    """Read ``option`` from the active profile of the AWS config file.

    A missing, unreadable or malformed file, a missing section and a missing
    or empty option all give None.
    """
    section = profile_section(resolve_profile(profile, environ) or "default")
    path = os.path.expanduser(_env(environ, "AWS_CONFIG_FILE") or "~/.aws/config")
    return _clean(read_config_section(path, section).get(option))


def resolve_region(
    region: str | None,
    profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Return the AWS region to use.

    Order: the ``region`` argument, ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
    the ``region`` setting of the active profile in the AWS config file
    (``AWS_CONFIG_FILE``, else ``~/.aws/config``; section ``[default]`` for
    the default profile and ``[profile NAME]`` otherwise), else
    ``"us-east-1"``. Empty strings count as not set; a missing or
    unreadable config file counts as having no region.

    Args:
        region: Region requested explicitly, or None.
        profile: Profile whose settings to read; None means ``AWS_PROFILE``
            or else ``default`` (see :func:`resolve_profile`).
        environ: Environment variables to consult (``os.environ`` by
            default).

    Returns:
        The region name.
    """
    return (
        _clean(region, "region")
        or _env(environ, "AWS_REGION")
        or _env(environ, "AWS_DEFAULT_REGION")
        or _profile_setting("region", profile, environ)
        or DEFAULT_REGION
    )


def _checked_endpoint(url: str, source: str) -> str:
    def problem(reason: str) -> ValueError:
        shown = _without_userinfo(url)
        return ValueError(f"invalid S3 endpoint {shown!r} (from {source}): {reason}")

    if has_control_character(url) or any(ch.isspace() for ch in url):
        raise problem("must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        raise problem("must be an http:// or https:// URL with a host") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise problem("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise problem(
            "must not contain a user name or password (give credentials as "
            "access_key_id/secret_access_key, a profile or the environment)"
        )
    if parts.query or parts.fragment:
        raise problem("must not have a query string or fragment")
    return url.rstrip("/")


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced, for error messages."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return scheme + sep + authority + slash + path


def resolve_endpoint(
    endpoint: str | None,
    profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """Return the custom S3 endpoint URL to use, or None for AWS's own.

    Order: the ``endpoint`` argument, ``AWS_ENDPOINT_URL_S3``,
    ``AWS_ENDPOINT_URL``, the ``endpoint_url`` setting of the active profile
    in the AWS config file, else None. As in the AWS SDKs, setting
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`` skips the environment
    variables and the config file (the argument is still used). Empty
    strings count as not set. A trailing ``/`` is removed from the result.

    Args:
        endpoint: Endpoint requested explicitly, e.g.
            ``"http://localhost:9000"``, or None.
        profile: Profile whose settings to read; None means ``AWS_PROFILE``
            or else ``default``.
        environ: Environment variables to consult (``os.environ`` by
            default).

    Returns:
        The endpoint URL without trailing ``/``, or None.

    Raises:
        ValueError: If the chosen endpoint is not an ``http://`` or
            ``https://`` URL with a host (or has a malformed port, a query
            string, a fragment, whitespace or control characters). The
            message shows the URL and where it came from.
    """
    url = _clean(endpoint, "endpoint")
    if url is not None:
        return _checked_endpoint(url, "the endpoint argument")
    ignore = (_env(environ, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or "").lower()
    if ignore == "true":
        return None
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        url = _env(environ, variable)
        if url is not None:
            return _checked_endpoint(url, variable)
    url = _profile_setting("endpoint_url", profile, environ)
    if url is not None:
        return _checked_endpoint(url, "endpoint_url in the AWS config file")
    return None


def resolve_ca_bundle(ca_bundle: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """Return the path of the CA bundle to use, or None for the system CAs.

    Order: the ``ca_bundle`` argument, then ``AWS_CA_BUNDLE``, else None.
    Empty strings count as not set. The path is not checked here;
    :class:`S3ClientConfig` checks that it is an existing file.

    Args:
        ca_bundle: Path requested explicitly, or None.
        environ: Environment variables to consult (``os.environ`` by
            default).

    Returns:
        The path, or None.
    """
    return _clean(ca_bundle, "ca_bundle") or _env(environ, "AWS_CA_BUNDLE")


def default_addressing_style(endpoint: str | None, style: str) -> str:
    """Settle the ``"auto"`` addressing style for an endpoint.

    Args:
        endpoint: The custom endpoint in use, or None (or empty) for AWS.
        style: ``"auto"``, ``"path"`` or ``"virtual"``.

    Returns:
        For ``"auto"``: ``"path"`` when a custom endpoint is set (most
        S3-compatible servers only support path style), else
        ``"virtual"``. Any other style is returned unchanged.

    Raises:
        ValueError: If ``style`` is not one of the three accepted values.
    """
    if style not in ADDRESSING_STYLES:
        raise ValueError(f"invalid addressing style {style!r}: must be 'auto', 'path' or 'virtual'")
    if style != "auto":
        return style
    return "path" if endpoint else "virtual"
