"""S3LightningCheckpoint: Lightning's ``CheckpointIO`` over S3 objects."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._client import S3Client
from .._config import S3ClientConfig
from .._uri import parse_object_uri
from ..s3checkpoint import load, save

__all__ = ["S3LightningCheckpoint"]

_INSTALL_HINT = (
    "s3torch.lightning needs PyTorch Lightning: install it with `pip install s3torch[lightning]` "
    "(or install the `lightning` or `pytorch_lightning` package)"
)


def _lightning() -> tuple[ModuleType, list[type]]:
    """The Lightning package to report in the User-Agent, and the ``CheckpointIO`` base classes
    of every Lightning distribution installed (``lightning`` and ``pytorch_lightning`` each have
    their own)."""
    found: list[tuple[ModuleType, type]] = []
    for package, fabric in (
        ("lightning", "lightning.fabric"),
        ("pytorch_lightning", "lightning_fabric"),
    ):
        try:
            module = importlib.import_module(package)
            base = importlib.import_module(f"{fabric}.plugins.io.checkpoint_io").CheckpointIO
        except ImportError:
            continue
        found.append((module, base))
    if not found:
        raise ImportError(_INSTALL_HINT)
    return found[0][0], [base for _, base in found]


_package, _bases = _lightning()

if TYPE_CHECKING:
    from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO as _CheckpointIO
else:
    _CheckpointIO = _bases[0]


class S3LightningCheckpoint(_CheckpointIO):
    """Save, load and remove Lightning checkpoints as S3 objects.

    A ``CheckpointIO`` plugin: pass it to the ``Trainer`` and give it ``s3://bucket/key`` paths.
    Each checkpoint is streamed to S3 as ``torch.save`` produces it and appears only once it is
    complete; a save that fails leaves the previous object under the key untouched. It also
    works inside Lightning's ``AsyncCheckpointIO``, with either the ``lightning`` or the
    ``pytorch_lightning`` package.

    Args:
        region: region of the bucket; found the AWS way when ``None``.
        s3client_config: client tunables; see :class:`s3torch.S3ClientConfig`.
        endpoint: URL of an S3-compatible store; found the AWS way when ``None``.

    Example::

        from lightning import Trainer
        from s3torch.lightning import S3LightningCheckpoint

        trainer = Trainer(plugins=[S3LightningCheckpoint("us-east-1")])
        trainer.fit(model)
        trainer.save_checkpoint("s3://my-bucket/ckpt/last.ckpt")
        trainer.fit(model, ckpt_path="s3://my-bucket/ckpt/last.ckpt")   # resume

    Lightning itself looks into checkpoint *directories* (``default_root_dir``,
    ``ModelCheckpoint(dirpath=...)``) through ``fsspec``: call
    ``s3torch.fsspec.register(overwrite_s3=True)`` to serve ``s3://`` directories with s3torch
    (no s3fs needed), and use :class:`s3torch.lightning.S3ModelCheckpoint` for
    ``ckpt_path="last"``; the checkpoint files themselves go through this plugin.
    """

    def __init__(
        self,
        region: str | None = None,
        s3client_config: S3ClientConfig | None = None,
        endpoint: str | None = None,
    ) -> None:
        version = getattr(_package, "__version__", "unknown")
        self._client = S3Client(
            region,
            endpoint=endpoint,
            user_agent=f"{_package.__name__}/{version}",
            s3client_config=s3client_config,
        )
        self.region: str = self._client.region

    @property
    def client(self) -> S3Client:
        """The :class:`s3torch.S3Client` the checkpoints go through."""
        return self._client

    def save_checkpoint(
        self,
        checkpoint: dict[str, Any],
        path: str,  # type: ignore[override]  # S3 URIs only: Path objects are local paths
        storage_options: Any | None = None,
    ) -> None:
        """Write ``checkpoint`` with ``torch.save`` to the S3 object ``path``.

        Args:
            checkpoint: the trainer and model state.
            path: ``s3://bucket/key``.
            storage_options: ``None``, or a mapping; its ``"storage_class"`` entry (e.g.
                ``"STANDARD_IA"``) is the storage class of the object. Other entries are
                ignored.

        Raises:
            TypeError: ``path`` is not a ``str``.
            ValueError: ``path`` is not an ``s3://`` URI with a key.
            S3Exception: the upload failed (the previous object is untouched).
        """
        _location(path)
        storage_class = None
        if isinstance(storage_options, Mapping):
            storage_class = storage_options.get("storage_class")
        save(checkpoint, path, client=self._client, storage_class=storage_class)

    def load_checkpoint(
        self,
        path: str,  # type: ignore[override]
        map_location: Any | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read the checkpoint at the S3 object ``path`` with ``torch.load``.

        Args:
            path: ``s3://bucket/key``.
            map_location: as for ``torch.load``.
            weights_only: as for ``torch.load``. ``None`` means ``False`` with Lightning older
                than 2.6 (as Lightning itself did) and PyTorch's own default from 2.6 on
                (``Trainer.fit(..., weights_only=...)`` passes it through).

        Raises:
            TypeError: ``path`` is not a ``str``.
            ValueError: ``path`` is not an ``s3://`` URI with a key.
            S3NoSuchKeyError: there is no such object (also a ``FileNotFoundError``).
            S3Exception: the download failed.
        """
        _location(path)
        if weights_only is None and _lightning_before_2_6():
            weights_only = False
        loaded: dict[str, Any] = load(
            path, map_location, client=self._client, weights_only=weights_only
        )
        return loaded

    def remove_checkpoint(self, path: str) -> None:  # type: ignore[override]
        """Delete the S3 object ``path``; a missing object is not an error.

        Raises:
            TypeError: ``path`` is not a ``str``.
            ValueError: ``path`` is not an ``s3://`` URI with a key.
            S3Exception: the request failed.
        """
        bucket, key = _location(path)
        self._client.delete_object(bucket, key)

    def teardown(self) -> None:
        """Nothing to release: uploads finish inside :meth:`save_checkpoint`."""

    def __repr__(self) -> str:
        return f"S3LightningCheckpoint(region={self.region!r}, endpoint={self._client.endpoint!r})"


# Each Lightning distribution checks `isinstance(plugin, CheckpointIO)` against its own class;
# count as one for all of them.
for _base in _bases[1:]:
    _base.register(S3LightningCheckpoint)  # type: ignore[attr-defined]


def _location(path: object) -> tuple[str, str]:
    if not isinstance(path, str):
        raise TypeError(
            f"checkpoint path must be a str holding an s3:// URI, got {type(path).__name__} "
            f"{path!r} (pathlib paths are local paths)"
        )
    return parse_object_uri(path)


def _lightning_before_2_6() -> bool:
    from packaging.version import Version

    return Version(str(getattr(_package, "__version__", "0"))) < Version("2.6")
