"""s3torch.fsspec.S3TorchFileSystem against the local S3 server: listing, reading, writing,
errors, bad input, pickling and registration."""

from __future__ import annotations

import importlib
import io
import multiprocessing.reduction
import pickle
import re
from typing import Any

import fsspec
import pytest

import s3torch
from s3torch.fsspec import S3TorchFileSystem, register


@pytest.fixture
def fs(client: Any) -> S3TorchFileSystem:
    return S3TorchFileSystem(client=client)


@pytest.fixture
def tree(fs: S3TorchFileSystem, bucket: str) -> str:
    """bucket/top.txt, bucket/dir/a.bin, bucket/dir/sub/b.bin, bucket/dir/sub/c.txt"""
    fs.pipe_file(f"{bucket}/top.txt", b"top")
    fs.pipe_file(f"{bucket}/dir/a.bin", bytes(range(256)) * 4)
    fs.pipe_file(f"{bucket}/dir/sub/b.bin", b"b" * 100)
    fs.pipe_file(f"{bucket}/dir/sub/c.txt", b"c")
    return bucket


# ---- listing and metadata ------------------------------------------------------------------


def test_ls_shows_files_and_directories_inferred_from_prefixes(fs: Any, tree: str) -> None:
    assert fs.ls(tree, detail=False) == [f"{tree}/dir", f"{tree}/top.txt"]
    entries = {e["name"]: e for e in fs.ls(f"s3torch://{tree}/dir")}
    assert entries[f"{tree}/dir/a.bin"]["type"] == "file"
    assert entries[f"{tree}/dir/a.bin"]["size"] == 1024
    assert entries[f"{tree}/dir/sub"]["type"] == "directory"
    # A file lists as itself, as in s3fs.
    assert fs.ls(f"{tree}/top.txt", detail=False) == [f"{tree}/top.txt"]


def test_ls_of_nothing_raises_file_not_found(fs: Any, bucket: str) -> None:
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{bucket}/missing")
    assert fs.ls(bucket) == []  # an empty bucket is an empty directory


def test_info_tells_files_from_directories(fs: Any, tree: str) -> None:
    info = fs.info(f"{tree}/dir/sub/b.bin")
    assert (info["type"], info["size"]) == ("file", 100)
    assert info["ETag"]
    assert fs.modified(f"{tree}/dir/sub/b.bin") == info["LastModified"]
    assert fs.info(f"{tree}/dir/sub")["type"] == "directory"
    assert fs.info(tree)["type"] == "directory"
    assert fs.isdir(f"{tree}/dir") and not fs.isfile(f"{tree}/dir")
    assert fs.isfile(f"{tree}/top.txt") and not fs.isdir(f"{tree}/top.txt")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{tree}/di")  # a prefix of a name is not a directory


def test_exists(fs: Any, tree: str) -> None:
    assert fs.exists(f"{tree}/top.txt")
    assert fs.exists(f"{tree}/dir/sub")
    assert not fs.exists(f"{tree}/nope")
    assert not fs.exists("t-no-such-bucket-0123456789")


def test_find_lists_everything_below_with_depth_and_directories(fs: Any, tree: str) -> None:
    files = [f"{tree}/dir/a.bin", f"{tree}/dir/sub/b.bin", f"{tree}/dir/sub/c.txt"]
    assert fs.find(f"{tree}/dir") == files
    assert fs.find(f"{tree}/dir", maxdepth=1) == [f"{tree}/dir/a.bin"]
    assert fs.find(f"{tree}/dir", withdirs=True) == sorted(
        [f"{tree}/dir", f"{tree}/dir/sub", *files]
    )
    assert fs.find(f"{tree}/top.txt") == [f"{tree}/top.txt"]
    assert fs.find(f"{tree}/missing") == []
    detail = fs.find(tree, detail=True)
    assert detail[f"{tree}/top.txt"]["size"] == 3


