"""One client per process for datasets with the same settings: :func:`dataset_client`.

Building an S3 client costs tens of milliseconds of CPU (the CRT's TLS trust store and random
number generator, its threads and pools), as much as reading a thousand small tar samples. A
job often builds several datasets with the same settings (train and validation, a dataset per
epoch or per trial), so datasets take their client from the pool that ``s3torch.save``/``load``
already share (:func:`s3torch._client.shared_client`: a few recent clients, keyed by the
settings and the ``AWS_*`` environment, so that a changed endpoint, profile or key in the
environment gets a client of its own). A client survives ``fork`` by itself: a child that
inherits one builds its own connections on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import S3Client

__all__ = ["dataset_client"]


def dataset_client(region: str | None, endpoint: str | None, s3client_config: Any) -> S3Client:
    """The process's client for these settings, built on first use.

    Raises:
        TypeError, ValueError: as :class:`s3torch.S3Client` for bad settings.
    """
    from .._client import shared_client

    return shared_client(region, endpoint, s3client_config)
