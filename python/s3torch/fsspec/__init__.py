"""An fsspec filesystem over s3torch's native client: :class:`S3TorchFileSystem`.

fsspec is how most of the PyData stack reaches object stores (pandas, PyArrow, Dask, Lightning's
``ModelCheckpoint``, ``torch.distributed.checkpoint``'s ``FsspecWriter``). This filesystem serves
``s3torch://bucket/key`` URLs (and plain ``s3://`` / ``s3a://`` ones after
``register(overwrite_s3=True)``) with the same client, credentials and speed as the rest of
s3torch: many GETs in flight for ``cat`` and ``cat_ranges``, ranged reads with a large read-ahead
for Parquet, and uploads that stream through :class:`s3torch.S3Writer` and are aborted when the
code writing them fails, so a failed write never leaves half an object nor replaces the old one.

S3 has no directories: as in s3fs, a "directory" is a prefix that some key starts with
(``bucket/a/`` for ``bucket/a/b``), so ``mkdir`` does nothing and a directory disappears with its
last object.
"""

from __future__ import annotations

try:
    import fsspec  # type: ignore[import-untyped]
except ImportError as missing:
    raise ImportError(
        "s3torch.fsspec needs fsspec: install it with `pip install s3torch[fsspec]` "
        "(or `pip install fsspec`)"
    ) from missing

# The submodules import fsspec themselves: only after the check above says it is there.
from ._files import S3TorchReadFile as S3TorchReadFile
from ._files import S3TorchWriteFile as S3TorchWriteFile
from ._filesystem import S3TorchFileSystem
from ._options import DEFAULT_BLOCK_SIZE as DEFAULT_BLOCK_SIZE
from ._options import DEFAULT_MAX_CONCURRENCY as DEFAULT_MAX_CONCURRENCY
from ._paths import PROTOCOLS as PROTOCOLS

__all__ = ["S3TorchFileSystem", "register"]

# The classes are documented, pickled and named in fsspec's JSON by their public module.
for _cls in (S3TorchFileSystem, S3TorchReadFile, S3TorchWriteFile):
    _cls.__module__ = __name__
del _cls


def register(overwrite_s3: bool = False) -> None:
    """Make fsspec use :class:`S3TorchFileSystem` for ``s3torch://`` URLs, and with
    ``overwrite_s3=True`` for ``s3://`` and ``s3a://`` ones too (in place of s3fs), in this
    process::

        import s3torch.fsspec
        s3torch.fsspec.register(overwrite_s3=True)
        pd.read_parquet("s3://my-bucket/table.parquet")   # through s3torch

    Installed s3torch also registers ``s3torch`` through fsspec's entry points, so
    ``fsspec.filesystem("s3torch")`` works without this call.
    """
    if not isinstance(overwrite_s3, bool):
        raise TypeError(f"overwrite_s3 must be a bool, not {type(overwrite_s3).__name__}")
    fsspec.register_implementation("s3torch", S3TorchFileSystem, clobber=True)
    if overwrite_s3:
        for protocol in ("s3", "s3a"):
            fsspec.register_implementation(protocol, S3TorchFileSystem, clobber=True)


# The protocol is ours: importing this module is enough for fsspec to serve s3torch:// URLs,
# also where the package's entry point is not installed (a source checkout).
fsspec.register_implementation("s3torch", S3TorchFileSystem, clobber=True)
