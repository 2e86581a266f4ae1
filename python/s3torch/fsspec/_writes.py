"""How :class:`~s3torch.fsspec.S3TorchFileSystem` changes the store without opening a file:
``pipe_file`` and ``touch`` (bytes in hand), ``cp_file`` (a server-side copy), ``rm_file`` and
``rm`` (many deletes at once, directory markers last)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ._listing import directories, has_children

if TYPE_CHECKING:
    from ._filesystem import S3TorchFileSystem

_DELETE_THREADS = 16  # deletes that rm keeps in flight at once


def check_target(fs: S3TorchFileSystem, path: str, mode: str) -> None:
    """Refuse to write an object at ``path``: a bucket, or with ``mode="create"`` an existing
    object (checked now, not atomically with the upload)."""
    _, key = fs._split(path)
    if not key:
        raise IsADirectoryError(f"{path!r} is a bucket, not a file")
    if mode == "create" and fs.exists(path):
        raise FileExistsError(f"{path!r} already exists (mode='create')")


def pipe_file(fs: S3TorchFileSystem, path: str, value: Any, mode: str, kwargs: Any) -> None:
    if mode not in ("overwrite", "create"):
        raise ValueError(f"mode={mode!r}: must be 'overwrite' or 'create'")
    check_target(fs, path, mode)
    # Through open(), so that inside a transaction the object waits for its commit.
    with fs.open(path, "wb", storage_class=kwargs.get("storage_class")) as writer:
        writer.write(value)


def touch(fs: S3TorchFileSystem, path: str, truncate: bool) -> None:
    if not truncate and fs.exists(path):
        raise NotImplementedError("S3 cannot update an object's time without rewriting it")
    fs.pipe_file(path, b"")


def cp_file(fs: S3TorchFileSystem, path1: str, path2: str) -> None:
    src_bucket, src_key = fs._split(path1)
    dst_bucket, dst_key = fs._split(path2)
    if not src_key:
        raise IsADirectoryError(f"{path1!r} is a bucket, not a file")
    if not dst_key:
        raise IsADirectoryError(f"{path2!r} is a bucket, not a file")
    try:
        fs.client.copy_object(src_bucket, src_key, dst_bucket, dst_key)
    except FileNotFoundError:
        if has_children(fs.client, src_bucket, src_key):
            return  # a directory: it exists at the target once its files are copied
        raise


def rm(fs: S3TorchFileSystem, path: Any, recursive: bool, maxdepth: int | None) -> None:
    paths = sorted(fs.expand_path(path, recursive=recursive, maxdepth=maxdepth))
    # A path that others lie under is a directory: its marker object ("key/"), which some
    # tools write and some stores (SeaweedFS) keep as an empty directory, goes after them.
    keys = [fs._split(p) for p in paths]
    markers = [(bucket, key + "/") for bucket, key in map(fs._split, reversed(directories(paths)))]
    with ThreadPoolExecutor(max_workers=min(_DELETE_THREADS, max(1, len(keys)))) as pool:
        for done in pool.map(lambda bucket_key: _delete(fs, *bucket_key), keys):
            del done
    for bucket, key in markers:
        _delete(fs, bucket, key)


def rm_file(fs: S3TorchFileSystem, path: str) -> None:
    _delete(fs, *fs._split(path))


def _delete(fs: S3TorchFileSystem, bucket: str, key: str) -> None:
    if key:  # a bucket itself is never deleted
        fs.client.delete_object(bucket, key)
