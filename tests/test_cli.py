"""Tests of the ``s3torch`` command line (python/s3torch/cli/).

Most tests call ``main(argv)`` in this process, against the session's S3 server (its address
and credentials in the environment, from the ``s3_env`` fixture); a few run
``python -m s3torch`` as a subprocess, end to end.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import s3torch
from s3torch.cli import bench as bench_command
from s3torch.cli import ls as ls_command
from s3torch.cli import main
from s3torch.cli import rm as rm_command
from s3torch.cli._common import in_option_names, is_selected, size_argument
from s3torch.cli._jobs import Cancelled, JobPool
from s3torch.cli._progress import Progress, wants_progress
from support.server import put

if TYPE_CHECKING:
    from conftest import ServerInfo

PYTHON_DIR = str(Path(s3torch.__file__).resolve().parent.parent)
# Names that must survive the trip to S3 and back unchanged.
ODD_NAMES = ["plain.txt", "with space.bin", "pct%41+plus.dat", "ünïcødé-数据.txt"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], s3_env: ServerInfo) -> Cli:
    """``cli(*argv)`` runs ``s3torch *argv`` against the test server (the AWS variables point
    at it) and returns the exit status, stdout and stderr."""
    return lambda *argv: run_cli(capsys, *argv)


def get(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object_stream(bucket, key).read())


def all_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    return [info.key for page in client.list_objects(bucket, prefix) for info in page.object_info]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative path (with "/"), and its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def cli_env(server: ServerInfo) -> dict[str, str]:
    env = server.environment()
    env["PYTHONPATH"] = PYTHON_DIR
    return env


# -- arguments, help, exit codes ---------------------------------------------


@pytest.mark.parametrize("command", [[], ["ls"], ["cp"], ["rm"], ["bench"], ["server"]])
def test_help_of_every_command_exits_0_with_examples(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("usage: s3torch")
    assert "examples:" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert (code, out.strip()) == (0, f"s3torch {s3torch.__version__}")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["ls", "not-a-uri"],
        ["ls", "s3://x"],  # bucket name too short
        ["ls", "s3://bucket", "--no-such-option"],
        ["cp", "a", "b"],  # neither side on S3
        ["cp", "-", "s3://bucket/k", "--recursive"],
        ["cp", "a", "s3://bucket/k", "--concurrency", "0"],
        ["cp", "-", "s3://bucket/k", "--exclude", "*"],
        ["cp", "a", "s3://bucket/k", "--include"],  # a filter needs its pattern
        ["rm"],
        ["rm", "./local-file"],
        ["rm", "s3://bucket/k", "--concurrency", "0"],
        ["bench", "s3://bucket", "--size", "lots"],
        ["server", "--bucket", "Not/A/Bucket"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert "usage: s3torch" in err
    assert "error:" in err
    assert out == ""


def test_sizes_take_binary_and_decimal_units() -> None:
    assert size_argument("4096") == 4096
    assert size_argument("64KiB") == 64 * 1024
    assert size_argument("8M") == 8 * 1024 * 1024
    assert size_argument("1.5GiB") == 3 * 1024**3 // 2
    assert size_argument("10MB") == 10_000_000


def test_an_exception_from_a_command_is_one_line_without_traceback_unless_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(args: Any) -> int:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/no/such/file")

    monkeypatch.setattr(ls_command, "run", failing)
    code, _, err = run_cli(capsys, "ls", "s3://bucket")
    assert code == 1
    assert err == "s3torch: error: No such file or directory: '/no/such/file'\n"
    code, _, err = run_cli(capsys, "ls", "s3://bucket", "--debug")
    assert code == 1
    assert "Traceback" in err and err.endswith("'/no/such/file'\n")


def test_a_bad_connection_setting_fails_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "ls", "s3://bucket", "--max-attempts", "1000")
    assert code == 1
    assert err.startswith("s3torch: error: --max-attempts=1000 is out of range")


def test_ctrl_c_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(ls_command, "run", interrupted)
    code, _, err = run_cli(capsys, "ls", "s3://bucket")
    assert code == 130
    assert err == "s3torch: error: interrupted\n"


def test_missing_bucket_exits_1_naming_it_in_one_line(s3_server: ServerInfo) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "s3torch", "ls", "s3://no-such-bucket-cli/x/"],
        env=cli_env(s3_server),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("s3torch: error: ")
    assert "no-such-bucket-cli" in lines[0]


# -- ls -----------------------------------------------------------------------


@pytest.fixture
def listed_bucket(s3_env: ServerInfo, bucket: str, client: Any) -> str:
    for key, size in [
        ("top.txt", 10),
        ("dir/a.txt", 100),
        ("dir/sub/b.txt", 1000),
        ("dir b/c.txt", 2048),
        ("dirt.txt", 1),
    ]:
        put(client, bucket, key, b"x" * size)
    return bucket


def listing(out: str) -> list[tuple[str, str]]:
    """``ls`` lines as (size or PRE, name)."""
    rows = []
    for line in out.splitlines():
        if line.lstrip().startswith("PRE "):
            rows.append(("PRE", line.split("PRE ", 1)[1]))
        elif line.strip():
            date, clock, size, name = line.split(None, 3)
            assert len(date) == 10 and len(clock) == 8
            rows.append((size, name))
    return rows


def test_ls_shows_one_level_with_prefixes_in_key_order(
    capsys: pytest.CaptureFixture[str], listed_bucket: str
) -> None:
    code, out, err = run_cli(capsys, "ls", f"s3://{listed_bucket}")
    assert (code, err) == (0, "")
    assert listing(out) == [
        ("PRE", "dir b/"),
        ("PRE", "dir/"),
        ("1", "dirt.txt"),
        ("10", "top.txt"),
    ]
    code, out, _ = run_cli(capsys, "ls", f"s3://{listed_bucket}/dir/")
    assert listing(out) == [("100", "a.txt"), ("PRE", "sub/")]
    # A prefix that is not a folder: names stay relative to the folder it is in.
    code, out, _ = run_cli(capsys, "ls", f"s3://{listed_bucket}/dir/s")
    assert listing(out) == [("PRE", "sub/")]


def test_ls_recursive_lists_every_key_and_summarizes(
    capsys: pytest.CaptureFixture[str], listed_bucket: str
) -> None:
    code, out, _ = run_cli(capsys, "ls", "-r", "--summarize", f"s3://{listed_bucket}/dir")
    assert code == 0
    body, summary = out.split("\n\n")
    assert listing(body) == [
        ("2048", "dir b/c.txt"),
        ("100", "dir/a.txt"),
        ("1000", "dir/sub/b.txt"),
        ("1", "dirt.txt"),
    ]
    assert summary.split("\n")[:2] == ["Total objects: 4", "   Total size: 3149 bytes"]


def test_ls_human_readable_sizes(capsys: pytest.CaptureFixture[str], listed_bucket: str) -> None:
    code, out, _ = run_cli(capsys, "ls", "-rH", "--summarize", f"s3://{listed_bucket}/dir b/")
    assert code == 0
    assert "2.0 KiB dir b/c.txt" in out
    assert out.endswith("Total size: 2.0 KiB\n")


def test_ls_of_a_prefix_with_nothing_under_it_fails(
    capsys: pytest.CaptureFixture[str], listed_bucket: str
) -> None:
    code, out, err = run_cli(capsys, "ls", f"s3://{listed_bucket}/nothing-here/")
    assert (code, out) == (1, "")
    assert err == f"s3torch: error: nothing found under s3://{listed_bucket}/nothing-here/\n"


def test_ls_of_an_empty_bucket_prints_nothing(cli: Cli, bucket: str) -> None:
    assert cli("ls", f"s3://{bucket}") == (0, "", "")


# -- cp -----------------------------------------------------------------------


def test_cp_a_file_up_and_down_byte_exact_with_odd_names(
    cli: Cli,
    bucket: str,
    client: Any,
    tmp_path: Path,
) -> None:
    for index, name in enumerate(ODD_NAMES):
        source = tmp_path / "up" / name
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(os.urandom(1000 + index))
        # A destination ending in "/" is a folder: the file's name is added.
        code, out, err = cli("cp", str(source), f"s3://{bucket}/in/")
        assert (code, err) == (0, ""), err
        assert f"upload: {source} to s3://{bucket}/in/{name}" in out
        assert "Copied 1 file" in out and "MiB/s" in out
        assert get(client, bucket, f"in/{name}") == source.read_bytes()
        # Into an existing folder, then to an explicit file name.
        down = tmp_path / "down"
        down.mkdir(exist_ok=True)
        assert cli("cp", f"s3://{bucket}/in/{name}", str(down))[0] == 0
        assert (down / name).read_bytes() == source.read_bytes()
        renamed = tmp_path / "renamed.bin"
        assert cli("cp", f"s3://{bucket}/in/{name}", str(renamed))[0] == 0
        assert renamed.read_bytes() == source.read_bytes()
    assert sorted(os.listdir(tmp_path / "down")) == sorted(ODD_NAMES)  # no temporary files


def test_cp_a_nested_folder_both_ways(
    cli: Cli,
    bucket: str,
    client: Any,
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    files = {
        "top.bin": os.urandom(9 * 1024 * 1024 + 7),  # more than one part
        "empty": b"",
        "a/b/c/deep.txt": b"deep",
    }
    files.update({f"odd dir %+/{name}": name.encode() * 3 for name in ODD_NAMES})
    for relative, data in files.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    code, out, err = cli("cp", "-r", str(source), f"s3://{bucket}/copy", "-j", "4")
    assert (code, err) == (0, ""), err
    assert sorted(all_keys(client, bucket)) == sorted(f"copy/{name}" for name in files)
    assert out.count("upload: ") == len(files)
    assert f"Copied {len(files)} files" in out

    target = tmp_path / "target"
    code, out, err = cli("cp", "-r", f"s3://{bucket}/copy/", str(target))
    assert (code, err) == (0, ""), err
    assert tree(target) == files
    assert out.count("download: ") == len(files)

    # S3 to S3, server-side.
    code, _, err = cli("cp", "-r", f"s3://{bucket}/copy", f"s3://{bucket}/again/")
    assert (code, err) == (0, ""), err
    assert sorted(all_keys(client, bucket, "again/")) == sorted(f"again/{n}" for n in files)
    assert get(client, bucket, "again/odd dir %+/with space.bin") == b"with space.bin" * 3


def test_cp_quiet_prints_nothing(cli: Cli, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"1")
    assert cli("cp", "-q", str(tmp_path / "f"), f"s3://{bucket}/f") == (0, "", "")


def test_cp_from_a_missing_key_fails_naming_it_and_leaves_nothing(
    cli: Cli, bucket: str, tmp_path: Path
) -> None:
    destination = tmp_path / "out"
    destination.mkdir()
    code, out, err = cli("cp", f"s3://{bucket}/no/such key", str(destination))
    assert (code, out) == (1, "")
    assert err.startswith("s3torch: error: ") and err.count("\n") == 1
    assert f"s3://{bucket}/no/such key" in err
    assert os.listdir(destination) == []
    # Same for a prefix with nothing under it, and for a bucket that does not exist.
    code, _, err = cli("cp", "-r", f"s3://{bucket}/nothing/", str(destination))
    assert code == 1 and f"s3://{bucket}/nothing/" in err
    code, _, err = cli("cp", "s3://no-such-bucket-cli/k", str(destination))
    assert code == 1 and "no-such-bucket-cli" in err
    assert os.listdir(destination) == []


def test_cp_a_download_that_fails_midway_leaves_no_partial_file(
    cli: Cli,
    bucket: str,
    client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(client, bucket, "object", b"z" * 1000)
    (tmp_path / "object").write_bytes(b"previous")

    def disk_full(self: Progress, nbytes: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Progress, "add", disk_full)
    code, _, err = cli("cp", f"s3://{bucket}/object", str(tmp_path))
    assert code == 1
    assert "No space left on device" in err and f"s3://{bucket}/object" in err
    assert os.listdir(tmp_path) == ["object"]
    assert (tmp_path / "object").read_bytes() == b"previous"


def test_cp_keeps_going_after_one_failure_and_exits_1(
    cli: Cli,
    bucket: str,
    client: Any,
    tmp_path: Path,
) -> None:
    for key in ("p/a.txt", "p/blocked/b.txt", "p/c.txt"):
        put(client, bucket, key, key.encode())
    (tmp_path / "blocked").write_bytes(b"a file where a folder is needed")
    code, out, err = cli("cp", "-r", f"s3://{bucket}/p", str(tmp_path))
    assert code == 1
    assert "blocked" in err and err.count("s3torch: error:") == 1
    assert "Copied 2 files" in out and "1 failed" in out
    assert (tmp_path / "a.txt").read_bytes() == b"p/a.txt"
    assert (tmp_path / "c.txt").read_bytes() == b"p/c.txt"


def test_cp_local_mistakes_fail_with_the_path(cli: Cli, bucket: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    code, _, err = cli("cp", str(missing), f"s3://{bucket}/k")
    assert code == 1 and str(missing) in err
    code, _, err = cli("cp", str(tmp_path), f"s3://{bucket}/k")
    assert code == 1 and "--recursive" in err
    code, _, err = cli("cp", f"s3://{bucket}/prefix/", str(tmp_path))
    assert code == 1 and "--recursive" in err


def test_cp_stdin_and_stdout(
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    s3_env: ServerInfo,
    bucket: str,
    client: Any,
) -> None:
    data = os.urandom(300_000)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["cp", "-q", "-", f"s3://{bucket}/from-stdin"]) == 0
    assert get(client, bucket, "from-stdin") == data
    capsysbinary.readouterr()
    assert main(["cp", f"s3://{bucket}/from-stdin", "-"]) == 0
    assert capsysbinary.readouterr().out == data


# -- bench --------------------------------------------------------------------

TINY_BENCH = ["--size", "1MiB", "--count", "2", "--small-size", "100", "--small-count", "20"]


@pytest.fixture
def run_bench(
    capsys: pytest.CaptureFixture[str], s3_env: ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``s3torch bench ARGS`` with tiny objects; it returns the exit code, stdout and stderr."""
    # A LIST phase of the default length would make these tests slow for nothing.
    monkeypatch.setattr(bench_command, "_LIST_SECONDS", 0.05)
    return lambda *argv: run_cli(capsys, "bench", *argv, *TINY_BENCH)


