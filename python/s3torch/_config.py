"""Client configuration and the AWS-style resolution of region, endpoint, etc.

:class:`S3ClientConfig` holds the tunables of the S3 client. Its first six
fields are the same (name, order, default and meaning) as in
``s3torchconnector`` 1.5, so existing code keeps working; the fields after
them are extensions of this project.

The ``resolve_*`` helpers pick a setting the way AWS tools do: an explicit
argument wins, then environment variables, then the active profile of the
AWS config file, then a default. Empty strings (after stripping whitespace)
always count as "not set".
"""

from __future__ import annotations

import configparser
import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ADDRESSING_STYLES",
    "DEFAULT_REGION",
    "MAX_ATTEMPTS_LIMIT",
    "MAX_PART_SIZE",
    "MAX_THROUGHPUT_GBPS",
    "MIN_PART_SIZE",
    "UPLOAD_CHECKSUMS",
    "S3ClientConfig",
    "default_addressing_style",
    "resolve_ca_bundle",
    "resolve_endpoint",
    "resolve_profile",
    "resolve_region",
]

# The limits are the native core's, which enforces them too.
from ._core import MAX_ATTEMPTS as MAX_ATTEMPTS_LIMIT
from ._core import MAX_PART_SIZE, MAX_THROUGHPUT_GBPS, MIN_PART_SIZE

_MIB = 1024 * 1024

ADDRESSING_STYLES: tuple[str, ...] = ("auto", "path", "virtual")
"""Accepted values of ``S3ClientConfig.addressing_style``."""

UPLOAD_CHECKSUMS: tuple[str | None, ...] = ("crc32c", None)
"""Accepted values of ``S3ClientConfig.upload_checksum``."""

DEFAULT_REGION = "us-east-1"
"""Region used when no region is configured anywhere."""

_SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")


def _show(value: object) -> str:
    """repr() of a (non-secret) value, safe for gigantic integers."""
    try:
        return repr(value)
    except ValueError:  # int too large for str() conversion
        return f"<{type(value).__name__} too large to display>"


def _name(field_name: str) -> str:
    return f"S3ClientConfig.{field_name}"


