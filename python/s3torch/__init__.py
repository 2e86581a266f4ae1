"""s3torch: fast, safe PyTorch data loading and checkpointing on S3.

A drop-in replacement for ``s3torchconnector``: the same names with the same meaning, over a
native core built on the AWS Common Runtime.
"""

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
from .s3iterable_dataset import S3IterableDataset
from .s3map_dataset import S3MapDataset
from .s3reader import S3Reader, S3ReaderConstructor
from .s3writer import S3Writer
from .shuffle import ShuffleDataset
from .webdataset import S3TarDataset, TarShardError

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
