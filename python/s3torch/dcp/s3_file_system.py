"""``torch.distributed.checkpoint`` storage on S3: a file system, a writer and a reader."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, Union

import torch
from torch.distributed.checkpoint.filesystem import (
    FileSystemBase,
    FileSystemReader,
    FileSystemWriter,
)
from torch.distributed.checkpoint.planner import LoadPlan, LoadPlanner, SavePlan
from torch.futures import Future

from .._client import S3Client
from .._config import S3ClientConfig
from .._errors import S3NoSuchKeyError
from .._uri import parse_s3_uri
from ..s3reader import S3ReaderConstructor, S3ReaderConstructorProtocol
from ..s3reader._dcp_plan import checkpoint_path, join_path
from ..s3reader.protocol import DCPS3ReaderConstructorProtocol
from .s3_prefix_strategy import DefaultPrefixStrategy, S3PrefixStrategyBase

__all__ = ["S3FileSystem", "S3StorageReader", "S3StorageWriter", "StorageMetadata"]

log = logging.getLogger(__name__)

PathType = Union[str, "os.PathLike[str]"]


def _parse(path: PathType, what: str = "path") -> tuple[str, str]:
    """The bucket and key of an ``s3://`` path; ``ValueError`` naming it otherwise."""
    text = checkpoint_path(path)
    try:
        bucket, key = parse_s3_uri(text)
    except ValueError as error:
        raise ValueError(f"{what} {text!r} is not an S3 URI (s3://bucket/key): {error}") from None
    return bucket, key


class S3FileSystem(FileSystemBase):
    """PyTorch's checkpoint file-system interface over S3 objects.

    Paths are ``s3://bucket/key`` URIs; "directories" are key prefixes and need no creating.
    Files are written with :class:`s3torch.S3Writer` (the object appears whole when the file is
    closed, and an exception while writing leaves no object) and read with the readers made by
    ``reader_constructor``.

    Args:
        region: the bucket's region; None finds it as :class:`s3torch.S3Client` does.
        s3_client: a client to use instead of building one.
        s3client_config: settings for the client built here.
        reader_constructor: how files are read (see :class:`s3torch.S3ReaderConstructor`);
            default: sequential readers.

    Raises:
        ValueError: both ``s3_client`` and ``s3client_config`` are given.
    """

    def __init__(
        self,
        region: str | None = None,
        s3_client: S3Client | None = None,
        s3client_config: S3ClientConfig | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
    ) -> None:
        if s3_client is not None and s3client_config is not None:
            raise ValueError(
                "pass s3_client or s3client_config to S3FileSystem, not both: the client "
                "already has its configuration"
            )
        self._path: str = ""
        self._reader_constructor = (
            reader_constructor if reader_constructor is not None else S3ReaderConstructor.default()
        )
        if s3_client is None:
            reader_type = S3ReaderConstructor.get_reader_type_string(self._reader_constructor)
            user_agent = f"dcp md/pytorch#{torch.__version__} md/reader_type#{reader_type}"
            s3_client = S3Client(region, user_agent=user_agent, s3client_config=s3client_config)
        self._client = s3_client

    @property
    def client(self) -> S3Client:
        """The client requests go through."""
        return self._client

    @contextmanager
    def create_stream(self, path: PathType, mode: str) -> Generator[Any, None, None]:
        """A file object for ``path``: ``"wb"`` writes a new object, ``"rb"`` reads one.

        A write is completed when the ``with`` block ends, and aborted (no object) when it
        raises.

        Raises:
            ValueError: ``mode`` is neither ``"rb"`` nor ``"wb"``; ``path`` is not an S3 URI.
        """
        if mode not in ("rb", "wb"):
            raise ValueError(
                f"S3FileSystem.create_stream supports modes 'rb' and 'wb', not mode={mode!r}"
            )
        bucket, key = _parse(path)
        if mode == "wb":
            with self._client.put_object(bucket, key) as writer:
                yield writer
            return
        reader = self._client.get_object(bucket, key, reader_constructor=self._reader_constructor)
        try:
            yield reader
        finally:
            reader.close()

    def concat_path(self, path: PathType, suffix: str) -> str:
        """``suffix`` appended to ``path`` as a path segment."""
        return join_path(path, suffix)

    def init_path(self, path: PathType) -> str:
        """Check that ``path`` is an ``s3://bucket[/prefix]`` URI and make it the checkpoint's
        path.

        Raises:
            ValueError: ``path`` is not an S3 URI.
        """
        _parse(path, "checkpoint path")
        self._path = checkpoint_path(path)
        return self._path

    def rename(self, old_path: PathType, new_path: PathType) -> None:
        """Move an object: a server-side copy, then a delete of the original."""
        src_bucket, src_key = _parse(old_path)
        dst_bucket, dst_key = _parse(new_path)
        self._client.copy_object(src_bucket, src_key, dst_bucket, dst_key)
        self._client.delete_object(src_bucket, src_key)

    def mkdir(self, path: PathType) -> None:
        """Nothing to do: S3 has no directories, a prefix exists once a key under it does."""

    def exists(self, path: PathType) -> bool:
        """Whether an object exists at ``path`` (one HEAD request)."""
        bucket, key = _parse(path)
        try:
            self._client.head_object(bucket, key)
        except S3NoSuchKeyError:
            return False
        return True

    def rm_file(self, path: PathType) -> None:
        """Delete the object at ``path``; a missing object is not an error."""
        bucket, key = _parse(path)
        self._client.delete_object(bucket, key)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: PathType) -> bool:
        """Whether ``checkpoint_id`` is an ``s3://`` URI this file system can use."""
        try:
            _parse(checkpoint_id)
        except (TypeError, ValueError):
            return False
        return True


