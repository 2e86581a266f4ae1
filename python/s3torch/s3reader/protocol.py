"""The shapes of the callables readers are built from."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

from .._core import GetObjectStream, HeadObjectResult, ObjectInfo

if TYPE_CHECKING:
    from ._dcp_plan import ItemRange
    from .s3reader import S3Reader

__all__ = [
    "DCPS3ReaderConstructorProtocol",
    "GetStreamCallable",
    "ObjectInfoCallable",
    "S3ReaderConstructorProtocol",
]


class GetStreamCallable(Protocol):
    """Starts a GET of the reader's object: whole, or bytes ``start`` to ``end`` (exclusive;
    None for the end of the object)."""

    def __call__(self, start: int | None = None, end: int | None = None) -> GetObjectStream: ...


class ObjectInfoCallable(Protocol):
    """Returns the object's metadata (its ``size`` at least); may send a HEAD request."""

    def __call__(self) -> Union[ObjectInfo, HeadObjectResult]: ...


@runtime_checkable
class S3ReaderConstructorProtocol(Protocol):
    """Makes a reader; :class:`~s3torch.S3ReaderConstructor` returns these."""

    def __call__(
        self,
        bucket: str,
        key: str,
        get_object_info: ObjectInfoCallable,
        get_stream: GetStreamCallable,
    ) -> S3Reader: ...


@runtime_checkable
class DCPS3ReaderConstructorProtocol(S3ReaderConstructorProtocol, Protocol):
    """A reader constructor that learns the byte ranges of a distributed-checkpoint load plan
    from :class:`s3torch.dcp.S3StorageReader` before the files are read."""

    _item_ranges_by_file: dict[str, list[ItemRange]]

    def set_item_ranges_by_file(
        self,
        plan_items: Sequence[Any],
        storage_data: Mapping[Any, Any],
        base_path: str | os.PathLike[str],
    ) -> None: ...
