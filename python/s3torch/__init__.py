"""s3torch: fast, safe PyTorch data loading and checkpointing on S3.

A drop-in replacement for ``s3torchconnector``: the same names with the same meaning, over a
native core built on the AWS Common Runtime.

``import s3torch`` does not import PyTorch: the datasets (``S3MapDataset``,
``S3IterableDataset``, ``S3TarDataset``, ``ShuffleDataset``, ``TarShardError``) are loaded, and
torch with them, the first time one of them is used, so scripts and the ``s3torch`` command that
only move bytes start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._async_save import save_async
from ._client import S3Client
from ._config import S3ClientConfig
from ._core import (
    GetObjectStream,
    HeadObjectResult,
    ListObjectResult,
    ListObjectStream,
    ObjectInfo,
    PutObjectStream,
    RestoreStatus,
    __version__,
)
from ._errors import (
    S3AccessDeniedError,
    S3CanceledError,
    S3ChecksumError,
    S3CredentialsError,
    S3Exception,
    S3InvalidRangeError,
    S3NetworkError,
    S3NoSuchBucketError,
    S3NoSuchKeyError,
    S3PreconditionFailedError,
    S3ThrottledError,
    S3TimeoutError,
    S3WrongRegionError,
)
from ._logging import disable_logging, enable_logging
from ._uri import make_s3_uri, parse_s3_uri
from .s3checkpoint import S3Checkpoint, load, save
from .s3reader import S3Reader, S3ReaderConstructor
from .s3writer import S3Writer

if TYPE_CHECKING:
    from .s3iterable_dataset import S3IterableDataset
    from .s3map_dataset import S3MapDataset
    from .shuffle import ShuffleDataset
    from .tar_dataset import S3TarDataset, TarShardError

# The names whose modules import torch, and the module each comes from.
_NEEDS_TORCH = {
    "S3IterableDataset": ".s3iterable_dataset",
    "S3MapDataset": ".s3map_dataset",
    "ShuffleDataset": ".shuffle",
    "S3TarDataset": ".tar_dataset",
    "TarShardError": ".tar_dataset",
}


def __getattr__(name: str) -> Any:
    module = _NEEDS_TORCH.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    # Later lookups find it directly, without coming back here.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NEEDS_TORCH))


__all__ = [
    "GetObjectStream",
    "HeadObjectResult",
    "ListObjectResult",
    "ListObjectStream",
    "ObjectInfo",
    "PutObjectStream",
    "RestoreStatus",
    "S3AccessDeniedError",
    "S3CanceledError",
    "S3Checkpoint",
    "S3ChecksumError",
    "S3Client",
    "S3ClientConfig",
    "S3CredentialsError",
    "S3Exception",
    "S3InvalidRangeError",
    "S3IterableDataset",
    "S3MapDataset",
    "S3NetworkError",
    "S3NoSuchBucketError",
    "S3NoSuchKeyError",
    "S3PreconditionFailedError",
    "S3Reader",
    "S3ReaderConstructor",
    "S3TarDataset",
    "S3ThrottledError",
    "S3TimeoutError",
    "S3Writer",
    "S3WrongRegionError",
    "ShuffleDataset",
    "TarShardError",
    "__version__",
    "disable_logging",
    "enable_logging",
    "load",
    "make_s3_uri",
    "parse_s3_uri",
    "save",
    "save_async",
]
