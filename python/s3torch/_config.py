"""The client's settings: :class:`S3ClientConfig` and its rules.

:class:`S3ClientConfig` holds the tunables of the S3 client. Its first six
fields are the same (name, order, default and meaning) as in
``s3torchconnector`` 1.5, so existing code keeps working; the fields after
them are extensions of this project.

Every rule a user can break is checked here, when the config is made, with a
message naming the field. Where a setting comes from when it is not given
(environment, AWS config file) is :mod:`s3torch._aws_config`'s business.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from typing import Any

from ._aws_config import ADDRESSING_STYLES
from ._checks import check_int

# The limits are the native core's, which enforces them too.
from ._core import MAX_ATTEMPTS as MAX_ATTEMPTS_LIMIT
from ._core import MAX_PART_SIZE, MAX_THROUGHPUT_GBPS, MIN_PART_SIZE
from ._uri import has_control_character

__all__ = [
    "MAX_ATTEMPTS_LIMIT",
    "MAX_PART_SIZE",
    "MAX_THROUGHPUT_GBPS",
    "MIN_PART_SIZE",
    "UPLOAD_CHECKSUMS",
    "S3ClientConfig",
]

_MIB = 1024 * 1024

UPLOAD_CHECKSUMS: tuple[str | None, ...] = ("crc32c", None)
"""Accepted values of ``S3ClientConfig.upload_checksum``."""

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
    if has_control_character(value):
        shown = "" if secret else f"={_show(value)}"
        raise ValueError(
            f"{_name(field_name)}{shown} contains a control character (such as a line break): "
            "it cannot be sent in a request"
        )


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
        connect_refused_timeout_s: How long, in seconds, every connection to
            the endpoint may be refused before a request gives up with
            :class:`~s3torch.S3NetworkError` ("could not connect to ..."),
            even if ``max_attempts`` would allow more attempts. A store that
            restarts comes back within it; a mistyped endpoint or port fails
            in about this long instead of after every backoff. Any answer, or
            another kind of network error, starts the count again. None: as
            long as ``max_attempts`` allows. Default 5.0.

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
    connect_refused_timeout_s: float | None = 5.0

    def __post_init__(self) -> None:
        self._check_throughput()
        check_int(_name("part_size"), self.part_size, minimum=MIN_PART_SIZE, maximum=MAX_PART_SIZE)
        _check_bool("unsigned", self.unsigned)
        _check_bool("force_path_style", self.force_path_style)
        check_int(_name("max_attempts"), self.max_attempts, minimum=1, maximum=MAX_ATTEMPTS_LIMIT)
        _check_optional_str("profile", self.profile, secret=False)
        self._check_credentials()
        _check_bool("requester_pays", self.requester_pays)
        self._check_ca_bundle()
        self._check_addressing_style()
        checksum: object = self.upload_checksum
        if checksum is not None and not isinstance(checksum, str):
            raise TypeError(
                f"{_name('upload_checksum')} must be a str or None ('crc32c' or None), "
                f"not {type(checksum).__name__} ({_show(checksum)})"
            )
        if self.upload_checksum not in UPLOAD_CHECKSUMS:
            raise ValueError(
                f"{_name('upload_checksum')}={_show(self.upload_checksum)} is not "
                "supported: must be 'crc32c' or None"
            )
        self._check_seconds("stall_timeout_s")
        self._check_seconds("connect_refused_timeout_s")

    def _check_seconds(self, field_name: str) -> None:
        value: object = getattr(self, field_name)
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"{_name(field_name)} must be a number of seconds or None, "
                f"not {type(value).__name__} ({_show(value)})"
            )
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(
                f"{_name(field_name)}={_show(value)} is out of range: "
                "must be a finite number of seconds greater than 0, or None for no limit"
            )
        object.__setattr__(self, field_name, seconds)

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
        if self.unsigned and has_id:
            raise ValueError(
                f"{_name('unsigned')}=True conflicts with static credentials "
                f"({_name('access_key_id')}): an unsigned client sends none"
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
        :func:`s3torch._aws_config.default_addressing_style` to settle it for an endpoint).
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