@dataclasses.dataclass
class StorageMetadata:
    """The per-rank storage data of a save plan: the prefix of the rank's file names."""

    prefix: str


class S3StorageWriter(FileSystemWriter):
    """Saves a ``torch.distributed.checkpoint`` to S3: ``dcp.save(state_dict,
    storage_writer=S3StorageWriter(region, "s3://bucket/checkpoints/step-100"))``.

    Each rank writes its shards to its own objects (named by ``prefix_strategy``), and the
    coordinator writes ``.metadata`` once every rank is done: a checkpoint without ``.metadata``
    is incomplete. Every object appears whole or not at all.

    Args:
        region: the bucket's region; None finds it as :class:`s3torch.S3Client` does.
        path: the checkpoint's ``s3://bucket/prefix`` URI.
        s3client_config: settings for the client.
        prefix_strategy: how each rank's file names start (see
            :mod:`s3torch.dcp.s3_prefix_strategy`); default ``__<rank>_`` as PyTorch does.
        thread_count: files each rank uploads at once (PyTorch's default is 1).
        kwargs: passed to PyTorch's ``FileSystemWriter``: ``single_file_per_rank``,
            ``per_thread_copy_ahead``, ``cache_staged_state_dict``, ``overwrite`` (False makes
            saving over an existing checkpoint a ``RuntimeError``), ... ``sync_files`` is
            accepted and ignored: an S3 object is durable once its upload completes.

    Raises:
        ValueError: ``path`` is not an S3 URI.
    """

    def __init__(
        self,
        region: str | None,
        path: PathType,
        s3client_config: S3ClientConfig | None = None,
        prefix_strategy: S3PrefixStrategyBase | None = None,
        thread_count: int = 1,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("sync_files", None)
        fs = S3FileSystem(region, s3client_config=s3client_config)
        checkpoint = fs.init_path(path)
        super().__init__(path=checkpoint, sync_files=False, thread_count=thread_count, **kwargs)
        self.fs = fs  # type: ignore[assignment]  # PyTorch types it as its local FileSystem
        self.path = checkpoint
        self.prefix_strategy = (
            prefix_strategy if prefix_strategy is not None else DefaultPrefixStrategy()
        )

    def prepare_local_plan(self, plan: SavePlan) -> SavePlan:
        plan = super().prepare_local_plan(plan)
        rank = getattr(self, "rank", None)
        if rank is not None and not getattr(self, "use_collectives", True):
            # Saving without collectives: no global plan, each rank names its own files.
            plan = dataclasses.replace(
                plan, storage_data=StorageMetadata(self.prefix_strategy(rank))
            )
        return plan

    def prepare_global_plan(self, plans: list[SavePlan]) -> list[SavePlan]:
        """Give each rank's plan the file-name prefix ``prefix_strategy`` chooses for it."""
        return [
            dataclasses.replace(plan, storage_data=StorageMetadata(self.prefix_strategy(rank)))
            for rank, plan in enumerate(plans)
        ]

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: PathType) -> bool:
        return S3FileSystem.validate_checkpoint_id(checkpoint_id)