def test_bench_reports_json_and_leaves_nothing_behind(
    run_bench: Callable[..., tuple[int, str, str]], bucket: str, client: Any
) -> None:
    code, out, err = run_bench(f"s3://{bucket}/scratch", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["uri"].startswith(f"s3://{bucket}/scratch/s3torch-bench-")
    rows = {row["operation"]: row for row in report["results"]}
    assert list(rows) == ["PUT large", "GET large", "PUT small", "GET small", "LIST", "DELETE"]
    assert rows["GET large"]["bytes"] == 2 * 1024 * 1024
    assert rows["GET large"]["unit"] == "MiB/s"
    assert rows["GET small"]["objects"] == 20 and rows["GET small"]["unit"] == "objects/s"
    assert rows["LIST"]["objects"] % 22 == 0
    assert all(row["rate"] > 0 for row in rows.values())
    assert all_keys(client, bucket) == []
    # Not even an empty "folder" stays listed.
    pages = list(client.list_objects(bucket, "scratch/", "/"))
    assert [p for page in pages for p in page.common_prefixes] == []


def test_bench_prints_a_table_and_keep_keeps_the_objects(
    run_bench: Callable[..., tuple[int, str, str]], bucket: str, client: Any
) -> None:
    code, out, err = run_bench(f"s3://{bucket}", "--keep")
    assert code == 0, err
    header, *rows = out.split("\n\n")[0].splitlines()
    assert header.split() == ["operation", "objects", "object", "size", "total", "seconds", "rate"]
    # No DELETE row with --keep.
    assert [row.split()[0] for row in rows] == ["PUT", "GET", "PUT", "GET", "LIST"]
    assert [row.split()[1] for row in rows[:4]] == ["large", "large", "small", "small"]
    assert "kept under" in out
    assert len(all_keys(client, bucket)) == 22


def test_bench_cleans_up_after_a_failure(
    run_bench: Callable[..., tuple[int, str, str]],
    bucket: str,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_get(self: Any, pool: JobPool, key: str, expected: int) -> int:
        raise OSError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(bench_command._Bench, "_get", broken_get)
    code, _, err = run_bench(f"s3://{bucket}")
    assert code == 1
    assert "Connection reset by peer" in err
    assert all_keys(client, bucket) == []


# -- server -------------------------------------------------------------------


def test_server_prints_a_usable_endpoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "server.env"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PYTHONPATH"] = PYTHON_DIR
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s3torch",
            "server",
            "--bucket",
            "cli-data",
            "--ready-file",
            str(ready),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in ready.read_text().splitlines()
        )
        assert exports["S3TORCH_SERVER_PID"] == str(process.pid)
        client = s3torch.S3Client(
            exports["AWS_REGION"],
            endpoint=exports["AWS_ENDPOINT_URL"],
            s3client_config=s3torch.S3ClientConfig(
                access_key_id=exports["AWS_ACCESS_KEY_ID"],
                secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
                max_attempts=1,
            ),
        )
        put(client, "cli-data", "hello.txt", b"hello")
        assert get(client, "cli-data", "hello.txt") == b"hello"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == "".join(f"export {name}={value}\n" for name, value in exports.items())
    assert exports["AWS_ENDPOINT_URL"] in err and "server stopped" in err
    assert not ready.exists()
    with pytest.raises(OSError):
        get(client, "cli-data", "hello.txt")


# -- pieces -------------------------------------------------------------------


def test_progress_is_drawn_only_on_a_terminal() -> None:
    assert not wants_progress(False, io.StringIO())
    screen = io.StringIO()
    progress = Progress(True, screen)
    progress.begin("GET", total_bytes=4096, total_items=2)
    progress.add(2048)
    progress.item_done()
    progress.render(force=True)
    drawn = screen.getvalue()
    assert drawn.startswith("\rGET  [") and "50%" in drawn and "1/2 files" in drawn
    progress.print("a line", io.StringIO())
    # Erased, then drawn again below the line.
    assert screen.getvalue()[len(drawn) :].startswith("\r\x1b[K\rGET  [")
    progress.clear()
    assert screen.getvalue().endswith("\r\x1b[K")


def test_job_pool_cancels_the_rest_when_interrupted() -> None:
    started: list[int] = []
    stopped = threading.Event()
    pool = JobPool(2, Progress(False))

    def work(item: int) -> int:
        started.append(item)
        if item == 0:
            return item
        while True:  # a long transfer, checking between chunks
            try:
                pool.check()
            except Cancelled:
                stopped.set()
                raise
            time.sleep(0.01)

    def on_result(item: int, result: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pool.run(work, range(100), on_result, lambda item, error: None)
    assert stopped.is_set()
    assert len(started) < 10


# -- ls without a URI: the buckets -------------------------------------------


def listed_buckets(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    """The bucket names from ``s3torch ls ARGV`` (no URI), which must succeed quietly; checks
    the date in front of each."""
    code, out, err = run_cli(capsys, "ls", *argv)
    assert (code, err) == (0, "")
    names = []
    for line in out.splitlines():
        date, clock, name = line.split(" ", 2)
        assert len(date) == 10 and len(clock) == 8, line
        names.append(name)
    return names


def test_ls_without_a_uri_lists_the_buckets(
    capsys: pytest.CaptureFixture[str], s3_env: ServerInfo, bucket: str
) -> None:
    assert bucket in listed_buckets(capsys)


def test_ls_buckets_takes_credentials_as_the_library_does(
    capsys: pytest.CaptureFixture[str],
    s3_env: ServerInfo,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[wrong]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n"
        f"[lister]\naws_access_key_id = {s3_env.access_key}\n"
        f"aws_secret_access_key = {s3_env.secret_key}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    # Keys in the environment (right ones here) win over a profile named by AWS_PROFILE...
    monkeypatch.setenv("AWS_PROFILE", "wrong")
    assert bucket in listed_buckets(capsys)
    # ...and a profile named with --profile wins over them: the server refuses its keys.
    code, out, err = run_cli(capsys, "ls", "--profile", "wrong")
    assert (code, out) == (1, "")
    assert err.startswith(f"s3torch: error: ListBuckets on {s3_env.endpoint} failed: HTTP 403")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "lister")
    assert bucket in listed_buckets(capsys)


def test_ls_buckets_says_what_to_do_about_credentials_it_cannot_read(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile sso]\nsso_session = corp\nsso_account_id = 1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, out, err = cli("ls", "--profile", "sso")
    assert (code, out) == (1, "")
    assert "through sso_session" in err and "AWS_ACCESS_KEY_ID" in err
    code, out, err = cli("ls", "--profile", "nobody")
    assert (code, out) == (1, "")
    assert "no credentials found" in err and "--no-sign-request" in err


def test_ls_buckets_on_a_closed_port_names_the_endpoint(cli: Cli) -> None:
    code, out, err = cli("ls", "--endpoint-url", "http://127.0.0.1:1")
    assert (code, out) == (1, "")
    assert err.startswith("s3torch: error: could not connect to http://127.0.0.1:1")


# -- rm -----------------------------------------------------------------------


class _Terminal(io.StringIO):
    """stdin as a terminal on which the user types ``answer``."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def rm_bucket(s3_env: ServerInfo, bucket: str, client: Any) -> str:
    for key in ("logs/a.log", "logs/a.tmp", "logs/sub/b.tmp", "logs/sub/c.log", "logs-old/d.log"):
        put(client, bucket, key, key.encode())
    return bucket


def test_rm_deletes_one_object_and_fails_for_a_missing_one(
    capsys: pytest.CaptureFixture[str], rm_bucket: str, client: Any
) -> None:
    code, out, err = run_cli(capsys, "rm", f"s3://{rm_bucket}/logs/a.log")
    assert (code, err) == (0, "")
    assert out == f"delete: s3://{rm_bucket}/logs/a.log\nDeleted 1 object\n"
    assert "logs/a.log" not in all_keys(client, rm_bucket)
    code, out, err = run_cli(capsys, "rm", f"s3://{rm_bucket}/logs/a.log")
    assert (code, out) == (1, "")
    assert f"s3://{rm_bucket}/logs/a.log" in err and err.count("\n") == 1


def test_rm_of_a_prefix_needs_recursive(
    capsys: pytest.CaptureFixture[str], rm_bucket: str, client: Any
) -> None:
    code, _, err = run_cli(capsys, "rm", f"s3://{rm_bucket}/logs/")
    assert code == 1 and "--recursive" in err
    assert len(all_keys(client, rm_bucket)) == 5


def test_rm_recursive_with_yes_deletes_the_folder_only(
    capsys: pytest.CaptureFixture[str], rm_bucket: str, client: Any
) -> None:
    # "logs" is the folder logs/: logs-old/ stays.
    code, out, err = run_cli(capsys, "rm", "-r", "--yes", f"s3://{rm_bucket}/logs")
    assert (code, err) == (0, ""), err
    assert out.count("delete: ") == 4 and out.endswith("Deleted 4 objects\n")
    assert all_keys(client, rm_bucket) == ["logs-old/d.log"]
    code, _, err = run_cli(capsys, "rm", "-r", "--yes", f"s3://{rm_bucket}/logs")
    assert code == 1 and f"nothing found under s3://{rm_bucket}/logs/" in err


def test_rm_refuses_many_objects_without_a_terminal_or_yes(
    capsys: pytest.CaptureFixture[str],
    rm_bucket: str,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped: not a terminal
    code, out, err = run_cli(capsys, "rm", "-r", f"s3://{rm_bucket}/logs/")
    assert (code, out) == (1, "")
    assert "refusing to delete 4 objects" in err and "--yes" in err
    assert len(all_keys(client, rm_bucket)) == 5


def test_rm_asks_on_a_terminal_and_deletes_only_on_yes(
    capsys: pytest.CaptureFixture[str],
    rm_bucket: str,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal("\n"))  # Enter: the default, no
    code, out, err = run_cli(capsys, "rm", "-r", f"s3://{rm_bucket}/logs/sub")
    assert (code, out) == (1, "")
    assert err.startswith(f"delete 2 objects (28 B) under s3://{rm_bucket}/logs/sub/? [y/N] ")
    assert "nothing deleted" in err
    assert len(all_keys(client, rm_bucket)) == 5
    monkeypatch.setattr(sys, "stdin", _Terminal("yes\n"))
    code, out, _ = run_cli(capsys, "rm", "-r", f"s3://{rm_bucket}/logs/sub")
    assert code == 0 and out.endswith("Deleted 2 objects\n")
    assert all_keys(client, rm_bucket, "logs/sub/") == []


def test_rm_one_object_does_not_ask(
    capsys: pytest.CaptureFixture[str],
    rm_bucket: str,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run_cli(capsys, "rm", "-r", f"s3://{rm_bucket}/logs-old/")
    assert (code, err) == (0, "")
    assert "logs-old/d.log" not in all_keys(client, rm_bucket)


def test_rm_dryrun_lists_and_deletes_nothing(
    capsys: pytest.CaptureFixture[str], rm_bucket: str, client: Any
) -> None:
    code, out, err = run_cli(capsys, "rm", "-r", "--dryrun", f"s3://{rm_bucket}/logs/")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"(dryrun) delete: s3://{rm_bucket}/logs/{name}"
        for name in ("a.log", "a.tmp", "sub/b.tmp", "sub/c.log")
    ]
    assert len(all_keys(client, rm_bucket)) == 5


def test_rm_filters_apply_in_order_relative_to_the_prefix(
    capsys: pytest.CaptureFixture[str], rm_bucket: str, client: Any
) -> None:
    code, out, err = run_cli(
        capsys,
        "rm",
        "-r",
        "-y",
        f"s3://{rm_bucket}/logs",
        "--exclude",
        "*",
        "--include",
        "*.tmp",
        "--exclude",
        "sub/*",
    )
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0] == f"delete: s3://{rm_bucket}/logs/a.tmp"
    assert sorted(all_keys(client, rm_bucket)) == [
        "logs-old/d.log",
        "logs/a.log",
        "logs/sub/b.tmp",
        "logs/sub/c.log",
    ]
    # Everything excluded: nothing to do, and that is not an error.
    code, out, _ = run_cli(capsys, "rm", "-r", f"s3://{rm_bucket}/logs/", "--exclude", "*")
    assert (code, out) == (0, "Deleted 0 objects; 3 excluded by the filters\n")


def test_rm_reports_a_failed_deletion_and_keeps_going(
    capsys: pytest.CaptureFixture[str],
    rm_bucket: str,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_delete = s3torch.S3Client.delete_object

    def delete(self: Any, bucket: str, key: str) -> None:
        if key == "logs/a.tmp":
            raise PermissionError(errno.EACCES, "Permission denied")
        real_delete(self, bucket, key)

    monkeypatch.setattr(s3torch.S3Client, "delete_object", delete)
    code, out, err = run_cli(capsys, "rm", "-r", "-y", f"s3://{rm_bucket}/logs/")
    assert code == 1
    assert (
        err == f"s3torch: error: delete of s3://{rm_bucket}/logs/a.tmp failed: Permission denied\n"
    )
    assert out.endswith("Deleted 3 objects; 1 failed\n")
    assert sorted(all_keys(client, rm_bucket)) == ["logs-old/d.log", "logs/a.tmp"]
    assert rm_command.DEFAULT_CONCURRENCY > 1


# -- --include / --exclude on cp ---------------------------------------------


def test_filters_last_match_wins_and_star_crosses_folders() -> None:
    assert is_selected("a/b.txt", [])
    assert not is_selected("a/b.txt", [(False, "*.txt")])
    assert is_selected("a/b.txt", [(False, "*"), (True, "*.txt")])
    assert not is_selected("a/b.txt", [(True, "*.txt"), (False, "*")])
    assert not is_selected("a/b.txt", [(False, "a/*")])
    assert is_selected("b.txt", [(False, "a/*")])
    assert not is_selected("x1.bin", [(False, "x?.bin")])
    assert is_selected("X1.bin", [(False, "x?.bin")])  # case matters, as in S3 keys


def test_cp_filters_select_files_both_ways(
    cli: Cli,
    bucket: str,
    client: Any,
    tmp_path: Path,
) -> None:
    source = tmp_path / "run"
    for relative in ("model.pt", "log.txt", "ckpt/1.pt", "ckpt/1.tmp", "cache/x.pt"):
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(relative.encode())
    filters = ["--exclude", "*", "--include", "*.pt", "--exclude", "cache/*"]
    code, out, err = cli("cp", "-r", str(source), f"s3://{bucket}/run", *filters)
    assert (code, err) == (0, ""), err
    assert sorted(all_keys(client, bucket)) == ["run/ckpt/1.pt", "run/model.pt"]
    assert "Copied 2 files" in out and "3 excluded by the filters" in out

    target = tmp_path / "back"
    code, _, err = cli("cp", "-r", f"s3://{bucket}/run/", str(target), "--exclude", "ckpt/*")
    assert (code, err) == (0, ""), err
    assert tree(target) == {"model.pt": b"model.pt"}

    # One file is matched by its name.
    code, out, _ = cli("cp", str(source / "log.txt"), f"s3://{bucket}/", "--exclude", "*.txt")
    assert code == 0 and "1 excluded" in out
    assert "log.txt" not in all_keys(client, bucket)


# -- pipes and hints ------------------------------------------------------------


def test_a_closed_pipe_on_stdout_ends_quietly_with_status_0(
    s3_server: ServerInfo, bucket: str, client: Any
) -> None:
    for index in range(3):
        put(client, bucket, f"k{index}", b"x")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written, as after `| head`
    try:
        result = subprocess.run(
            [sys.executable, "-m", "s3torch", "ls", f"s3://{bucket}"],
            env=cli_env(s3_server),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_hints_name_the_cli_options_not_the_library_arguments(
    s3_server: ServerInfo, bucket: str, tmp_path: Path
) -> None:
    env = cli_env(s3_server)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run(
        [sys.executable, "-m", "s3torch", "ls", f"s3://{bucket}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "credentials" in result.stderr and "--no-sign-request" in result.stderr
    assert "unsigned=True" not in result.stderr


def test_setting_names_in_messages_become_option_names() -> None:
    assert in_option_names("or use unsigned=True for public buckets") == (
        "or use --no-sign-request for public buckets"
    )
    assert in_option_names("S3ClientConfig.ca_bundle: no such file") == "--ca-bundle: no such file"
    # Words that merely contain a setting's name stay as they are.
    assert in_option_names("an unsigned request; my_max_attempts") == (
        "an unsigned request; my_max_attempts"
    )


# The answers of _PagedBuckets by continuation token: the buckets, then what follows them.
_BUCKET_PAGES = {
    "": (
        "<Bucket><Name>first</Name><CreationDate>2024-05-01T12:34:56.000Z</CreationDate></Bucket>",
        "<ContinuationToken>next page</ContinuationToken>",
    ),
    "next page": (
        "<Bucket><Name>second</Name><CreationDate>2024-05-02T00:00:00Z</CreationDate></Bucket>",
        "",
    ),
}


class _PagedBuckets:
    """A ListBuckets endpoint that answers 503 once, then in two pages, as AWS S3 can.

    SeaweedFS returns every bucket at once and never fails, so a stand-in shows these two
    behaviours. It records the query of each request.
    """

    def __init__(self) -> None:
        import http.server
        import urllib.parse

        self.queries: list[str] = []
        pages, queries = _BUCKET_PAGES, self.queries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.urlsplit(self.path).query
                queries.append(query)
                token = urllib.parse.parse_qs(query).get("continuation-token", [""])[0]
                if len(queries) == 1:
                    self._answer(503, b"<Error><Code>SlowDown</Code></Error>")
                    return
                buckets, more = pages[token]
                body = (
                    '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    f"<Buckets>{buckets}</Buckets>{more}</ListAllMyBucketsResult>"
                )
                self._answer(200, body.encode())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_ls_buckets_retries_a_503_and_follows_the_pages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    server = _PagedBuckets()
    try:
        code, out, err = run_cli(capsys, "ls", "--endpoint-url", server.endpoint)
    finally:
        server.close()
        monkeypatch.undo()
        time.tzset()
    assert (code, err) == (0, "")
    assert out == "2024-05-01 12:34:56 first\n2024-05-02 00:00:00 second\n"
    assert server.queries == ["", "", "continuation-token=next%20page"]


def test_a_connection_failure_names_the_endpoint_tried(cli: Cli) -> None:
    code, out, err = cli(
        "ls", "s3://bucket", "--endpoint-url", "http://127.0.0.1:1", "--max-attempts", "2"
    )
    assert (code, out) == (1, "")
    assert err.startswith("s3torch: error: ") and err.count("\n") == 1
    assert "http://127.0.0.1:1" in err
