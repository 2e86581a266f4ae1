"""File objects over S3 objects, and how to choose one."""

from .constructor import S3ReaderConstructor
from .dcp_optimized import (
    DCPOptimizedConstructor,
    DCPOptimizedS3Reader,
    DCPS3ReaderConstructorProtocol,
    ItemRange,
    RangeGroup,
)
from .protocol import GetStreamCallable, ObjectInfoCallable, S3ReaderConstructorProtocol
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
