"""Fault injection: retries are visible (client metrics and a warning per retry).

See :mod:`support.faults` for the proxy and the fixtures.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import s3torch
from s3torch import S3Exception, _logging
from support.faults import PART_SIZE, FaultRig, Stored, settled_metrics, verify

# ---------------------------------------------------------------------------
# Retries are visible
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_retries_are_counted_in_the_client_metrics(rig: FaultRig, stored: Stored) -> None:
    proxy, tally = rig.proxy, rig.tally
    faulty = rig.via()
    key = stored.largest_key()
    before = settled_metrics(faulty)
    # At most two failures in a row for one request, so that the backoff stays short.
    proxy.fail_next("slowdown", "GetObject", count=2, where="bytes=0-")
    proxy.fail_next("internal_error", "GetObject", count=2, where=f"bytes={PART_SIZE}-")
    proxy.fail_next("slowdown", "GetObject", count=1, where=f"bytes={2 * PART_SIZE}-")
    proxy.fail_next("reset_before", "HeadObject", count=1)
    content = rig.bounded("get+read", faulty.get_object(stored.bucket, key).read, 60)
    verify(tally, stored, key, content)
    size = rig.bounded("head", lambda: faulty.head_object(stored.bucket, key).size, 60)
    assert size == len(stored.objects[key])
    after = settled_metrics(faulty)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    seen = proxy.requests()
    assert delta["retries"] == 6
    assert delta["throttles"] == 3
    assert delta["errors.503"] == 3
    assert delta["errors.500"] == 2
    assert delta["errors.network"] == 1
    assert delta["errors"] == 6
    assert delta["requests"] == sum(seen.values())
    assert delta["requests.GetObject"] == seen["GetObject"]
    assert delta["requests.HeadObject"] == seen["HeadObject"]
    assert delta["bytes_read"] == len(stored.objects[key])


@pytest.mark.timeout(60)
def test_each_retry_logs_a_warning(
    rig: FaultRig, stored: Stored, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, tally = rig.proxy, rig.tally
    s3torch.enable_logging("WARNING")
    try:
        faulty = rig.via()
        key = stored.largest_key()
        caplog.set_level(logging.WARNING, logger="s3torch.retry")
        proxy.fail_next("slowdown", "GetObject", count=2, where="bytes=0-")
        proxy.fail_next("internal_error", "GetObject", count=1, where=f"bytes={PART_SIZE}-")
        content = rig.bounded("get+read", faulty.get_object(stored.bucket, key).read, 60)
        verify(tally, stored, key, content)
        _logging.flush_native_logs()
    finally:
        s3torch.disable_logging()
    retries = [r.getMessage() for r in caplog.records if r.name == "s3torch.retry"]
    assert len(retries) == 3, retries
    assert sum("503" in line for line in retries) == 2, retries
    assert sum("500" in line for line in retries) == 1, retries
    assert all("GetObject" in line for line in retries), retries


@pytest.mark.timeout(120)
def test_requests_are_still_retried_after_outages_with_many_requests_in_flight(
    rig: FaultRig, stored: Stored
) -> None:
    proxy, tally = rig.proxy, rig.tally
    faulty = rig.via()  # max_attempts=10
    keys = sorted(stored.objects)[:24] + sorted(stored.objects)[:8]

    def read(key: str) -> str:
        try:
            verify(tally, stored, key, faulty.get_object(stored.bucket, key).read())
            return "ok"
        except S3Exception as err:
            return f"{type(err).__name__}: {err}"

    def outage(seconds: float) -> None:
        proxy.go_away("refuse")
        threading.Timer(seconds, proxy.come_back).start()

    # Three short outages (like a store restarting), each with 32 reads under way.
    with ThreadPoolExecutor(len(keys)) as pool:
        for _ in range(3):
            outage(1.0)
            results = list(pool.map(read, keys))
            tally.operations["get+read during an outage"] += len(results)
            time.sleep(1.1)
    # The store is back. One more short outage: a read started in it should be retried
    # until the store answers again, as max_attempts allows.
    outage(0.3)
    started = time.monotonic()
    outcome = read(keys[0])
    tally.operations["get+read during an outage"] += 1
    assert outcome == "ok", f"{outcome} after {time.monotonic() - started:.2f} s, not retried"