def test_glob(fs: Any, tree: str) -> None:
    assert fs.glob(f"{tree}/dir/**/*.txt") == [f"{tree}/dir/sub/c.txt"]
    assert fs.glob(f"s3torch://{tree}/*.txt") == [f"{tree}/top.txt"]
    assert fs.glob(f"{tree}/dir/*") == [f"{tree}/dir/a.bin", f"{tree}/dir/sub"]


# ---- reading -------------------------------------------------------------------------------


def test_cat_file_whole_and_ranges(fs: Any, tree: str) -> None:
    path = f"{tree}/dir/a.bin"
    data = bytes(range(256)) * 4
    assert fs.cat_file(path) == data
    assert fs.cat_file(path, 10, 20) == data[10:20]
    assert fs.cat_file(path, -10) == data[-10:]
    assert fs.cat_file(path, 5, -5) == data[5:-5]
    assert fs.cat_file(path, 1000, 5000) == data[1000:]
    assert fs.cat_file(path, 2000, 3000) == b""  # past the end, as a file read there
    assert fs.cat_file(path, 7, 7) == b""


def test_cat_file_errors(fs: Any, tree: str) -> None:
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{tree}/missing")
    with pytest.raises(IsADirectoryError):
        fs.cat_file(f"{tree}/dir")
    with pytest.raises(ValueError, match="inverted byte range"):
        fs.cat_file(f"{tree}/top.txt", 5, 2)
    with pytest.raises(TypeError, match="start must be an int"):
        fs.cat_file(f"{tree}/top.txt", "0", 2)


class _RecordingFileSystem(S3TorchFileSystem):
    """Records when GETs start and when their bodies are read, to see the overlap."""

    events: list[str]

    def _start_get(self, *args: Any) -> Any:
        self.events.append("start")
        return super()._start_get(*args)

    def _read_stream(self, *args: Any) -> bytes:
        self.events.append("read")
        return super()._read_stream(*args)


def test_cat_of_many_keeps_gets_in_flight(client: Any, bucket: str) -> None:
    fs = _RecordingFileSystem(client=client, max_concurrency=16)
    blobs = {f"{bucket}/many/{i:03d}": i.to_bytes(2, "big") * 50 for i in range(100)}
    for path, blob in blobs.items():
        fs.pipe_file(path, blob)
    fs.events = []
    assert fs.cat(list(blobs)) == blobs
    # The first body is read only after the next GETs were started, and never more than
    # max_concurrency wait at once.
    assert fs.events.index("read") >= 16
    waiting = 0
    for event in fs.events:
        waiting += 1 if event == "start" else -1
        assert waiting <= 17
    assert fs.cat(f"{bucket}/many", recursive=True) == blobs


def test_cat_on_error(fs: Any, tree: str) -> None:
    paths = [f"{tree}/top.txt", f"{tree}/missing"]
    with pytest.raises(FileNotFoundError):
        fs.cat(paths)
    returned = fs.cat(paths, on_error="return")
    assert returned[f"{tree}/top.txt"] == b"top"
    assert isinstance(returned[f"{tree}/missing"], FileNotFoundError)
    assert fs.cat(paths, on_error="omit") == {f"{tree}/top.txt": b"top"}
    assert fs.cat(f"{tree}/top.txt") == b"top"


def test_cat_ranges(fs: Any, tree: str) -> None:
    a = bytes(range(256)) * 4
    paths = [f"{tree}/dir/a.bin", f"{tree}/dir/sub/b.bin", f"{tree}/dir/a.bin", f"{tree}/missing"]
    out = fs.cat_ranges(paths, [0, 10, -4, 0], [10, 20, None, 5])
    assert out[:3] == [a[:10], b"b" * 10, a[-4:]]
    assert isinstance(out[3], FileNotFoundError)
    assert fs.cat_ranges(paths[:2], 1, 3) == [a[1:3], b"bb"]
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges(paths, 0, 1, on_error="raise")


