"""What is measured: data sets, workloads, clients, servers and targets.

Everything here is plain data, so that the runner, the workers (which get it as JSON) and the
report agree on one description. Sizes come in two scales: ``full`` (the figures the README
shows) and ``quick`` (a few minutes, for development).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

REGION = "us-east-1"

CLIENTS = ("s3torch", "s3torchconnector", "boto3", "obstore", "s3dlio", "webdataset", "awscrt")
BASELINE = "s3torchconnector"
REFERENCE = "awscrt"
# The libraries a user could pick instead of s3torch: "the best peer" of a workload is the fastest
# of these in the same run. Raw awscrt is not one: it is the reference for the machine.
PEERS = ("s3torchconnector", "boto3", "obstore", "s3dlio", "webdataset")
# Peers that read one object over one connection: what S3's per-connection bandwidth caps.
SINGLE_STREAM = ("boto3", "obstore")
SERVERS = ("localbucket", "seaweedfs")

# One bucket per data set: localbucket walks a whole bucket on every listing page, so a data set
# sharing its bucket with others would be slower to list than it needs to be.
BUCKET_SMALL = "bench-small"
BUCKET_RTT = "bench-rtt"
BUCKET_BIG = "bench-big"
BUCKET_LIST = "bench-list"
BUCKET_TAR = "bench-tar"
BUCKET_WRITE = "bench-write"
BUCKETS = (BUCKET_SMALL, BUCKET_RTT, BUCKET_BIG, BUCKET_LIST, BUCKET_TAR, BUCKET_WRITE)

# The round trip the delay proxy adds: half of it in each direction.
ADDED_RTT_MS = 10.0


@dataclass(frozen=True)
class S3Net:
    """The ``--net s3`` shape of every connection: S3 as EC2 sees it, roughly."""

    rate_mib: float = 50.0  # per connection and direction (S3 serves 85-90 MB/s a connection)
    first_byte_ms: float = 15.0  # the server's time to first byte
    delay_ms: float = ADDED_RTT_MS / 2  # each way

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


S3_NET_SUFFIX = " --net s3"  # the results of a server's --net s3 runs: "localbucket --net s3"
# Data sets the --net s3 runs read in place of the loopback ones (see Scale.for_s3_net).
S3_NET_DATA = {"small": "rtt", "blob": "netblob", "checkpoint": "netcheckpoint", "dcp": "netdcp"}


@dataclass(frozen=True)
class Scale:
    """Sizes of the data sets and of the write workloads."""

    small_count: int  # W1: objects of small_size
    small_size: int
    rtt_count: int  # W1n, W2: objects of small_size behind the delay proxy
    blob_size: int  # W3: one object read sequentially
    checkpoint_bytes: int  # W4, W5: tensor bytes in the state dict
    checkpoint_tensors: int
    list_count: int  # W6: empty objects under one prefix
    write_count: int  # W7: objects of write_size
    write_size: int
    shard_count: int  # W8: tar shards of shard_members members of member_size
    shard_members: int
    member_size: int
    stream_size: int  # M1: one object streamed in stream_read_size reads
    stream_read_size: int
    batch_size: int  # W2
    loader_workers: int  # W2
    # With --net s3 a single stream moves 50 MiB/s: the large objects there are smaller.
    net_blob_size: int  # W3 --net s3
    net_checkpoint_bytes: int  # W4, W5 --net s3

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def for_s3_net(self) -> Scale:
        """The sizes the ``--net s3`` runs see: the smaller data sets in place of the others (W1
        iterates the 2,000 objects of W1n's data set: at 25 ms a request, 10,000 take a
        minute for each client)."""
        return replace(
            self,
            small_count=self.rtt_count,
            blob_size=self.net_blob_size,
            checkpoint_bytes=self.net_checkpoint_bytes,
        )


FULL = Scale(
    small_count=10_000,
    small_size=64 * KIB,
    rtt_count=2_000,
    blob_size=1 * GIB,
    checkpoint_bytes=1 * GIB,
    checkpoint_tensors=128,
    list_count=100_000,
    write_count=2_000,
    write_size=16 * KIB,
    shard_count=8,
    shard_members=1_000,
    member_size=16 * KIB,
    stream_size=4 * GIB,
    stream_read_size=8 * MIB,
    batch_size=64,
    loader_workers=2,
    net_blob_size=256 * MIB,
    net_checkpoint_bytes=256 * MIB,
)

# --quick: the same workloads on fewer and smaller objects; what is not named here is as in FULL.
QUICK = replace(
    FULL,
    small_count=2_000,
    rtt_count=400,
    blob_size=256 * MIB,
    checkpoint_bytes=256 * MIB,
    checkpoint_tensors=32,
    list_count=10_000,
    write_count=400,
    shard_count=4,
    shard_members=250,
    stream_size=1 * GIB,
    net_blob_size=128 * MIB,
    net_checkpoint_bytes=128 * MIB,
)


SCALE = replace(FULL, list_count=1_000_000)
"""``--scale``: the full sizes, with W6/W6n listing 1,000,000 keys (generating them on a 2-core
machine takes about 20 minutes: see doc/benchmarks.md)."""


@dataclass(frozen=True)
class Target:
    """One goal for s3torch's figure on a workload.

    kinds:
      ``ratio``: s3torch's rate / ``against``'s rate >= ``value``;
      ``cpu_ratio``: s3torch's client CPU-seconds per GiB / ``against``'s <= ``value``;
      ``max_rss_growth_mib``: s3torch's peak RSS growth <= ``value`` MiB;
      ``first_key``: s3torch's first key arrives before a second page could have, i.e. in less
      than ``value`` x the latency of one ListObjectsV2 page (measured just before the run; its
      mean time per page where that is missing).
    """

    kind: str
    value: float
    against: str | None = None  # a client, BEST_PEER, or SINGLE_STREAM_PEERS
    text: str = ""


# Special ``against`` values: the fastest peer of the same run, and the fastest single-stream one.
BEST_PEER = "best peer"
SINGLE_STREAM_PEERS = "single-stream peers"


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    unit: str  # what the rate counts per second
    proxied: bool = False  # through the delay proxy
    servers: tuple[str, ...] = SERVERS  # where it runs by default
    targets: tuple[Target, ...] = field(default_factory=tuple)
    # Why a server is left out by default, shown in the report.
    skipped_because: dict[str, str] = field(default_factory=dict)
    # Whether raw awscrt's figure is a limit for any client: it moves the same bytes with as many
    # requests in flight as the CRT takes and nothing else to do. Not so where it downloads first
    # and then processes (W4, W5, W8), which a client can beat by overlapping the two.
    reference_is_limit: bool = True
    # Where it runs again through the S3-shaped network (``--net s3``), and its goals there.
    s3_net_servers: tuple[str, ...] = ()
    s3_net_targets: tuple[Target, ...] = field(default_factory=tuple)
    # (workload, clients): these clients do this workload exactly as they do that one, which
    # runs first, so its runs serve here too instead of being repeated.
    runs_of: tuple[str, tuple[str, ...]] | None = None


_LISTING_ON_LOCALBUCKET = (
    "localbucket re-walks and sorts the whole bucket for every ListObjectsV2 page (0.8 s a page "
    "at 100,000 keys, measured), so only the server would be measured; W6 runs on SeaweedFS"
)
_PROXY_ON_LOCALBUCKET = "the added-latency workloads run against localbucket only"
_SEAWEED_SUBSET = (
    "left out on SeaweedFS to keep a full run under 30 minutes (`--matrix all` runs it there too)"
)
_LOCALBUCKET_ONLY = ("localbucket",)
_BEST_SMALL = Target("ratio", 1.2, BEST_PEER, ">= 1.2x the best peer")
_BEST_LARGE = (
    Target("ratio", 1.0, BEST_PEER, ">= 1.0x the best peer"),
    Target("cpu_ratio", 1.0, BEST_PEER, "<= its client CPU per GiB"),
)
_BEST_CHECKPOINT = Target("ratio", 1.0, BEST_PEER, ">= 1.0x the best peer")
_FIVE_SINGLE = Target("ratio", 5.0, SINGLE_STREAM_PEERS, ">= 5x the single-stream peers")
_SKIP_SEAWEED = {"seaweedfs": _SEAWEED_SUBSET}


def _small_over_the_delay_proxy(id: str, title: str, unit: str, times_baseline: float) -> Workload:
    """A small-object workload through the delay proxy (on localbucket only), whose goals are
    ``times_baseline`` x s3torchconnector and the best peer."""
    return Workload(
        id,
        title,
        unit,
        proxied=True,
        servers=_LOCALBUCKET_ONLY,
        targets=(
            Target("ratio", times_baseline, BASELINE, f">= {times_baseline:g}x s3torchconnector"),
            _BEST_SMALL,
        ),
        skipped_because={"seaweedfs": _PROXY_ON_LOCALBUCKET},
    )


def _checkpoint_workload(id: str, title: str, unit: str, **settings: Any) -> Workload:
    """A checkpoint workload (W4, W4n, W5, D1): on localbucket by default, and raw awscrt's
    figure no limit (it only moves bytes; a client may overlap them with torch's work)."""
    return Workload(
        id,
        title,
        unit,
        servers=_LOCALBUCKET_ONLY,
        skipped_because=_SKIP_SEAWEED,
        reference_is_limit=False,
        **settings,
    )


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "W1",
        "iterate small objects, S3IterableDataset, one process",
        "objects/s",
        targets=(
            Target("ratio", 2.5, BASELINE, ">= 2.5x s3torchconnector"),
            Target("ratio", 0.8, REFERENCE, ">= 80% of raw awscrt"),
            _BEST_SMALL,
        ),
        s3_net_servers=_LOCALBUCKET_ONLY,
        s3_net_targets=(_BEST_SMALL,),
    ),
    _small_over_the_delay_proxy(
        "W1n", "iterate small objects, S3IterableDataset, +10 ms round trip", "objects/s", 10.0
    ),
    _small_over_the_delay_proxy(
        "W2",
        "S3MapDataset, random batches via DataLoader (2 workers), +10 ms round trip",
        "samples/s",
        5.0,
    ),
    Workload(
        "W3",
        "read one large object sequentially with read()",
        "MiB/s",
        targets=(Target("ratio", 0.9, REFERENCE, ">= 90% of raw awscrt"), *_BEST_LARGE),
        s3_net_servers=_LOCALBUCKET_ONLY,
        s3_net_targets=(
            Target("ratio", 8.0, "boto3", ">= 8x boto3"),
            Target("ratio", 8.0, "obstore", ">= 8x obstore.get"),
            Target("net_capacity", 0.8, None, ">= 80% of the proxy's capacity for the connections"),
        ),
    ),
    Workload(
        "W3i",
        "read one large object sequentially with readinto() a preallocated buffer",
        "MiB/s",
        targets=(Target("ratio", 0.9, REFERENCE, ">= 90% of raw awscrt"), *_BEST_LARGE),
        servers=_LOCALBUCKET_ONLY,
        skipped_because=_SKIP_SEAWEED,
    ),
    _checkpoint_workload(
        "W4",
        "torch.save a state dict through the writer",
        "MiB/s",
        targets=(
            Target("ratio", 1.0, BASELINE, ">= 1.0x s3torchconnector"),
            Target("cpu_ratio", 0.7, BASELINE, "<= 0.7x its client CPU per GiB"),
            _BEST_CHECKPOINT,
        ),
        s3_net_servers=_LOCALBUCKET_ONLY,
        s3_net_targets=(_FIVE_SINGLE,),
    ),
    _checkpoint_workload(
        "W4n",
        "torch.save a state dict through the writer, checksums off",
        "MiB/s",
        targets=(Target("ratio", 1.0, BASELINE, ">= 1.0x s3torchconnector"), _BEST_CHECKPOINT),
        # They send no upload checksum in W4 either: obstore and s3dlio by default, raw awscrt
        # unless asked. The incumbent has no such setting, but it is the baseline: its runs
        # are taken again, between s3torch's.
        runs_of=("W4", ("obstore", "s3dlio", "awscrt")),
    ),
    _checkpoint_workload(
        "W5",
        "torch.load the same checkpoint",
        "MiB/s",
        targets=(Target("ratio", 1.5, BASELINE, ">= 1.5x s3torchconnector"), _BEST_CHECKPOINT),
        s3_net_servers=_LOCALBUCKET_ONLY,
        s3_net_targets=(_FIVE_SINGLE,),
    ),
    _checkpoint_workload(
        "D1",
        "load a torch.distributed.checkpoint (one rank) through S3StorageReader",
        "MiB/s",
        targets=(_BEST_CHECKPOINT,),
        s3_net_servers=_LOCALBUCKET_ONLY,
        s3_net_targets=(_FIVE_SINGLE,),
    ),
    Workload(
        "W6",
        "list keys under a prefix",
        "keys/s",
        servers=("seaweedfs",),
        targets=(
            Target("ratio", 1.3, BASELINE, ">= 1.3x s3torchconnector"),
            Target("first_key", 2.0, None, "first key with the first page"),
        ),
        skipped_because={"localbucket": _LISTING_ON_LOCALBUCKET},
        s3_net_servers=("seaweedfs",),
        s3_net_targets=(Target("ratio", 1.0, BEST_PEER, ">= 1.0x the best peer"),),
    ),
    Workload(
        "W6n",
        "list keys under a prefix, +10 ms round trip",
        "keys/s",
        proxied=True,
        servers=("seaweedfs",),
        targets=(
            Target("ratio", 5.0, BASELINE, ">= 5x s3torchconnector"),
            Target("first_key", 2.0, None, "first key with the first page"),
        ),
        skipped_because={"localbucket": _LISTING_ON_LOCALBUCKET},
    ),
    Workload(
        "W7",
        "write small objects one after another through the writer",
        "objects/s",
        targets=(
            Target("ratio", 2.0, BASELINE, ">= 2x s3torchconnector"),
            Target("ratio", 0.8, REFERENCE, ">= 80% of raw awscrt"),
        ),
    ),
    Workload(
        "W8",
        "samples from WebDataset tar shards, one process",
        "samples/s",
        servers=_LOCALBUCKET_ONLY,
        targets=(
            Target("ratio", 2.0, BASELINE, ">= 2x s3torchconnector + tarfile"),
            Target("ratio", 1.2, BEST_PEER, ">= 1.2x the best peer"),
        ),
        skipped_because=_SKIP_SEAWEED,
        reference_is_limit=False,
    ),
    Workload(
        "M1",
        "stream one very large object in fixed-size reads: peak RSS growth",
        "MiB/s",
        servers=_LOCALBUCKET_ONLY,
        targets=(Target("max_rss_growth_mib", 256.0, None, "peak RSS growth <= 256 MiB"),),
        skipped_because=_SKIP_SEAWEED,
    ),
)

WORKLOADS_BY_ID = {workload.id: workload for workload in WORKLOADS}


def data_sets_needed(workload_ids: list[str]) -> set[str]:
    """The names of the data sets (see :mod:`harness.datagen`) the workloads read."""
    needs = {
        "W1": {"small"},
        "W1n": {"rtt"},
        "W2": {"rtt"},
        "W3": {"blob"},
        "W3i": {"blob"},
        "W4": set(),
        "W4n": set(),
        "W5": {"checkpoint"},
        "D1": {"dcp"},
        "W6": {"keys"},
        "W6n": {"keys"},
        "W7": set(),
        "W8": {"shards"},
        "M1": {"stream"},
    }
    out: set[str] = set()
    for workload_id in workload_ids:
        out |= needs[workload_id]
    return out


def s3_net_data_sets_needed(workload_ids: list[str]) -> set[str]:
    """The data sets the ``--net s3`` runs of these workloads read."""
    return {S3_NET_DATA.get(name, name) for name in data_sets_needed(workload_ids)}
