"""Fault injection, reads: byte-exact under faults (readers and both datasets).

See :mod:`support.faults` for the proxy, the fixtures and the soak run.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from awscrt.checksums import crc32c

import s3torch
from s3torch import S3Exception, S3MapDataset, S3ReaderConstructor
from s3torch.s3iterable_dataset import S3IterableDataset
from support.fault_proxy import FAULTS
from support.faults import (
    MIB,
    ROUNDS,
    FaultRig,
    Stored,
    config_for,
    journal_tail,
    probabilities_for,
    read_item,
    verify,
)

# ---------------------------------------------------------------------------
# Reads: byte-exact under faults
# ---------------------------------------------------------------------------

READ_OPERATIONS = ("GetObject", "HeadObject", "ListObjectsV2")
READ_LIMIT_S = 120.0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", [*FAULTS, "mixed"])
def test_reads_are_byte_exact_under_faults(fault: str, rig: FaultRig, stored: Stored) -> None:
    proxy = rig.proxy
    proxy.configure(probabilities_for(fault), READ_OPERATIONS)
    # Every drop of the whole server fails every request in flight at once; the datasets
    # prefetch less here so that the run stays short (retries after outages are pinned in
    # test_faults_retries.py).
    prefetch = 2 if fault in ("gone", "mixed") else 32
    try:
        read_everything(rig, rig.via(), stored, random.Random(fault), prefetch)
    except S3Exception as err:
        pytest.fail(f"a read failed: {err!r}\nthe proxy's last requests:\n{journal_tail(proxy)}")
    injected = proxy.injected()
    if fault == "mixed":
        assert sum(injected.values()) > 0, "no fault was injected"
    else:
        assert injected.get(fault, 0) > 0, f"no {fault} fault was injected"


def read_everything(
    rig: FaultRig, client: s3torch.S3Client, stored: Stored, rng: random.Random, prefetch: int
) -> None:
    """Read every stored object through readers and both datasets, checking every byte."""
    tally = rig.tally
    keys = sorted(stored.objects)
    for _ in range(ROUNDS):
        # Whole objects through the default (sequential) reader.
        for key in keys:
            content = rig.bounded(
                "get+read",
                lambda k=key: client.get_object(stored.bucket, k).read(),
                READ_LIMIT_S,
            )
            verify(tally, stored, key, content)

        # Multi-part objects through the range-based reader: seeks and ranged GETs, some
        # across part boundaries.
        for key in stored.multipart_keys():
            expected = stored.objects[key]
            with client.get_object(
                stored.bucket, key, reader_constructor=S3ReaderConstructor.range_based()
            ) as reader:
                for _ in range(3):
                    start = rng.randrange(len(expected))
                    size = rng.randrange(1, 3 * MIB)

                    def ranged(r: Any = reader, at: int = start, n: int = size) -> bytes:
                        r.seek(at)
                        return bytes(r.read(n))

                    chunk = rig.bounded("ranged read", ranged, READ_LIMIT_S)
                    assert crc32c(chunk) == crc32c(expected[start : start + size])
                    tally.bytes_verified += len(chunk)

        # Both datasets read the same objects through the proxy, alike.
        dataset_options: dict[str, Any] = {
            "region": rig.server.region,
            "endpoint": rig.proxy.endpoint,
            "s3client_config": config_for(rig.server),
            "transform": read_item,
            "prefetch_objects": prefetch,
        }
        data_uri = f"s3://{stored.bucket}/data/"

        # The iterable dataset: a listing, then GETs with prefetch.
        dataset = S3IterableDataset.from_prefix(data_uri, **dataset_options)
        items = rig.bounded("iterable dataset epoch", lambda d=dataset: list(d), READ_LIMIT_S)
        assert [k for k, _ in items] == keys
        for key, content in items:
            verify(tally, stored, key, content)

        # The map dataset: batches whose GETs run together.
        mapped = S3MapDataset.from_prefix(data_uri, **dataset_options)
        count = rig.bounded("map dataset listing", lambda m=mapped: len(m), READ_LIMIT_S)
        assert count == len(keys)
        for first in range(0, count, 8):
            batch = list(range(first, min(first + 8, count)))
            got = rig.bounded(
                "map dataset batch",
                lambda b=batch, m=mapped: m.__getitems__(b),
                READ_LIMIT_S,
            )
            for key, content in got:
                verify(tally, stored, key, content)