def test_cat_ranges_bad_input(fs: Any, tree: str) -> None:
    path = f"{tree}/top.txt"
    with pytest.raises(ValueError, match=r"range 1: inverted byte range .* start=3 is after end=1"):
        fs.cat_ranges([path, path], [0, 3], [1, 1])
    with pytest.raises(ValueError, match="2 paths, 1 starts"):
        fs.cat_ranges([path, path], [0], [1, 2])
    with pytest.raises(TypeError, match="paths must be a list"):
        fs.cat_ranges(path, 0, 1)
    with pytest.raises(TypeError, match="end must be an int"):
        fs.cat_ranges([path], [0], [1.5])


def test_open_read_seeks_and_reads_ahead(fs: Any, client: Any, bucket: str) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    fs.pipe_file(f"{bucket}/f.bin", data)
    before = client.metrics().get("requests.GetObject", 0)
    with fs.open(f"{bucket}/f.bin", "rb", block_size=512 * 1024) as f:
        assert f.size == len(data)
        # A Parquet reader's pattern: the footer length at the end, then the footer, then
        # column chunks front to back in small reads.
        f.seek(-8, io.SEEK_END)
        assert f.read(8) == data[-8:]
        f.seek(0)
        pieces = [f.read(1000) for _ in range(100)]
        assert b"".join(pieces) == data[:100_000]
        assert f.tell() == 100_000
        f.seek(600_000)
        assert f.read() == data[600_000:]
    gets = client.metrics()["requests.GetObject"] - before
    assert gets <= 4  # the footer, one read-ahead block and the rest: not one GET per read


def test_large_reads_fetch_only_their_bytes(fs: Any, client: Any, bucket: str) -> None:
    """Reads of half a block or more (PyArrow's coalesced column chunks) skip the read-ahead:
    no bytes are fetched beyond what was asked for."""
    data = bytes(range(256)) * 4096  # 1 MiB
    fs.pipe_file(f"{bucket}/f.bin", data)
    with fs.open(f"{bucket}/f.bin", "rb", block_size=256 * 1024) as f:
        before = client.metrics().get("bytes_read", 0)
        f.seek(100_000)
        assert f.read(200_000) == data[100_000:300_000]
        assert client.metrics()["bytes_read"] - before == 200_000
        target = bytearray(300_000)
        assert f.readinto(target) == 300_000
        assert bytes(target) == data[300_000:600_000]
        assert f.tell() == 600_000
        assert client.metrics()["bytes_read"] - before == 500_000
        small = bytearray(10)
        assert f.readinto(small) == 10 and bytes(small) == data[600_000:600_010]
        f.seek(len(data) - 5)
        assert f.readinto(bytearray(300_000)) == 5


def test_open_text_modes(fs: Any, bucket: str) -> None:
    with fs.open(f"{bucket}/t.txt", "w") as f:
        f.write("héllo\nworld\n")
    with fs.open(f"{bucket}/t.txt", "r") as f:
        assert f.readlines() == ["héllo\n", "world\n"]
    with fsspec.open(f"s3torch://{bucket}/t.txt", "rt", client=fs.client) as f:
        assert f.read() == "héllo\nworld\n"


def test_open_read_errors(fs: Any, tree: str) -> None:
    with pytest.raises(FileNotFoundError):
        fs.open(f"{tree}/missing", "rb")
    with pytest.raises(IsADirectoryError):
        fs.open(f"{tree}/dir", "rb")
    with pytest.raises(IsADirectoryError):
        fs.open(tree, "rb")


@pytest.mark.parametrize("mode", ["ab", "a", "r+b", "w+", "rw", "b", ""])
def test_open_refuses_other_modes(fs: Any, bucket: str, mode: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"unsupported mode {mode!r}")):
        fs.open(f"{bucket}/x", mode)


# ---- writing -------------------------------------------------------------------------------