class S3StorageReader(FileSystemReader):
    """Loads a ``torch.distributed.checkpoint`` from S3: ``dcp.load(state_dict,
    storage_reader=S3StorageReader(region, "s3://bucket/checkpoints/step-100"))``.

    Each rank reads only the blobs its state dict needs, file by file in storage order. With
    the default :meth:`S3ReaderConstructor.dcp_optimized` readers, only those byte ranges are
    fetched (neighbours sharing a GET); a checkpoint saved with any number of ranks loads into
    any other sharding, or into one process.

    Args:
        region: the bucket's region; None finds it as :class:`s3torch.S3Client` does.
        path: the checkpoint's ``s3://bucket/prefix`` URI.
        s3client_config: settings for the client.
        reader_constructor: how files are read; default
            :meth:`S3ReaderConstructor.dcp_optimized`. Use :meth:`S3ReaderConstructor.sequential`
            for planners that read outside the plan's ranges.

    Raises:
        ValueError: ``path`` is not an S3 URI.

    A missing checkpoint fails with :class:`s3torch.S3NoSuchKeyError` (a ``FileNotFoundError``)
    for its ``.metadata``; ``dcp.load`` reports it inside a ``CheckpointException``.
    """

    def __init__(
        self,
        region: str | None,
        path: PathType,
        s3client_config: S3ClientConfig | None = None,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
    ) -> None:
        if reader_constructor is None:
            reader_constructor = S3ReaderConstructor.dcp_optimized()
        fs = S3FileSystem(
            region, s3client_config=s3client_config, reader_constructor=reader_constructor
        )
        checkpoint = fs.init_path(path)
        super().__init__(checkpoint)
        self._reader_constructor = reader_constructor
        self.fs = fs  # type: ignore[assignment]  # PyTorch types it as its local FileSystem
        self.path = checkpoint
        self.sync_files = False

    def _in_storage_order(self, plan: LoadPlan) -> LoadPlan:
        """``plan`` with its items sorted by file and offset, and the reader constructor told
        which byte ranges will be read."""

        def position(item: Any) -> tuple[str, int]:
            info = self.storage_data[item.storage_index]
            return (info.relative_path, info.offset)

        plan = dataclasses.replace(plan, items=sorted(plan.items, key=position))
        if isinstance(self._reader_constructor, DCPS3ReaderConstructorProtocol):
            self._reader_constructor.set_item_ranges_by_file(
                plan.items, self.storage_data, self.path
            )
        return plan

    def prepare_local_plan(self, plan: LoadPlan) -> LoadPlan:
        """Sort the plan into storage order (file, then offset) so each file is read front to
        back, and give the reader constructor the byte ranges it will read."""
        return self._in_storage_order(super().prepare_local_plan(plan))

    def read_data(self, plan: LoadPlan, planner: LoadPlanner) -> Future[None]:
        # The plan read may differ from the one prepared (a global planner may change it):
        # order it and hand its ranges over again, which costs nothing when it is the same.
        return super().read_data(self._in_storage_order(plan), planner)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: PathType) -> bool:
        return S3FileSystem.validate_checkpoint_id(checkpoint_id)
