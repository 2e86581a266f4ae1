"""Stores of peer libraries built for a benchmark server, in one place for the harness and the
standalone scripts (a light module: it imports nothing of the harness, and obstore only when
called)."""

from __future__ import annotations

from typing import Any, Protocol


class ServerAddress(Protocol):
    """Where a benchmark server listens and the keys it accepts (a harness ``Context`` or a
    :class:`s3torch.testing.LocalS3Server` both have these)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...


def obstore_store(server: ServerAddress, bucket: str) -> Any:
    """An obstore ``S3Store`` for ``bucket`` on ``server``: path-style, plain HTTP allowed."""
    from obstore.store import S3Store

    return S3Store(
        bucket,
        endpoint=server.endpoint,
        region=server.region,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
