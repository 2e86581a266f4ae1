"""``torch.distributed.checkpoint`` (DCP) on S3.

Save and load sharded checkpoints from every rank straight to and from S3::

    import torch.distributed.checkpoint as dcp
    from s3torch.dcp import S3StorageReader, S3StorageWriter

    dcp.save(state_dict, storage_writer=S3StorageWriter(region, "s3://bucket/ckpt/step-100"))
    dcp.load(state_dict, storage_reader=S3StorageReader(region, "s3://bucket/ckpt/step-100"))

Prefix strategies spread each rank's files over key prefixes so that many ranks do not hit one
prefix's request-rate limit. Needs ``torch``.
"""

from .s3_file_system import S3FileSystem, S3StorageReader, S3StorageWriter
from .s3_prefix_strategy import (
    BinaryPrefixStrategy,
    DefaultPrefixStrategy,
    HexPrefixStrategy,
    NumericPrefixStrategy,
    RoundRobinPrefixStrategy,
    S3PrefixStrategyBase,
)

__all__ = [
    "BinaryPrefixStrategy",
    "DefaultPrefixStrategy",
    "HexPrefixStrategy",
    "NumericPrefixStrategy",
    "RoundRobinPrefixStrategy",
    "S3FileSystem",
    "S3PrefixStrategyBase",
    "S3StorageReader",
    "S3StorageWriter",
]
