"""How :class:`~s3torch.fsspec.S3TorchFileSystem` checks its storage options and turns them
into a client.

The options users pass to s3fs (``endpoint_url``, ``key``/``secret``/``token``, ``anon``,
``client_kwargs``...) map onto an :class:`s3torch.S3Client` and its
:class:`s3torch.S3ClientConfig`; the metaclass keeps fsspec's instance cache from handing one
filesystem's client to a caller whose credentials differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import fsspec  # type: ignore[import-untyped]
from fsspec.spec import AbstractFileSystem  # type: ignore[import-untyped]

from .._checks import check_int
from .._client import S3Client
from .._config import S3ClientConfig

DEFAULT_BLOCK_SIZE = 32 * 1024 * 1024
"""Read-ahead of files opened for reading: a read that misses the buffer fetches this much.

Large enough that a Parquet footer costs one request and that the column chunks of a row group
(tens of MiB) usually share one; the native client splits a large ranged GET into parts in
flight at once, so a big read-ahead costs little more time than a small one."""

DEFAULT_MAX_CONCURRENCY = 64
"""GETs that ``cat`` and ``cat_ranges`` keep in flight at once."""

# Options of fsspec's own base class. The listing cache ones mean nothing here (listings are
# never cached, so every call sees the store as it is) and are accepted only so that code
# written for s3fs keeps working.
_FSSPEC_OPTIONS = frozenset({"use_listings_cache", "listings_expiry_time", "max_paths"})


def _base_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options left for fsspec's base class once the filesystem took its own: only those of
    ``_FSSPEC_OPTIONS`` may be."""
    options = dict(options)
    if options.pop("asynchronous", False):
        raise ValueError(
            "asynchronous=True is not supported: S3TorchFileSystem is synchronous (its "
            "concurrency is inside the native client)"
        )
    unknown = sorted(set(options) - _FSSPEC_OPTIONS)
    if unknown:
        raise TypeError(
            f"S3TorchFileSystem got unknown storage option(s) {unknown}; see "
            "help(s3torch.fsspec.S3TorchFileSystem) for the options it understands"
        )
    return options


def _check_settings(
    default_block_size: Any, default_cache_type: Any, max_concurrency: Any
) -> dict[str, Any]:
    """The filesystem's own settings, checked: what a pickle carries besides the client."""
    default_block_size = check_int("default_block_size", default_block_size, minimum=1)
    if not isinstance(default_cache_type, str):
        raise TypeError(
            f"default_cache_type must be a str, not {type(default_cache_type).__name__}"
        )
    if default_cache_type not in fsspec.caching.caches:
        raise ValueError(
            f"default_cache_type={default_cache_type!r} is not an fsspec cache: "
            f"one of {sorted(name for name in fsspec.caching.caches if name)}"
        )
    return {
        "default_block_size": default_block_size,
        "default_cache_type": default_cache_type,
        "max_concurrency": check_int("max_concurrency", max_concurrency, minimum=1),
    }


def _build_client(
    *,
    client: S3Client | None,
    region: str | None,
    endpoint: str | None,
    s3client_config: S3ClientConfig | None,
    endpoint_url: str | None,
    key: str | None,
    secret: str | None,
    token: str | None,
    anon: bool,
    profile: str | None,
    requester_pays: bool | None,
    client_kwargs: dict[str, Any] | None,
) -> S3Client:
    """The client for a filesystem: the one given, or one built from fsspec-style options."""
    if not isinstance(anon, bool):
        raise TypeError(f"anon must be a bool, not {type(anon).__name__}")
    if client_kwargs is not None and not isinstance(client_kwargs, dict):
        raise TypeError(f"client_kwargs must be a dict, not {type(client_kwargs).__name__}")
    extra = dict(client_kwargs or {})
    if "endpoint_url" in extra:
        endpoint_url = _one_of(
            "endpoint_url", endpoint_url, "client_kwargs['endpoint_url']", extra.pop("endpoint_url")
        )
    if "region_name" in extra:
        region = _one_of("region", region, "client_kwargs['region_name']", extra.pop("region_name"))
    if extra:
        raise TypeError(
            f"unsupported client_kwargs {sorted(extra)}: only 'endpoint_url' and 'region_name' "
            "are understood (other settings go in s3client_config=S3ClientConfig(...))"
        )
    endpoint = _one_of("endpoint", endpoint, "endpoint_url", endpoint_url)
    if client is not None:
        if not isinstance(client, S3Client):
            raise TypeError(f"client must be an s3torch.S3Client, not {type(client).__name__}")
        given = {
            "region": region,
            "endpoint": endpoint,
            "s3client_config": s3client_config,
            "key": key,
            "secret": secret,
            "token": token,
            "profile": profile,
            "requester_pays": requester_pays,
        }
        clashing = sorted(name for name, value in given.items() if value is not None)
        if anon:
            clashing.append("anon")
        if clashing:
            raise TypeError(
                f"client= comes with its own settings: do not pass {', '.join(clashing)} with it"
            )
        return client
    config = s3client_config if s3client_config is not None else S3ClientConfig()
    if not isinstance(config, S3ClientConfig):
        raise TypeError(f"s3client_config must be an S3ClientConfig, not {type(config).__name__}")
    changes: dict[str, Any] = {}
    if anon:
        if key is not None or secret is not None or token is not None:
            raise ValueError("anon=True means unsigned requests: do not pass key/secret/token")
        changes["unsigned"] = True
    if key is not None or secret is not None or token is not None:
        changes.update(access_key_id=key, secret_access_key=secret, session_token=token)
    if profile is not None:
        changes["profile"] = profile
    if requester_pays is not None:
        changes["requester_pays"] = requester_pays
    if changes:
        # The config checks the merged values and names the field at fault.
        config = dataclasses.replace(config, **changes)
    return S3Client(region, endpoint=endpoint, s3client_config=config)


def _one_of(name: str, value: Any, other_name: str, other: Any) -> Any:
    if value is not None and other is not None and value != other:
        raise ValueError(f"{name}={value!r} and {other_name}={other!r} disagree: give one")
    return value if value is not None else other


class _InstanceCache(type(AbstractFileSystem)):  # type: ignore[misc]
    """fsspec reuses a filesystem built with the same arguments, telling them apart by their
    text; a config's text leaves its credentials out, and a client's shows only its region and
    endpoint, so those would be mixed up. Here a client given explicitly gets a filesystem of its
    own, and static credentials in a config count, by digest, in telling configs apart."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("client") is not None:
            kwargs.setdefault("skip_instance_cache", True)
        config = kwargs.get("s3client_config")
        if isinstance(config, S3ClientConfig) and config.access_key_id is not None:
            secrets = "\0".join(
                value or ""
                for value in (config.access_key_id, config.secret_access_key, config.session_token)
            )
            kwargs["_credentials_digest"] = hashlib.sha256(secrets.encode()).hexdigest()
        return super().__call__(*args, **kwargs)
