"""What :class:`~s3torch.fsspec.S3TorchFileSystem` says exists: ``ls``, ``info`` and ``find``
over ListObjectsV2 and HEAD, and the entries (dicts in s3fs's shape) they return.

S3 has no directories: a directory is a prefix some key starts with, or a "directory marker"
object whose key ends in ``/``; the functions here infer them from the keys listed.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import TYPE_CHECKING, Any

from ._paths import join

if TYPE_CHECKING:
    from .._client import S3Client
    from ._filesystem import S3TorchFileSystem


def file_entry(
    bucket: str, key: str, size: int, etag: str, last_modified: int, storage_class: str | None
) -> dict[str, Any]:
    return {
        "name": join(bucket, key),
        "size": size,
        "type": "file",
        "ETag": etag,
        "LastModified": datetime.datetime.fromtimestamp(last_modified, datetime.timezone.utc),
        "StorageClass": storage_class or "STANDARD",
    }


def dir_entry(bucket: str, key: str) -> dict[str, Any]:
    return {"name": join(bucket, key), "size": 0, "type": "directory", "StorageClass": "DIRECTORY"}


def has_children(client: S3Client, bucket: str, key: str) -> bool:
    """Whether some key lies under ``key/``: then ``key`` is a directory."""
    for page in client.list_objects(bucket, key + "/" if key else "", "", 1):
        return bool(page.object_info or page.common_prefixes)
    return False


def directories(paths: list[str]) -> list[str]:
    """The paths of a sorted list that others in it lie under: the directories among them."""
    return [
        p for i, p in enumerate(paths) if i + 1 < len(paths) and paths[i + 1].startswith(p + "/")
    ]


def ls(fs: S3TorchFileSystem, path: str, detail: bool) -> list[Any]:
    bucket, key = fs._split(path)
    prefix = key + "/" if key else ""
    entries: list[dict[str, Any]] = []
    for page in fs.client.list_objects(bucket, prefix, "/"):
        for common in page.common_prefixes:
            entries.append(dir_entry(bucket, common.rstrip("/")))
        for obj in page.object_info:
            if obj.key == prefix:
                continue  # the "directory marker" some tools write: the directory itself
            if obj.key.endswith("/"):
                entries.append(dir_entry(bucket, obj.key.rstrip("/")))
                continue
            entries.append(
                file_entry(
                    bucket, obj.key, obj.size, obj.etag, obj.last_modified, obj.storage_class
                )
            )
    if not entries and key:
        entries = [fs.info(path)]
        if entries[0]["type"] == "directory":
            entries = []  # only a marker, or only deeper keys listed above: an empty dir
    entries.sort(key=lambda entry: entry["name"])
    if detail:
        return entries
    return [entry["name"] for entry in entries]


def info(fs: S3TorchFileSystem, path: str) -> dict[str, Any]:
    bucket, key = fs._split(path)
    if not key:
        next(iter(fs.client.list_objects(bucket, "", "/", 1)), None)  # raises if no bucket
        return dir_entry(bucket, "")
    try:
        head = fs.client.head_object(bucket, key)
    except FileNotFoundError:
        if has_children(fs.client, bucket, key):
            return dir_entry(bucket, key)
        raise
    return file_entry(bucket, key, head.size, head.etag, head.last_modified, head.storage_class)


def exists(fs: S3TorchFileSystem, path: str) -> bool:
    try:
        fs.info(path)
    except FileNotFoundError:
        return False
    return True


def modified(fs: S3TorchFileSystem, path: str) -> datetime.datetime:
    entry = fs.info(path)
    if entry["type"] != "file":
        raise IsADirectoryError(f"{path!r} is a directory: S3 keeps no times for prefixes")
    return entry["LastModified"]  # type: ignore[no-any-return]


def find(
    fs: S3TorchFileSystem, path: str, maxdepth: int | None, withdirs: bool, detail: bool
) -> Any:
    if maxdepth is not None and maxdepth < 1:
        raise ValueError("maxdepth must be at least 1")
    bucket, key = fs._split(path)
    root = join(bucket, key)
    prefix = key + "/" if key else ""
    found: dict[str, dict[str, Any]] = {}
    for page in fs.client.list_objects(bucket, prefix, ""):
        for obj in page.object_info:
            relative = obj.key[len(prefix) :]
            parts = relative.split("/")
            is_marker = relative.endswith("/")
            if is_marker:
                parts = parts[:-1]
            if not parts:
                continue
            if withdirs:
                dirs = len(parts) if is_marker else len(parts) - 1
                for depth in range(1, dirs + 1):
                    if maxdepth is None or depth <= maxdepth:
                        dir_key = prefix + "/".join(parts[:depth])
                        name = join(bucket, dir_key)
                        if name not in found:
                            found[name] = dir_entry(bucket, dir_key)
            if is_marker or (maxdepth is not None and len(parts) > maxdepth):
                continue
            entry = file_entry(
                bucket, obj.key, obj.size, obj.etag, obj.last_modified, obj.storage_class
            )
            found[entry["name"]] = entry
    if found and withdirs and key:
        found[root] = dir_entry(bucket, key)
    if not found and key:
        with contextlib.suppress(FileNotFoundError):
            entry = fs.info(path)
            if entry["type"] == "file":
                found[root] = entry
    names = sorted(found)
    if detail:
        return {name: found[name] for name in names}
    return names
