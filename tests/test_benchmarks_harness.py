"""The benchmark harness's own logic: medians, targets, tables, data, and the delay proxy.

These run without an S3 server (the proxy is tried against a tiny echo server) and take a few
seconds; the benchmarks themselves are run by ``make bench``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import socket
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from harness import report
from harness.datagen import PatternStream, is_pattern, object_bytes, tar_shard
from harness.measure import median, median_run, process_cpu_seconds
from harness.proxy import DelayProxy
from harness.spec import FULL, WORKLOADS, WORKLOADS_BY_ID, Target
from support.loopback import LoopbackServer

CPU = "client_cpu_s_per_gib"


def test_median_skips_missing_values() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0]) == 2.5
    assert median([None, None]) is None


def test_median_run_takes_each_numeric_field_separately() -> None:
    runs = [
        {"rate": 10.0, "wall_s": 3.0, "status": "ok", "first_key_s": None},
        {"rate": 30.0, "wall_s": 1.0, "status": "ok", "first_key_s": 0.5},
        {"rate": 20.0, "wall_s": 2.0, "status": "ok", "flag": True},
    ]
    medians = median_run(runs)
    assert medians["rate"] == 20.0
    assert medians["wall_s"] == 2.0
    assert medians["first_key_s"] == 0.5
    assert "status" not in medians and "flag" not in medians


def test_cpu_of_a_missing_process_is_none_and_of_this_one_is_a_number() -> None:
    assert process_cpu_seconds(None) is None
    assert process_cpu_seconds(2**22 + 12345) is None
    import os

    own = process_cpu_seconds(os.getpid())
    assert own is not None and own >= 0


def _run(rate: float, **extra: float) -> dict[str, object]:
    return {"status": "ok", "rate": rate, "wall_s": 1.0, **extra}


def test_a_cell_is_the_median_of_its_passing_runs_and_says_how_many_failed() -> None:
    cell = report.summarize_cell([_run(1.0), _run(5.0), {"status": "error", "note": "boom"}])
    assert cell["status"] == "ok"
    assert cell["median"]["rate"] == 3.0
    assert cell["note"] == "1 of 3 runs failed"


def test_a_cell_of_missing_apis_is_not_applicable_and_all_failures_are_an_error() -> None:
    missing = report.summarize_cell([{"status": "n/a", "note": "not implemented: X"}])
    assert missing == {"status": "n/a", "note": "not implemented: X", "median": {}}
    failed = report.summarize_cell([{"status": "error", "note": "a"}, {"status": "error"}])
    assert failed["status"] == "error"


@pytest.mark.parametrize(
    ("target", "ours", "theirs", "met"),
    [
        (Target("ratio", 2.5, "x"), {"rate": 250.0}, {"rate": 100.0}, True),
        (Target("ratio", 2.5, "x"), {"rate": 249.0}, {"rate": 100.0}, False),
        (
            Target("cpu_ratio", 0.7, "x"),
            {CPU: 0.7},
            {CPU: 1},
            True,
        ),
        (
            Target("cpu_ratio", 0.7, "x"),
            {CPU: 0.8},
            {CPU: 1},
            False,
        ),
        (Target("max_rss_growth_mib", 256), {"rss_growth_mib": 200.0}, None, True),
        (Target("max_rss_growth_mib", 256), {"rss_growth_mib": 300.0}, None, False),
        (Target("first_key", 2.0), {"first_key_s": 0.015, "page_s": 0.01}, None, True),
        (Target("first_key", 2.0), {"first_key_s": 0.02, "page_s": 0.01}, None, False),
        (Target("ratio", 2.5, "x"), None, {"rate": 100.0}, None),
        (Target("ratio", 2.5, "x"), {"rate": 100.0}, None, None),
    ],
)
def test_targets_are_judged_on_the_right_side_of_the_goal(
    target: Target, ours: dict | None, theirs: dict | None, met: bool | None
) -> None:
    assert report.judge(target, ours, theirs)["met"] is met


def _document() -> dict:
    runs = {
        ("localbucket", "W1", "s3torch"): [_run(300.0), _run(320.0), _run(310.0)],
        ("localbucket", "W1", "s3torchconnector"): [_run(100.0), _run(110.0), _run(90.0)],
        ("localbucket", "W1", "boto3"): [_run(50.0)],
        ("localbucket", "W1", "awscrt"): [_run(400.0)],
        ("localbucket", "W4", "s3torch"): [{"status": "n/a", "note": "not implemented: W"}],
        ("localbucket", "W4", "s3torchconnector"): [_run(80.0, client_cpu_s_per_gib=1.0)],
    }
    meta = {"mode": "quick", "started": "now", "machine": "m", "runs": 3, "total_s": 60.0}
    servers = {"localbucket": {"version": "LocalBucket 1.2.1"}}
    skipped = [{"server": "seaweedfs", "workload": "W1", "why": "because"}]
    return report.build(meta, servers, runs, skipped)


def test_the_report_computes_ratios_against_the_same_runs_and_judges_targets() -> None:
    document = _document()
    verdicts = {(t["workload"], t["kind"], t["goal"]): t for t in document["targets"]}
    assert verdicts[("W1", "ratio", 2.5)]["value"] == pytest.approx(3.1)
    assert verdicts[("W1", "ratio", 2.5)]["met"] is True
    assert verdicts[("W1", "ratio", 0.8)]["value"] == pytest.approx(310 / 400)
    assert verdicts[("W1", "ratio", 0.8)]["met"] is False
    assert verdicts[("W4", "ratio", 1.0)]["met"] is None
    assert "not implemented" in verdicts[("W4", "ratio", 1.0)]["why_none"]


def test_the_markdown_shows_figures_ratios_missing_apis_and_what_was_skipped() -> None:
    text = report.markdown(_document())
    row = next(line for line in text.splitlines() if line.startswith("| W1 "))
    assert "| 310 | 100 | 50.0 | 400 |" in row
    assert "3.10\u00d7" in row and "**missed**" in row
    assert "n/a (not implemented)" in text
    assert "W1 on seaweedfs: because" in text


def test_the_chart_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "ratios.png"
    report.chart(_document(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_workload_has_targets_and_an_implementation_for_every_client() -> None:
    from harness.workloads import IMPLEMENTATIONS

    assert set(IMPLEMENTATIONS) == set(WORKLOADS_BY_ID)
    for workload in WORKLOADS:
        assert workload.targets, workload.id
        # A DCP load needs a DCP storage reader: only s3torch and the incumbent have one.
        expected = {"s3torch", "s3torchconnector"}
        if workload.id != "D1":
            expected |= {"boto3", "awscrt"}
        assert set(IMPLEMENTATIONS[workload.id]) == expected, workload.id


def test_the_peers_cover_every_workload_they_have_a_natural_way_to_do() -> None:
    from harness.workloads import implementations

    for workload in WORKLOADS:
        clients = set(implementations(workload.id))
        assert ({"obstore", "s3dlio"} <= clients) == (workload.id != "D1"), workload.id
        assert ("webdataset" in clients) == (workload.id == "W8")


def _one_run_report(runs: dict, servers: dict | None = None) -> dict:
    """The report of ``runs`` (one quick run a cell) on ``servers``, by default LocalBucket."""
    meta = {"mode": "quick", "started": "now", "machine": "m", "runs": 1, "total_s": 1.0}
    return report.build(meta, servers or {"localbucket": {}}, runs, [])


def test_the_best_peer_is_the_fastest_of_the_peers_and_never_awscrt_or_s3torch() -> None:
    runs = {
        ("localbucket", "W8", "s3torch"): [_run(150.0)],
        ("localbucket", "W8", "s3torchconnector"): [_run(100.0)],
        ("localbucket", "W8", "obstore"): [_run(140.0)],
        ("localbucket", "W8", "webdataset"): [{"status": "error", "note": "x"}],
        ("localbucket", "W8", "awscrt"): [_run(900.0)],
    }
    document = _one_run_report(runs)
    verdict = next(t for t in document["targets"] if t["target"].endswith("best peer"))
    assert verdict["against"] == "obstore"
    assert verdict["value"] == pytest.approx(150 / 140) and verdict["met"] is False
    row = next(line for line in report.markdown(document).splitlines() if line.startswith("| W8"))
    assert "| obstore | 1.07\u00d7 |" in row


def test_a_net_section_is_judged_by_its_own_targets_and_the_proxy_capacity() -> None:
    section = "localbucket --net s3"
    runs = {
        (section, "W3", "s3torch"): [_run(720.0, proxy_bulk_connections=18.0)],
        (section, "W3", "boto3"): [_run(48.0)],
        (section, "W3", "obstore"): [_run(49.0)],
    }
    net = {"rate_mib": 50.0, "first_byte_ms": 15.0, "delay_ms": 5.0, "added_rtt_ms": 26.0}
    document = _one_run_report(runs, {section: {"net": net}})
    verdicts = {t["target"]: t for t in document["targets"]}
    assert verdicts[">= 8x boto3"]["value"] == pytest.approx(15.0)
    capacity = next(v for k, v in verdicts.items() if "capacity" in k)
    assert capacity["value"] == pytest.approx(720 / (18 * 50)) and capacity["met"] is True
    assert not any("awscrt" in k for k in verdicts)  # the loopback targets are not applied
    assert "S3-shaped proxy: 50 MiB/s per connection" in report.markdown(document)


def test_cpu_per_unit_is_per_gib_for_bytes_and_per_item_otherwise() -> None:
    assert report.cpu_per_unit(WORKLOADS_BY_ID["W3"], {"client_cpu_s_per_gib": 0.5}) == 0.5
    per_item = report.cpu_per_unit(WORKLOADS_BY_ID["W1"], {"client_cpu_s": 2.0, "items": 1000})
    assert per_item == pytest.approx(2.0)
    assert report.cpu_per_unit(WORKLOADS_BY_ID["W1"], None) is None


def _runner() -> object:
    """benchmarks/run.py as a module (it is a script, not part of a package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    spec = importlib.util.spec_from_file_location("bench_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_s3_network_runs_the_issue_s_workloads_and_loopback_can_be_left_out() -> None:
    run = _runner()
    args = run.parse_args([])  # type: ignore[attr-defined]
    chosen, shaped, _ = run.plan(args)  # type: ignore[attr-defined]
    assert [w.id for w in shaped["localbucket"]] == ["W1", "W3", "W4", "W5", "D1"]
    assert [w.id for w in shaped["seaweedfs"]] == ["W6"]
    assert "W1n" in [w.id for w in chosen["localbucket"]]
    only_s3 = run.parse_args(["--net", "s3", "--only", "W3"])  # type: ignore[attr-defined]
    chosen, shaped, _ = run.plan(only_s3)  # type: ignore[attr-defined]
    assert chosen == {} and [w.id for w in shaped["localbucket"]] == ["W3"]
    with pytest.raises(SystemExit):
        run.parse_args(["--net", "s3", "--net-rate-mib", "0"])  # type: ignore[attr-defined]


def test_the_clients_that_save_alike_with_checksums_off_share_w4_s_runs() -> None:
    run = _runner()
    runs: dict = {
        ("localbucket", "W4", client): [_run(100.0), _run(110.0)]
        for client in ("s3torch", "s3torchconnector", "obstore", "awscrt")
    }
    clients = ["s3torch", "s3torchconnector", "obstore", "s3dlio", "awscrt"]
    shared = run.share_runs("localbucket", WORKLOADS_BY_ID["W4n"], clients, runs)  # type: ignore[attr-defined]
    # s3torch turns its checksums off and the baseline runs again; s3dlio had no W4 runs.
    assert shared == {"obstore", "awscrt"}
    assert [r["rate"] for r in runs[("localbucket", "W4n", "obstore")]] == [100.0, 110.0]
    assert ("localbucket", "W4n", "s3torch") not in runs
    assert run.share_runs("localbucket", WORKLOADS_BY_ID["W4"], clients, runs) == set()  # type: ignore[attr-defined]
    text = report.markdown(_one_run_report(runs))
    row = next(line for line in text.splitlines() if line.startswith("| W4n "))
    assert row.count("105\u00a7") == 2  # obstore and awscrt
    assert "\u00a7 W4n: the runs of W4" in text


class _Pages:
    """Stands in for RawS3.list_pages: numbered pages, counting those listed, failing on one."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages, self.fail_at, self.listed = pages, fail_at, 0

    def __call__(self, bucket: str, prefix: str) -> Iterator[list[tuple[str, int]]]:
        for page in range(self.pages):
            if page == self.fail_at:
                raise RuntimeError("listing failed")
            self.listed += 1
            yield [(f"{prefix}{page}-{i}", 1) for i in range(3)]


def _raw_listing(pages: _Pages) -> object:
    from harness.crt import RawS3

    raw = object.__new__(RawS3)  # no client: only the listing is used
    raw.list_pages = pages  # type: ignore[method-assign]
    return raw


def test_raw_awscrt_lists_ahead_in_order_and_stops_when_closed() -> None:
    raw = _raw_listing(_Pages(3))
    assert list(raw.keys_listed_ahead("b", "p")) == [  # type: ignore[attr-defined]
        f"p{page}-{i}" for page in range(3) for i in range(3)
    ]
    many = _Pages(1000)
    keys = _raw_listing(many).keys_listed_ahead("b", "p")  # type: ignore[attr-defined]
    assert next(keys) == "p0-0"
    keys.close()
    deadline = time.monotonic() + 10
    while any(t.name == "list-ahead" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the listing thread goes on after close()"
        time.sleep(0.05)
    assert many.listed <= 4  # a page or two ahead, then stopped: not the whole prefix
    failing = _raw_listing(_Pages(3, fail_at=1)).keys_listed_ahead("b", "p")  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="listing failed"):
        list(failing)


def test_a_peer_s_m1_stream_stops_at_the_cap_and_s3torch_s_reads_to_the_end() -> None:
    from harness.workloads import Context, _read_in_chunks, finish

    def ctx(client: str, deadline: float | None) -> Context:
        manifest = {"stream": {"bucket": "b", "key": "k", "size": 4 * 2**20}}
        unused = dict.fromkeys(("endpoint", "server_endpoint", "region", "access_key"), "")
        return Context(
            "M1",
            client,
            **unused,
            secret_key="",
            manifest=manifest,
            scale=FULL,
            run=0,
            deadline=deadline,
        )

    def reader() -> io.BytesIO:
        return io.BytesIO(bytes(4 * 2**20))

    past = time.perf_counter() - 1
    assert _read_in_chunks(reader(), ctx("s3torchconnector", past)) == 0
    assert _read_in_chunks(reader(), ctx("s3torch", past)) == 4 * 2**20
    assert _read_in_chunks(reader(), ctx("s3torchconnector", None)) == 4 * 2**20
    # A stream stopped by the cap is a capped run; one short of its size without the cap fails.
    assert finish(ctx("boto3", past), {"items": 1, "bytes": 2**20})["capped"] is True
    assert finish(ctx("boto3", None), {"items": 1, "bytes": 4 * 2**20})["capped"] is False
    with pytest.raises(RuntimeError, match="read 1048576 bytes"):
        finish(ctx("boto3", None), {"items": 1, "bytes": 2**20})
    with pytest.raises(RuntimeError, match="no item done"):
        finish(ctx("boto3", past), {"items": 1, "bytes": 0})
    # A W3 read is one call: short after the cap's time, it still fails.
    w3 = ctx("boto3", past)
    w3.workload, w3.manifest = "W3", {"blob": {"bucket": "b", "key": "k", "size": 4 * 2**20}}
    with pytest.raises(RuntimeError, match="read 1048576 bytes"):
        finish(w3, {"items": 1, "bytes": 2**20})


def test_the_s3_network_reads_smaller_large_objects_under_the_usual_names() -> None:
    from harness.spec import s3_net_data_sets_needed

    assert s3_net_data_sets_needed(["W1", "W3", "W5", "D1"]) == {
        "rtt",
        "netblob",
        "netcheckpoint",
        "netdcp",
    }
    shaped = FULL.for_s3_net()
    assert shaped.blob_size == shaped.checkpoint_bytes == 256 * 2**20
    assert shaped.small_count == FULL.rtt_count


def test_objects_written_into_localbucket_s_files_read_back_as_uploaded_ones(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from harness import datagen
    from harness.crt import RawS3
    from harness.servers import LocalBucket
    from harness.spec import BUCKET_BIG, BUCKET_SMALL, BUCKET_TAR, REGION

    scale = replace(FULL, small_count=30, blob_size=9 * 2**20 + 5, shard_count=2, shard_members=10)
    seen = {}
    for way in ("uploaded", "files"):
        server = LocalBucket(tmp_path / way)
        server.start()
        try:
            raw = RawS3(server.endpoint, region=REGION, access_key="a", secret_key="b")
            root = server.object_files if way == "files" else None
            manifest = datagen.generate(
                raw, scale, {"small", "blob", "shards"}, log=lambda _: None, data_root=root
            )
            contents = {}
            for bucket in (BUCKET_SMALL, BUCKET_BIG, BUCKET_TAR):
                for key, size in raw.list_keys(bucket, ""):
                    body = bytearray()
                    raw.get(
                        bucket, key, lambda chunk, body=body, **_: body.extend(chunk)
                    ).finished_future.result()
                    assert len(body) == size
                    contents[bucket, key] = bytes(body)
            seen[way] = (manifest, contents)
        finally:
            server.stop()
    assert seen["files"] == seen["uploaded"]
    assert len(seen["files"][1]) == 30 + 1 + 2


def test_a_dcp_checkpoint_is_its_metadata_and_one_data_file() -> None:
    pytest.importorskip("torch")
    from harness.datagen import dcp_checkpoint_files

    files = dcp_checkpoint_files(4 * 4096, 4)
    assert ".metadata" in files and len(files) == 2
    assert sum(len(data) for data in files.values()) > 4 * 4096


def test_generated_objects_have_their_size_and_differ() -> None:
    first, second = object_bytes(0, 65536), object_bytes(1, 65536)
    assert len(first) == len(second) == 65536
    assert first != second
    assert object_bytes(7, 65536) == object_bytes(7, 65536)


def test_a_pattern_stream_yields_exactly_its_size() -> None:
    stream = PatternStream(20 * 1024 * 1024 + 3)
    total = 0
    buffer = bytearray(3 * 1024 * 1024)
    while count := stream.readinto(buffer):
        total += count
    assert total == 20 * 1024 * 1024 + 3


def test_what_a_large_read_is_checked_against_is_the_pattern_stream_s_bytes() -> None:
    size = 20 * 1024 * 1024 + 3
    body = bytearray(PatternStream(size).read())
    assert len(body) == size and is_pattern(body) and is_pattern(bytes(body))
    body[9 * 1024 * 1024] ^= 1
    assert not is_pattern(body)
    assert not is_pattern(bytes(PatternStream(size).read())[1:])


def test_a_tar_shard_holds_one_member_per_sample() -> None:
    data = tar_shard(2, members=5, member_size=1000, block=object_bytes(0, 1 << 20))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [f"s0002_{i:06d}.bin" for i in range(5)]
    assert all(m.size == 1000 for m in members)


def test_full_sizes_are_the_issue_s() -> None:
    assert (FULL.small_count, FULL.small_size) == (10_000, 64 * 1024)
    assert FULL.rtt_count == 2_000 and FULL.list_count == 100_000
    assert (FULL.write_count, FULL.write_size) == (2_000, 16 * 1024)
    assert (FULL.shard_count, FULL.shard_members, FULL.member_size) == (8, 1_000, 16 * 1024)
    assert FULL.blob_size == FULL.checkpoint_bytes == 2**30 and FULL.stream_size == 4 * 2**30


# -- the delay proxy -------------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[str]:
    """A TCP server that sends back whatever it receives, on a loopback port."""
    server = _Echo()
    yield server.url
    server.close()


class _Echo(LoopbackServer):
    def serve(self, client: socket.socket) -> None:
        with client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := client.recv(1 << 16):
                client.sendall(data)


@pytest.fixture
def proxy(echo_server: str) -> Iterator[DelayProxy]:
    delayed = DelayProxy(echo_server, delay_ms=25.0)
    delayed.start()
    yield delayed
    delayed.stop()


def _connect(endpoint: str) -> socket.socket:
    host, port = endpoint.split("//")[1].split(":")
    connection = socket.create_connection((host, int(port)))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _exchange(connection: socket.socket, payload: bytes) -> bytes:
    connection.sendall(payload)
    received = b""
    while len(received) < len(payload):
        received += connection.recv(1 << 20)
    return received


def _timed_echo(endpoint: str, payload: bytes) -> float:
    """Seconds to send ``payload`` to the echo server at ``endpoint`` and get it all back, on a
    connection already warmed by a first exchange; fails if the bytes come back changed."""
    with _connect(endpoint) as connection:
        _exchange(connection, b"warm")
        started = time.perf_counter()
        echoed = _exchange(connection, payload)
        elapsed = time.perf_counter() - started
    assert echoed == payload
    return elapsed


def test_the_proxy_adds_a_round_trip_to_each_exchange_and_one_more_to_connecting(
    proxy: DelayProxy,
) -> None:
    started = time.perf_counter()
    with _connect(proxy.endpoint) as connection:
        assert _exchange(connection, b"hello") == b"hello"
        first = time.perf_counter() - started
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert _exchange(connection, b"ping") == b"ping"
            times.append(time.perf_counter() - started)
    rtt = 2 * 0.025
    assert rtt <= min(times) < rtt + 0.025
    assert 2 * rtt <= first < 2 * rtt + 0.03  # handshake, then the exchange


def test_the_proxy_pipelines_instead_of_delaying_chunks_one_after_another(
    proxy: DelayProxy,
) -> None:
    payload = bytes(range(256)) * 4096 * 8  # 8 MiB, many socket reads
    elapsed = _timed_echo(proxy.endpoint, payload)
    # Delayed chunk by chunk in series this would take seconds; pipelined, a round trip more.
    assert 0.05 <= elapsed < 0.6


@pytest.fixture
def shaped(echo_server: str) -> Iterator[DelayProxy]:
    """The proxy as ``--net s3`` runs it, scaled down: 10 MiB/s, 40 ms first byte, 2 ms each way."""
    proxy = DelayProxy(echo_server, delay_ms=2.0, rate_mib=10.0, first_byte_ms=40.0)
    proxy.start()
    yield proxy
    proxy.stop()


def test_the_bandwidth_cap_holds_a_connection_to_its_rate(shaped: DelayProxy) -> None:
    payload = bytes(range(256)) * 4096 * 5  # 5 MiB
    elapsed = _timed_echo(shaped.endpoint, payload)
    # Both ways are capped but pipelined: 5 MiB at 10 MiB/s is 0.5 s, plus a round trip and
    # the first-byte delay; far less than two transfers one after the other.
    assert 0.45 <= elapsed < 0.9


class _PipeEnd:
    """A pipe end standing in for a socket: the proxy's directions only need ``fileno()``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def test_a_response_longer_than_the_pipe_keeps_the_link_busy() -> None:
    # One direction as --net s3 shapes it (50 MiB/s, 5 ms, 15 ms to the first byte), run on a
    # clock of its own: the sender always has more ready, and each piece is passed on when due.
    # 8 MiB should be done when the link has carried them: 15 ms + 160 ms + 5 ms. Were each
    # read as large as the proxy's pipe (1 MiB without CAP_SYS_RESOURCE), nothing more could be
    # read until it had been passed on, and the link would stand idle for the delay each time.
    from harness.proxy import _F_SETPIPE_SZ, Shape, _Direction

    mib = 1024 * 1024
    source_r, source_w = os.pipe2(os.O_NONBLOCK)
    target_r, target_w = os.pipe2(os.O_NONBLOCK)
    for fd in (source_w, target_w):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, mib)
    shape = Shape(delay=0.005, rate=50.0 * mib, first_byte=0.015)
    direction = _Direction(_PipeEnd(source_r), _PipeEnd(target_w), shape, not_before=0.0)  # type: ignore[arg-type]
    direction.first_byte, direction.awaiting_response = shape.first_byte, True
    chunk = bytes(64 * 1024)
    now, read, passed = 0.0, 0, 0
    try:
        while passed < 8 * mib:
            while read < 8 * mib and direction.wants_read():
                with contextlib.suppress(BlockingIOError):
                    while True:  # the sender has all the pipe holds ready
                        os.write(source_w, chunk)
                got = direction.read(now)
                if not got:
                    break
                read += got
            due = direction.due()
            assert due is not None
            now = max(now, due)
            passed += direction.write(now)
            with contextlib.suppress(BlockingIOError):
                while os.read(target_r, mib):
                    pass
    finally:
        direction.close()
        for fd in (source_r, source_w, target_r, target_w):
            os.close(fd)
    assert now == pytest.approx(0.015 + 8 / 50 + 0.005, abs=0.002)


def test_the_cap_is_per_connection_so_connections_side_by_side_add_up(shaped: DelayProxy) -> None:
    payload = bytes(range(256)) * 4096 * 2  # 2 MiB on each of 4 connections
    results: list[float] = []

    def one() -> None:
        results.append(_timed_echo(shaped.endpoint, payload))

    threads = [threading.Thread(target=one) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert len(results) == 4
    assert min(results) >= 0.18  # each at 10 MiB/s at most
    assert elapsed < 0.7  # 8 MiB in all, not 0.8 s one connection after another
    time.sleep(0.2)  # the closes travel through the proxy too
    counters = shaped.counters()
    assert counters["opened"] == 4 and counters["bulk"] == 4 and counters["peak_open"] >= 2
    # Asking resets the counters, and a connection both sides closed is no longer open.
    assert shaped.counters() == {"opened": 0, "peak_open": 0, "bulk": 0}


def test_the_first_byte_delay_is_added_to_each_response_not_to_each_chunk(
    shaped: DelayProxy,
) -> None:
    with _connect(shaped.endpoint) as connection:
        _exchange(connection, b"warm")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert _exchange(connection, b"ping") == b"ping"
            times.append(time.perf_counter() - started)
    # One round trip (4 ms) plus the first-byte delay (40 ms), each time.
    assert 0.044 <= min(times) and max(times) < 0.044 + 0.04


def test_the_proxy_refuses_negative_settings() -> None:
    from harness import proxy

    with pytest.raises(SystemExit):
        proxy.main(["--target", "127.0.0.1:1", "--delay-ms", "1", "--rate-mib", "-5"])


def test_a_ratio_target_above_what_raw_awscrt_reaches_is_marked_beyond_the_machine() -> None:
    runs = {
        ("localbucket", "W1", "s3torch"): [_run(150.0)],
        ("localbucket", "W1", "s3torchconnector"): [_run(100.0)],
        ("localbucket", "W1", "awscrt"): [_run(120.0)],
    }
    document = _one_run_report(runs)
    verdict = next(t for t in document["targets"] if t["goal"] == 2.5)
    assert verdict["met"] is False and verdict["beyond_reference"] is True
    assert verdict["reference_ratio"] == pytest.approx(1.2)
    assert "beyond this machine" in report.markdown(document)


def test_a_figure_is_marked_bounded_when_localbucket_or_the_machine_is_full() -> None:
    assert report.saturated("localbucket", {"server_cores": 0.95, "client_cores": 0.2})
    assert not report.saturated("seaweedfs", {"server_cores": 0.95, "client_cores": 0.2})
    assert report.saturated("seaweedfs", {"server_cores": 1.1, "client_cores": 0.75})
    assert not report.saturated("localbucket", {"server_cores": 0.5, "client_cores": 1.0})


def test_no_limit_is_claimed_from_awscrt_where_it_downloads_before_processing() -> None:
    runs = {
        ("localbucket", "W8", "s3torch"): [_run(150.0)],
        ("localbucket", "W8", "s3torchconnector"): [_run(100.0)],
        ("localbucket", "W8", "awscrt"): [_run(90.0)],
    }
    verdict = _one_run_report(runs)["targets"][0]
    assert verdict["met"] is False
    assert "beyond_reference" not in verdict


def test_a_document_rebuilt_from_its_runs_is_the_same() -> None:
    document = _document()
    assert report.rebuild(document) == document