def _check_bool(field_name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(
            f"{_name(field_name)} must be a bool (True or False), "
            f"not {type(value).__name__} ({_show(value)})"
        )


def _check_int_range(field_name: str, value: object, low: int, high: int, allowed: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{_name(field_name)} must be an int, not {type(value).__name__} ({_show(value)})"
        )
    if not low <= value <= high:
        raise ValueError(f"{_name(field_name)}={_show(value)} is out of range: {allowed}")


def _check_optional_str(field_name: str, value: object, secret: bool) -> None:
    """Accept None or a non-empty str; never show the value if ``secret``."""
    if value is None:
        return
    if not isinstance(value, str):
        shown = "" if secret else f" ({_show(value)})"
        raise TypeError(
            f"{_name(field_name)} must be a str or None, not {type(value).__name__}{shown}"
        )
    if not value:
        raise ValueError(f"{_name(field_name)} must not be an empty string")


@dataclass(frozen=True)
class S3ClientConfig:
    """Settings of the S3 client.

    All values are checked when the config is created, so mistakes are
    reported immediately rather than on the first request. The config is
    immutable; use :func:`dataclasses.replace` to derive a modified copy
    (which is checked again).

    The first six fields match ``s3torchconnector`` 1.5's ``S3ClientConfig``
    exactly (including positional order); the others are extensions.

    Static credentials (``access_key_id``, ``secret_access_key`` and
    ``session_token``) are never shown by ``repr()`` nor in error messages,
    and never written to pickles: ``pickle.dumps`` (and so ``torch.save``)
    of a config, or of anything holding one, leaves them out, and a client
    built from such an unpickled config raises ``ValueError`` instead of
    silently using other credentials. Handing a config to ``DataLoader``
    workers and other ``multiprocessing`` children (fork, spawn and
    forkserver alike) keeps them, since that goes through a pipe between
    the processes rather than into a file. ``copy.copy``/``copy.deepcopy``
    keep them too.

    Attributes:
        throughput_target_gbps: Throughput the client tries to reach, in
            gigabits per second. Must be finite, greater than 0 and at most
            400. Integers are accepted and stored as float. Default 10.0.
        part_size: Size in bytes of the parts used for multipart uploads and
            ranged downloads, between 5 MiB (5242880) and 5 GiB
            (5368709120). Default 8 MiB.
        unsigned: If True, requests are not signed (anonymous access to
            public buckets). Default False.
        force_path_style: If True, use path-style addressing
            (``https://endpoint/bucket/key``); overrides
            ``addressing_style``. Default False.
        max_attempts: Total number of attempts for a request, including the
            first one, between 1 and 64. Default 10.
        profile: Name of the AWS profile to use for credentials and
            settings, or None for the default (``AWS_PROFILE`` or
            ``default``). Must not be empty.
        access_key_id: Static access key id. Must be given together with
            ``secret_access_key``. Not shown by repr().
        secret_access_key: Static secret access key. Must be given together
            with ``access_key_id``. Not shown by repr().
        session_token: Session token for temporary credentials; only
            allowed together with the two fields above. Not shown by repr().
        requester_pays: If True, send the "requester pays" header so that
            the caller is billed for requests to such buckets.
            Default False.
        ca_bundle: Path of a PEM file with the CA certificates to trust
            instead of the system ones (a plain ``str``; ``os.PathLike``
            values are converted). The file must exist when the config is
            created. Default None.
        addressing_style: ``"auto"`` (path style for custom endpoints,
            virtual-hosted style for AWS), ``"path"`` or ``"virtual"``.
            Combining ``"virtual"`` with ``force_path_style=True`` is an
            error. Default ``"auto"``.
        upload_checksum: Checksum algorithm sent with uploads: ``"crc32c"``,
            or None to send no checksum (for servers that reject them).
            Default ``"crc32c"``.
        stall_timeout_s: Longest wait, in seconds, for one step of an
            operation: response headers, the next part of a body, a page of
            a listing, HEAD/DELETE, or an upload accepting more data. A step
            that takes longer is canceled and raises
            :class:`~s3torch.S3TimeoutError`. Retries happen inside a step,
            so keep it above the time ``max_attempts`` attempts take against
            a store that is down (about 30 s for 10 attempts). Completing an
            upload and server-side copies, whose one step lasts as long as
            the data takes, are bounded only by the CRT's own detection of
            stalled connections (no bytes for 30 s fails the attempt). None
            waits as long as that takes. Default 120.0.

    Raises:
        TypeError: If a field has the wrong type (the message names the
            field). ``bool`` fields need real bools; ``int`` fields reject
            bools and floats.
        ValueError: If a value is out of range or conflicts with another
            field; the message names the field, the value (except for
            credentials) and what is allowed.
    """

    throughput_target_gbps: float = 10.0
    part_size: int = 8 * _MIB
    unsigned: bool = False
    force_path_style: bool = False
    max_attempts: int = 10
    profile: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    requester_pays: bool = False
    ca_bundle: str | None = None
    addressing_style: str = "auto"
    upload_checksum: str | None = "crc32c"
    stall_timeout_s: float | None = 120.0

    def __post_init__(self) -> None:
        self._check_throughput()
        _check_int_range(
            "part_size",
            self.part_size,
            MIN_PART_SIZE,
            MAX_PART_SIZE,
            f"must be between 5 MiB ({MIN_PART_SIZE}) and 5 GiB ({MAX_PART_SIZE})",
        )
        _check_bool("unsigned", self.unsigned)
        _check_bool("force_path_style", self.force_path_style)
        _check_int_range(
            "max_attempts",
            self.max_attempts,
            1,
            MAX_ATTEMPTS_LIMIT,
            f"must be between 1 and {MAX_ATTEMPTS_LIMIT} (total attempts, including the first)",
        )
        _check_optional_str("profile", self.profile, secret=False)
        self._check_credentials()
        _check_bool("requester_pays", self.requester_pays)
        self._check_ca_bundle()
        self._check_addressing_style()
        if self.upload_checksum not in UPLOAD_CHECKSUMS:
            raise ValueError(
                f"{_name('upload_checksum')}={_show(self.upload_checksum)} is not "
                "supported: must be 'crc32c' or None"
            )
        self._check_stall_timeout()

    def _check_stall_timeout(self) -> None:
        value: object = self.stall_timeout_s
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{_name('stall_timeout_s')} must be a number of seconds or None, "
                f"not {type(value).__name__} ({_show(value)})"
            )
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(
                f"{_name('stall_timeout_s')}={_show(value)} is out of range: "
                "must be a finite number of seconds greater than 0, or None for no limit"
            )
        object.__setattr__(self, "stall_timeout_s", seconds)

    @property
    def credentials_withheld(self) -> bool:
        """True for a config unpickled from a pickle that left its static credentials out."""
        return bool(self.__dict__.get("_credentials_withheld", False))

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain pickles (files, torch.save, sockets) never carry the static credentials.
        values = _field_values(self)
        secrets = [values.pop(name) for name in _SECRET_FIELDS]
        withheld = self.credentials_withheld or any(v is not None for v in secrets)
        return (_unpickle_config, (values, withheld))

    def __copy__(self) -> S3ClientConfig:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> S3ClientConfig:
        return self  # immutable

    def _check_throughput(self) -> None:
        value: object = self.throughput_target_gbps
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{_name('throughput_target_gbps')} must be a float, "
                f"not {type(value).__name__} ({_show(value)})"
            )
        if isinstance(value, int):
            # Compare as int first: huge ints cannot be converted to float.
            ok = 0 < value <= MAX_THROUGHPUT_GBPS
        else:
            ok = math.isfinite(value) and 0 < value <= MAX_THROUGHPUT_GBPS
        if not ok:
            raise ValueError(
                f"{_name('throughput_target_gbps')}={_show(value)} is out of range: "
                f"must be finite, greater than 0 and at most {MAX_THROUGHPUT_GBPS:g}"
            )
        object.__setattr__(self, "throughput_target_gbps", float(value))

    def _check_credentials(self) -> None:
        for field_name in _SECRET_FIELDS:
            value = getattr(self, field_name)
            _check_optional_str(field_name, value, secret=True)
            if value is not None and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
                raise ValueError(
                    f"{_name(field_name)} contains a control character (such as a line "
                    "break): it cannot be sent in a request"
                )
        has_id = self.access_key_id is not None
        has_secret = self.secret_access_key is not None
        if has_id != has_secret:
            given, missing = (
                ("access_key_id", "secret_access_key")
                if has_id
                else ("secret_access_key", "access_key_id")
            )
            raise ValueError(
                f"{_name(given)} was given without {_name(missing)}: static credentials need both"
            )
        if self.session_token is not None and not has_id:
            raise ValueError(
                f"{_name('session_token')} was given without "
                f"{_name('access_key_id')} and {_name('secret_access_key')}: "
                "a session token is only used together with them"
            )

    def _check_ca_bundle(self) -> None:
        value: object = self.ca_bundle
        if value is None:
            return
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise TypeError(
                f"{_name('ca_bundle')} must be a str path or None, "
                f"not {type(value).__name__} ({_show(value)})"
            )
        if not value:
            raise ValueError(f"{_name('ca_bundle')} must not be an empty string")
        if not os.path.exists(value):
            raise ValueError(
                f"{_name('ca_bundle')}={value!r} does not exist: "
                "must be the path of a PEM CA bundle file"
            )
        if not os.path.isfile(value):
            raise ValueError(
                f"{_name('ca_bundle')}={value!r} is not a file: "
                "must be the path of a PEM CA bundle file"
            )
        object.__setattr__(self, "ca_bundle", value)

    def _check_addressing_style(self) -> None:
        style: object = self.addressing_style
        if not isinstance(style, str):
            raise TypeError(
                f"{_name('addressing_style')} must be a str, "
                f"not {type(style).__name__} ({_show(style)})"
            )
        if style not in ADDRESSING_STYLES:
            raise ValueError(
                f"{_name('addressing_style')}={style!r} is not supported: "
                "must be 'auto', 'path' or 'virtual'"
            )
        if self.force_path_style and style == "virtual":
            raise ValueError(
                f"{_name('force_path_style')}=True conflicts with "
                f"{_name('addressing_style')}='virtual': use one or the other"
            )

    @property
    def effective_addressing_style(self) -> str:
        """The addressing style to use, taking ``force_path_style`` into account.

        Returns ``"path"`` when ``force_path_style`` is True, otherwise
        ``addressing_style`` (which may still be ``"auto"``; see
        :func:`default_addressing_style` to settle it for an endpoint).
        """
        return "path" if self.force_path_style else self.addressing_style


