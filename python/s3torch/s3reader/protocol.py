"""The shapes of the callables readers are built from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

from .._core import GetObjectStream, HeadObjectResult, ObjectInfo

if TYPE_CHECKING:
    from .s3reader import S3Reader

__all__ = ["GetStreamCallable", "ObjectInfoCallable", "S3ReaderConstructorProtocol"]


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
