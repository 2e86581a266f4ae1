"""PyTorch Lightning integration: :class:`S3LightningCheckpoint`, a ``CheckpointIO`` on S3.

Works with either distribution of Lightning, ``lightning`` (``import lightning``) or
``pytorch_lightning``; install one with ``pip install s3torch[lightning]``.
"""

from .model_checkpoint import S3ModelCheckpoint
from .s3_lightning_checkpoint import S3LightningCheckpoint

__all__ = ["S3LightningCheckpoint", "S3ModelCheckpoint"]
