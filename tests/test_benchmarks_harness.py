"""The benchmark harness's own logic: medians, targets, tables, data, and the delay proxy.

These run without an S3 server (the proxy is tried against a tiny echo server) and take a few
seconds; the benchmarks themselves are run by ``make bench``.
"""

from __future__ import annotations

import io
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
from harness.datagen import PatternStream, object_bytes, tar_shard
from harness.measure import median, median_run, process_cpu_seconds
from harness.proxy import DelayProxy
from harness.spec import FULL, WORKLOADS, WORKLOADS_BY_ID, Target

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
        assert set(IMPLEMENTATIONS[workload.id]) == {
            "s3torch",
            "s3torchconnector",
            "boto3",
            "awscrt",
        }


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
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def echo(connection: socket.socket) -> None:
        with connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := connection.recv(1 << 16):
                connection.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


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
    with _connect(proxy.endpoint) as connection:
        _exchange(connection, b"warm")
        started = time.perf_counter()
        echoed = _exchange(connection, payload)
        elapsed = time.perf_counter() - started
    assert echoed == payload
    # Delayed chunk by chunk in series this would take seconds; pipelined, a round trip more.
    assert 0.05 <= elapsed < 0.6


def test_a_ratio_target_above_what_raw_awscrt_reaches_is_marked_beyond_the_machine() -> None:
    runs = {
        ("localbucket", "W1", "s3torch"): [_run(150.0)],
        ("localbucket", "W1", "s3torchconnector"): [_run(100.0)],
        ("localbucket", "W1", "awscrt"): [_run(120.0)],
    }
    meta = {"mode": "quick", "started": "now", "machine": "m", "runs": 1, "total_s": 1.0}
    document = report.build(meta, {"localbucket": {}}, runs, [])
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
    meta = {"mode": "quick", "started": "now", "machine": "m", "runs": 1, "total_s": 1.0}
    verdict = report.build(meta, {"localbucket": {}}, runs, [])["targets"][0]
    assert verdict["met"] is False
    assert "beyond_reference" not in verdict


def test_a_document_rebuilt_from_its_runs_is_the_same() -> None:
    document = _document()
    assert report.rebuild(document) == document
