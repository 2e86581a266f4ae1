"""S3ModelCheckpoint: Lightning's ``ModelCheckpoint`` for checkpoint directories on S3."""

from __future__ import annotations

import importlib
import posixpath
import re
from typing import TYPE_CHECKING, Any

import fsspec  # type: ignore[import-untyped]

from .s3_lightning_checkpoint import _package

__all__ = ["S3ModelCheckpoint"]

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import ModelCheckpoint as _ModelCheckpoint
else:
    _ModelCheckpoint = importlib.import_module(
        "lightning.pytorch.callbacks"
        if _package.__name__ == "lightning"
        else "pytorch_lightning.callbacks"
    ).ModelCheckpoint


class S3ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` (same arguments, same behaviour), which also finds the
    ``last`` checkpoint in an ``s3://`` (or any fsspec URL) directory, so that
    ``Trainer.fit(model, ckpt_path="last")`` resumes from it.

    Lightning's own callback lists the directory through fsspec, whose listings name objects
    without their ``s3://``; it then looks for those names on the local disk, finds nothing and
    starts training from scratch (with a warning). This callback gives the names their scheme
    back. With :func:`s3torch.fsspec.register` (``overwrite_s3=True``), the directory is listed,
    and the checkpoints written, read and deleted through s3torch; s3fs is not needed::

        import lightning.pytorch as pl
        import s3torch.fsspec
        from s3torch.lightning import S3ModelCheckpoint

        s3torch.fsspec.register(overwrite_s3=True)
        trainer = pl.Trainer(
            default_root_dir="s3://my-bucket/run-7",
            callbacks=[S3ModelCheckpoint(save_top_k=2, monitor="val_loss", save_last=True)],
            logger=False,
        )
        trainer.fit(model, ckpt_path="last")   # resumes if run-7 holds a last.ckpt
    """

    def _find_last_checkpoints(self, trainer: Any) -> set[str]:
        # Before setup() the directory may not be settled yet: ask Lightning where it will be.
        resolve = getattr(self, "_ModelCheckpoint__resolve_ckpt_dir", None)
        directory = str(resolve(trainer) if resolve is not None else self.dirpath or "")
        scheme, sep, _ = directory.partition("://")
        if not sep or scheme == "file":
            return super()._find_last_checkpoints(trainer)
        # Lightning lists with the filesystem of the directory it knew when it was built (the
        # local one while `dirpath` is left to the trainer), and drops the scheme of the names.
        fs, root = fsspec.core.url_to_fs(directory)
        if not fs.exists(root):
            return set()
        last = re.compile(rf"{re.escape(self.CHECKPOINT_NAME_LAST)}(-\d+)?")
        found = set()
        for name in fs.ls(root, detail=False):
            stem, extension = posixpath.splitext(posixpath.basename(name))
            if extension == self.FILE_EXTENSION and last.match(stem):
                found.add(f"{scheme}://{name.lstrip('/')}")
        return found
