"""Stores of peer libraries built for a benchmark server, in one place for the harness and the
standalone scripts (a light module: it imports nothing of the harness, and obstore only when
called)."""

from __future__ import annotations

from typing import Any


def obstore_store(server: Any, bucket: str) -> Any:
    """An obstore ``S3Store`` for ``bucket`` on ``server`` (anything with the ``endpoint``,
    ``region``, ``access_key`` and ``secret_key`` of a benchmark server: a harness ``Context``
    or an :class:`s3torch.testing.LocalS3Server`), path-style, plain HTTP allowed."""
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