def test_write_streams_and_appears_on_close(fs: Any, bucket: str) -> None:
    chunk = b"z" * (1024 * 1024)
    f = fs.open(f"{bucket}/big.bin", "wb")
    for _ in range(12):  # more than two 5 MiB parts: a multipart upload
        f.write(chunk)
    assert f.tell() == 12 * len(chunk)
    assert not fs.exists(f"{bucket}/big.bin")
    f.close()
    assert fs.info(f"{bucket}/big.bin")["size"] == 12 * len(chunk)


def test_exception_in_with_block_leaves_previous_object(fs: Any, bucket: str) -> None:
    fs.pipe_file(f"{bucket}/k", b"previous")
    with pytest.raises(RuntimeError, match="boom"), fs.open(f"{bucket}/k", "wb") as f:
        f.write(b"x" * (6 * 1024 * 1024))
        raise RuntimeError("boom")
    assert fs.cat_file(f"{bucket}/k") == b"previous"
    with pytest.raises(RuntimeError), fs.open(f"{bucket}/new", "w") as text:
        text.write("half")
        raise RuntimeError("boom")
    assert not fs.exists(f"{bucket}/new")


def test_close_after_a_newer_exception_aborts(fs: Any, bucket: str) -> None:
    """A library that closes the file in its own cleanup, after a failure (as PyArrow's
    ParquetWriter does), must not publish half an object."""
    fs.pipe_file(f"{bucket}/k", b"previous")
    f = fs.open(f"{bucket}/k", "wb")
    f.write(b"half")
    try:
        raise OSError("the writing library failed")
    except OSError:
        f.close()
    assert f.aborted
    assert fs.cat_file(f"{bucket}/k") == b"previous"


def test_file_opened_while_handling_an_exception_is_completed(fs: Any, bucket: str) -> None:
    try:
        raise KeyError("the reason for writing a fallback")
    except KeyError:
        with fs.open(f"{bucket}/fallback", "wb") as f:
            f.write(b"fallback")
    assert fs.cat_file(f"{bucket}/fallback") == b"fallback"


def test_write_handle_refuses_seek(fs: Any, bucket: str) -> None:
    with fs.open(f"{bucket}/k", "wb") as f:
        f.write(b"abc")
        with pytest.raises(ValueError, match=r"cannot seek .* open for writing"):
            f.seek(0)
        assert not f.seekable()
    assert fs.cat_file(f"{bucket}/k") == b"abc"


