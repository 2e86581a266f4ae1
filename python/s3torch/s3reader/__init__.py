"""File objects over S3 objects, and how to choose one."""

from ._dcp_plan import ItemRange, RangeGroup
from .constructor import S3ReaderConstructor
from .dcp_optimized import DCPOptimizedConstructor, DCPOptimizedS3Reader
from .protocol import (
    DCPS3ReaderConstructorProtocol,
    GetStreamCallable,
    ObjectInfoCallable,
    S3ReaderConstructorProtocol,
)
from .ranged import RangedS3Reader
from .s3reader import S3Reader
from .sequential import SequentialS3Reader

__all__ = [
    "DCPOptimizedConstructor",
    "DCPOptimizedS3Reader",
    "DCPS3ReaderConstructorProtocol",
    "GetStreamCallable",
    "ItemRange",
    "ObjectInfoCallable",
    "RangeGroup",
    "RangedS3Reader",
    "S3Reader",
    "S3ReaderConstructor",
    "S3ReaderConstructorProtocol",
    "SequentialS3Reader",
]
