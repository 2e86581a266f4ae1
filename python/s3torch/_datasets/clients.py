"""One client per process for datasets with the same settings: :func:`dataset_client`.

Building an S3 client costs tens of milliseconds of CPU (its TLS context and random number
generator, its threads and pools), as much as reading a thousand small samples. A job often
builds several datasets with the same settings (train and validation, a dataset per epoch or
per trial), so datasets share one client per settings in each process, the way the CRT client
is meant to be used; their requests then also share its connections. A few recent clients are
kept; the settings include the ``AWS_*`` environment, so that a changed endpoint, profile or
key in the environment gets a client of its own.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import S3Client

__all__ = ["dataset_client"]

KEPT_CLIENTS = 4
"""Clients of different settings kept alive for later datasets, the least recently used
dropped first."""

_lock = threading.Lock()
_clients: OrderedDict[Any, S3Client] = OrderedDict()
_owner = os.getpid()


def _build(region: str | None, endpoint: str | None, s3client_config: Any) -> S3Client:
    from .._client import S3Client

    return S3Client(region, endpoint=endpoint, s3client_config=s3client_config)


def dataset_client(region: str | None, endpoint: str | None, s3client_config: Any) -> S3Client:
    """The client for these settings in this process, built on first use.

    Raises:
        TypeError, ValueError: as :class:`s3torch.S3Client` for bad settings.
    """
    environment = tuple(sorted(item for item in os.environ.items() if item[0].startswith("AWS_")))
    key = (region, endpoint, s3client_config, environment)
    try:
        hash(key)
    except TypeError:  # a bad setting: let the client's own checks name it
        return _build(region, endpoint, s3client_config)
    global _owner
    with _lock:
        if _owner != os.getpid():  # a forked child: its parent's clients are not its own
            _clients.clear()
            _owner = os.getpid()
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    client = _build(region, endpoint, s3client_config)
    with _lock:
        client = _clients.setdefault(key, client)
        _clients.move_to_end(key)
        while len(_clients) > KEPT_CLIENTS:
            _clients.popitem(last=False)
    return client