def test_exclusive_modes(fs: Any, bucket: str) -> None:
    fs.pipe_file(f"{bucket}/k", b"one", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{bucket}/k", b"two", mode="create")
    with pytest.raises(FileExistsError):
        fs.open(f"{bucket}/k", "xb")
    with fs.open(f"{bucket}/other", "xb") as f:
        f.write(b"new")
    assert fs.cat([f"{bucket}/k", f"{bucket}/other"]) == {
        f"{bucket}/k": b"one",
        f"{bucket}/other": b"new",
    }
    with pytest.raises(ValueError, match="mode='append'"):
        fs.pipe_file(f"{bucket}/k", b"x", mode="append")


def test_transaction_publishes_on_success_only(fs: Any, bucket: str) -> None:
    with fs.transaction:
        fs.pipe_file(f"{bucket}/a", b"a")
        with fs.open(f"{bucket}/b", "wb") as f:
            f.write(b"b")
        assert not fs.exists(f"{bucket}/a") and not fs.exists(f"{bucket}/b")
    assert fs.cat([f"{bucket}/a", f"{bucket}/b"]) == {f"{bucket}/a": b"a", f"{bucket}/b": b"b"}
    with pytest.raises(RuntimeError), fs.transaction:
        fs.pipe_file(f"{bucket}/a", b"changed")
        raise RuntimeError("boom")
    assert fs.cat_file(f"{bucket}/a") == b"a"


def test_touch_mkdir_rm_cp_mv(fs: Any, tree: str) -> None:
    fs.mkdir(f"{tree}/nothing/here")  # no-op: S3 has no directories
    fs.makedirs(f"{tree}/nothing/here", exist_ok=True)
    assert not fs.exists(f"{tree}/nothing")
    fs.touch(f"{tree}/empty")
    assert fs.info(f"{tree}/empty")["size"] == 0
    fs.cp_file(f"{tree}/top.txt", f"{tree}/copy.txt")
    assert fs.cat_file(f"{tree}/copy.txt") == b"top"
    fs.mv(f"{tree}/copy.txt", f"{tree}/moved.txt")
    assert not fs.exists(f"{tree}/copy.txt")
    assert fs.cat_file(f"{tree}/moved.txt") == b"top"
    fs.cp(f"{tree}/dir", f"{tree}/dir2", recursive=True)
    assert fs.find(f"{tree}/dir2") == [
        f"{tree}/dir2/a.bin",
        f"{tree}/dir2/sub/b.bin",
        f"{tree}/dir2/sub/c.txt",
    ]
    fs.rm(f"{tree}/dir", recursive=True)
    assert not fs.exists(f"{tree}/dir")
    assert fs.ls(tree, detail=False) == [
        f"{tree}/dir2",
        f"{tree}/empty",
        f"{tree}/moved.txt",
        f"{tree}/top.txt",
    ]
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{tree}/missing", recursive=True)
    fs.rm(f"{tree}/missing")  # deleting a missing object is not an error, as in S3


def test_get_and_put_round_trip(fs: Any, tree: str, tmp_path: Any) -> None:
    fs.get(f"{tree}/dir", str(tmp_path / "down"), recursive=True)
    assert (tmp_path / "down" / "sub" / "b.bin").read_bytes() == b"b" * 100
    assert (tmp_path / "down" / "a.bin").read_bytes() == bytes(range(256)) * 4
    (tmp_path / "down" / "sub" / "new.txt").write_bytes(b"new")
    fs.put(str(tmp_path / "down"), f"{tree}/up", recursive=True)
    assert fs.cat_file(f"{tree}/up/sub/new.txt") == b"new"
    assert fs.cat_file(f"{tree}/up/a.bin") == bytes(range(256)) * 4
    with pytest.raises(FileNotFoundError):
        fs.get_file(f"{tree}/missing", str(tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()


class _OverlapFileSystem(S3TorchFileSystem):
    """Counts how many file transfers run at the same time."""

    def _track(self, work: Any, *args: Any) -> None:
        import time

        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            time.sleep(0.05)  # long enough for the next transfers to start meanwhile
            work(*args)
        finally:
            with self.lock:
                self.active -= 1

    def _get_file(self, *args: Any) -> None:
        self._track(super()._get_file, *args)

    def _put_file(self, *args: Any) -> None:
        self._track(super()._put_file, *args)


def test_get_and_put_of_many_files_run_at_once(client: Any, bucket: str, tmp_path: Any) -> None:
    import threading

    fs = _OverlapFileSystem(client=client)
    fs.lock, fs.active, fs.most = threading.Lock(), 0, 0
    for i in range(40):
        (tmp_path / "up" / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "up" / f"d{i % 3}" / f"{i}.bin").write_bytes(bytes([i]) * (i + 1))
    fs.put(str(tmp_path / "up"), f"{bucket}/tree", recursive=True)
    assert len(fs.find(f"{bucket}/tree")) == 40
    assert fs.most > 1
    fs.most = 0
    fs.get(f"{bucket}/tree", str(tmp_path / "down"), recursive=True)
    assert fs.most > 1
    for i in range(40):
        assert (tmp_path / "down" / f"d{i % 3}" / f"{i}.bin").read_bytes() == bytes([i]) * (i + 1)
    with pytest.raises(FileNotFoundError):
        fs.get([f"{bucket}/tree/d0/0.bin", f"{bucket}/missing"], str(tmp_path / "list") + "/")


def test_errors_are_the_builtins_fsspec_users_catch(fs: Any, tree: str) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        fs.cat_file(f"{tree}/missing")
    assert isinstance(raised.value, s3torch.S3NoSuchKeyError)
    assert raised.value.key == "missing"
    with pytest.raises(FileNotFoundError):
        fs.ls("t-no-such-bucket-0123456789/x")


def test_wrong_credentials_raise_permission_error(s3_server: Any, tree: str) -> None:
    fs = S3TorchFileSystem(
        region=s3_server.region,
        endpoint_url=s3_server.endpoint,
        key=s3_server.access_key,
        secret="not-the-secret",
        s3client_config=s3torch.S3ClientConfig(max_attempts=1),
    )
    with pytest.raises(PermissionError):
        fs.cat_file(f"{tree}/top.txt")


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["gs://bucket/key", "file:///tmp/x", "https://host/bucket/key"])
def test_url_of_another_protocol_is_refused(fs: Any, url: str) -> None:
    scheme = url.split("://")[0]
    with pytest.raises(ValueError, match=f"is a {scheme}:// URL"):
        fs.info(url)


@pytest.mark.parametrize("path", ["", "s3torch://", "s3://", "/"])
def test_path_without_bucket_is_refused(fs: Any, path: str) -> None:
    with pytest.raises(ValueError, match="names no bucket"):
        fs.ls(path)
    with pytest.raises(ValueError, match="names no bucket"):
        fs.open(path + "", "rb")


def test_invalid_bucket_name_is_refused(fs: Any) -> None:
    with pytest.raises(ValueError, match="invalid S3 path 'Bad Bucket/k'"):
        fs.cat_file("Bad Bucket/k")
    with pytest.raises(TypeError, match="must be a str"):
        fs.info(42)


def test_constructor_checks_its_options(s3_server: Any, client: Any) -> None:
    with pytest.raises(TypeError, match=r"unknown storage option\(s\) \['version_aware'\]"):
        S3TorchFileSystem(version_aware=True)
    with pytest.raises(ValueError, match="disagree"):
        S3TorchFileSystem(endpoint="http://127.0.0.1:1", endpoint_url="http://127.0.0.1:2")
    with pytest.raises(TypeError, match="do not pass key, secret"):
        S3TorchFileSystem(client=client, key="a", secret="b")
    with pytest.raises(TypeError, match="unsupported client_kwargs"):
        S3TorchFileSystem(client_kwargs={"verify": False})
    with pytest.raises(ValueError, match="anon=True"):
        S3TorchFileSystem(anon=True, key="a", secret="b")
    with pytest.raises(ValueError, match="secret_access_key was given without"):
        S3TorchFileSystem(secret="only-a-secret")
    with pytest.raises(ValueError, match="max_concurrency=0"):
        S3TorchFileSystem(client=client, max_concurrency=0)
    with pytest.raises(TypeError, match="client_kwargs must be a dict"):
        S3TorchFileSystem(client_kwargs=["endpoint_url"])
    with pytest.raises(ValueError, match="asynchronous=True is not supported"):
        S3TorchFileSystem(asynchronous=True)
    with pytest.raises(ValueError, match="not an fsspec cache"):
        S3TorchFileSystem(client=client, default_cache_type="huge")


def test_s3fs_style_storage_options(s3_server: Any, tree: str) -> None:
    fs = S3TorchFileSystem(
        key=s3_server.access_key,
        secret=s3_server.secret_key,
        client_kwargs={"endpoint_url": s3_server.endpoint, "region_name": s3_server.region},
    )
    assert fs.client.endpoint == s3_server.endpoint
    assert fs.cat_file(f"{tree}/top.txt") == b"top"


def test_settings_found_as_s3client_finds_them(s3_env: Any, tree: str) -> None:
    fs = fsspec.filesystem("s3torch", skip_instance_cache=True)
    assert isinstance(fs, S3TorchFileSystem)
    assert fs.client.endpoint == s3_env.endpoint
    assert fs.cat_file(f"s3torch://{tree}/top.txt") == b"top"


def test_configs_differing_only_in_credentials_get_their_own_filesystems() -> None:
    one = s3torch.S3ClientConfig(access_key_id="A", secret_access_key="x")
    two = s3torch.S3ClientConfig(access_key_id="A", secret_access_key="y")
    assert S3TorchFileSystem(s3client_config=one) is S3TorchFileSystem(s3client_config=one)
    assert S3TorchFileSystem(s3client_config=one) is not S3TorchFileSystem(s3client_config=two)


# ---- pickling and registration -------------------------------------------------------------


def test_pickled_filesystem_works_in_another_process(s3_env: Any, tree: str) -> None:
    fs = S3TorchFileSystem(skip_instance_cache=True, default_block_size=1024)
    copy = pickle.loads(pickle.dumps(fs))
    assert copy.default_block_size == 1024
    assert copy.cat_file(f"{tree}/top.txt") == b"top"
    with fs.open(f"{tree}/dir/a.bin", "rb") as f:
        f.seek(5)
        reopened = pickle.loads(pickle.dumps(f))
        assert reopened.read(3) == bytes([5, 6, 7])


def test_static_credentials_stay_out_of_plain_pickles(s3_server: Any, fs: Any, tree: str) -> None:
    assert s3_server.secret_key.encode() not in pickle.dumps(fs)
    with pytest.raises(ValueError, match="without its static credentials"):
        pickle.loads(pickle.dumps(fs))
    # multiprocessing (DataLoader workers under spawn) keeps them.
    sent = multiprocessing.reduction.ForkingPickler.dumps(fs)
    assert pickle.loads(sent).cat_file(f"{tree}/top.txt") == b"top"


class _ObjectsDataset:
    """A map-style dataset reading objects through the filesystem it was pickled with."""

    def __init__(self, fs: S3TorchFileSystem, paths: list[str]) -> None:
        self.fs = fs
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> bytes:
        return bytes(self.fs.cat_file(self.paths[index]))


def test_dataloader_spawn_workers_use_the_pickled_filesystem(client: Any, bucket: str) -> None:
    import torch.utils.data

    fs = S3TorchFileSystem(client=client)  # static credentials: they travel to the workers
    paths = [f"{bucket}/item-{i}" for i in range(8)]
    for i, path in enumerate(paths):
        fs.pipe_file(path, f"item {i}".encode())
    loader = torch.utils.data.DataLoader(
        _ObjectsDataset(fs, paths),
        batch_size=None,
        num_workers=2,
        multiprocessing_context="spawn",
    )
    assert list(loader) == [f"item {i}".encode() for i in range(8)]


@pytest.fixture
def fsspec_registry() -> Any:
    registry = importlib.import_module("fsspec.registry")._registry
    saved = dict(registry)
    yield
    registry.clear()
    registry.update(saved)


def test_register(fsspec_registry: Any) -> None:
    register()
    assert fsspec.get_filesystem_class("s3torch") is S3TorchFileSystem
    assert fsspec.get_filesystem_class("s3") is not S3TorchFileSystem
    register(overwrite_s3=True)
    assert fsspec.get_filesystem_class("s3") is S3TorchFileSystem
    assert fsspec.get_filesystem_class("s3a") is S3TorchFileSystem
    with pytest.raises(TypeError, match="overwrite_s3 must be a bool"):
        register(overwrite_s3="yes")  # type: ignore[arg-type]


def test_s3_urls_once_registered(fsspec_registry: Any, s3_env: Any, tree: str) -> None:
    register(overwrite_s3=True)
    fs, path = fsspec.core.url_to_fs(f"s3://{tree}/dir/a.bin")
    assert isinstance(fs, S3TorchFileSystem)
    assert path == f"{tree}/dir/a.bin"
    with fsspec.open(f"s3://{tree}/top.txt", "rb") as f:
        assert f.read() == b"top"


def test_without_fsspec_the_import_says_what_to_install() -> None:
    import subprocess
    import sys

    code = "import sys; sys.modules['fsspec'] = None; import s3torch.fsspec"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "pip install s3torch[fsspec]" in done.stderr