def _field_values(config: S3ClientConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _unpickle_config(values: dict[str, Any], withheld: bool) -> S3ClientConfig:
    config = S3ClientConfig(**values)
    if withheld:
        object.__setattr__(config, "_credentials_withheld", True)
    return config


def _reduce_for_child_process(config: S3ClientConfig) -> tuple[Any, ...]:
    # multiprocessing hands objects to its children (DataLoader workers under spawn/forkserver)
    # through a pipe: those keep their credentials.
    return (_unpickle_config, (_field_values(config), config.credentials_withheld))


ForkingPickler.register(S3ClientConfig, _reduce_for_child_process)


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


def _profile_setting(option: str, profile: str | None, environ: Mapping[str, str]) -> str | None:
    """Read ``option`` from the active profile of the AWS config file.

    A missing, unreadable or malformed file, a missing section and a missing
    or empty option all give None.
    """
    name = resolve_profile(profile, environ) or "default"
    section = "default" if name == "default" else f"profile {name}"
    path = os.path.expanduser(_env(environ, "AWS_CONFIG_FILE") or "~/.aws/config")
    parser = configparser.ConfigParser(
        interpolation=None,
        strict=False,
        delimiters=("=",),
        # Keep configparser's special "DEFAULT" section out of the way.
        default_section="\x00s3torch-no-default-section",
    )
    try:
        parser.read(path, encoding="utf-8")
        return _clean(parser.get(section, option, fallback=None))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None


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

    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
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
