"""Choosing a reader: :class:`S3ReaderConstructor`."""

from __future__ import annotations

from functools import partial

from .._checks import check_optional_int
from ._dcp_plan import DEFAULT_MAX_GAP_SIZE, GapSize
from .dcp_optimized import DCPOptimizedConstructor
from .protocol import S3ReaderConstructorProtocol
from .ranged import RangedS3Reader
from .sequential import SequentialS3Reader

__all__ = ["S3ReaderConstructor"]


class S3ReaderConstructor:
    """Factories of reader constructors, to pass as ``reader_constructor=`` to
    :meth:`s3torch.S3Client.get_object`, the datasets, :class:`s3torch.S3Checkpoint` users and
    the distributed-checkpoint reader.

    - :meth:`sequential` (the default): one streaming GET per object; best for reading objects
      whole or front to back, and fine for parsers that look back a little.
    - :meth:`range_based`: a ranged GET per read; best for sparse access into large objects.
    """

    @staticmethod
    def sequential() -> S3ReaderConstructorProtocol:
        """Readers that stream the object with one GET (:class:`SequentialS3Reader`)."""
        return partial(SequentialS3Reader)

    @staticmethod
    def range_based(buffer_size: int | None = None) -> S3ReaderConstructorProtocol:
        """Readers that fetch the bytes each read needs with a ranged GET
        (:class:`RangedS3Reader`).

        Args:
            buffer_size: reads smaller than this fetch this many bytes ahead into a buffer, so
                nearby small reads share a request; larger reads bypass it. ``None`` means
                8 MiB; ``0`` turns buffering off.
        """
        check_optional_int("buffer_size", buffer_size, minimum=0)
        return partial(RangedS3Reader, buffer_size=buffer_size)

    @staticmethod
    def dcp_optimized(max_gap_size: GapSize = DEFAULT_MAX_GAP_SIZE) -> DCPOptimizedConstructor:
        """Readers for ``torch.distributed.checkpoint`` loads that fetch only the byte ranges
        the load plan needs (:class:`~s3torch.s3reader.dcp_optimized.DCPOptimizedS3Reader`);
        the default of :class:`s3torch.dcp.S3StorageReader`, which hands them the ranges.
        Files outside the plan (``.metadata``) get sequential readers.

        Args:
            max_gap_size: ranges at most this many bytes apart share one GET (the gap is read
                and dropped); default 32 MiB. ``float("inf")`` reads each file with one GET,
                ``0`` starts a new GET at every gap.

        Raises:
            TypeError: ``max_gap_size`` is not a number.
            ValueError: ``max_gap_size`` is negative.
        """
        return DCPOptimizedConstructor(max_gap_size=max_gap_size)

    @staticmethod
    def default() -> S3ReaderConstructorProtocol:
        """The default: :meth:`sequential`."""
        return S3ReaderConstructor.sequential()

    @staticmethod
    def get_reader_type_string(constructor: S3ReaderConstructorProtocol | None) -> str:
        """``"sequential"``, ``"range_based"``, ``"dcp_optimized"`` or ``"unknown"`` for a
        constructor (None means the default)."""
        if constructor is None:
            return "sequential"
        if isinstance(constructor, DCPOptimizedConstructor):
            return "dcp_optimized"
        func = getattr(constructor, "func", None)
        if func is SequentialS3Reader:
            return "sequential"
        if func is RangedS3Reader:
            return "range_based"
        return "unknown"
