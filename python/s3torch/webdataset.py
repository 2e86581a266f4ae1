"""The tar-shard dataset under its earlier module name.

Kept so that ``from s3torch.webdataset import ...`` goes on working; the canonical module is
:mod:`s3torch.tar_dataset`.
"""

from .tar_dataset import DEFAULT_DECODERS, S3TarDataset, TarShardError, decode_sample

__all__ = ["DEFAULT_DECODERS", "S3TarDataset", "TarShardError", "decode_sample"]
