"""A dataset's counters (cache hits and bytes, and how long each sample was waited for), shared
by the process that built the dataset and its DataLoader workers.

The counters live in a small file in ``/dev/shm`` (the temporary directory where there is no
``/dev/shm``), memory-mapped by every process that holds the dataset: forked workers inherit the
mapping, spawned ones open the file by its path, which travels with the pickled dataset. Each
process adds up its own figures and folds them into the file, under a ``lockf`` lock, every
:data:`FLUSH_EVERY` samples, at the end of each epoch and when a worker exits, so that a sample
costs two clock reads, a list append and a length check; the histogram is made at the flush,
for the whole batch at once. Waits go into a histogram of 8 buckets per power of two (a
percentile is exact to about 6%), one per epoch for the last :data:`EPOCHS_KEPT` epochs.
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import mmap
import multiprocessing.util
import os
import tempfile
import threading
import time
import weakref
from typing import Any

from .table import shared_dir, unlink_owned

__all__ = ["COUNTERS", "EPOCHS_KEPT", "FLUSH_EVERY", "DatasetMetrics"]

COUNTERS = (
    "cache.hits",
    "cache.misses",
    "cache.bytes_from_cache",
    "cache.bytes_from_s3",
    "cache.stale",
    "cache.corrupt",
    "cache.write_failures",
    "cache.warned",  # a flag, not reported: whether a worker already warned of a full disk
)
# Named here so that a test can point the metrics file elsewhere.
_shared_dir = shared_dir
_unlink = unlink_owned

log = logging.getLogger(__name__)

_INDEX = {name: i for i, name in enumerate(COUNTERS)}
_HEADER = 16  # counter slots, room to grow
FLUSH_EVERY = 1024
EPOCHS_KEPT = 32
_BUCKETS = 8 + 8 * 44  # up to 2**47 ns: about 39 hours
_RECORD = 4 + _BUCKETS  # epoch + 1 (0: empty), samples, total ns, max ns, buckets
_SLOTS = _HEADER + EPOCHS_KEPT * _RECORD
_SIZE = _SLOTS * 8


def bucket_of(ns: int) -> int:
    """The histogram bucket of a wait of ``ns`` nanoseconds: exact below 8, then 8 buckets
    per power of two (the top four bits of the value)."""
    if ns < 8:
        return max(ns, 0)
    shift = ns.bit_length() - 4
    return min(8 + 8 * shift + ((ns >> shift) & 7), _BUCKETS - 1)


def bucket_middle(index: int) -> float:
    """The middle of bucket ``index``, in nanoseconds."""
    if index < 8:
        return float(index)
    return (bucket_low(index) + bucket_low(index + 1)) / 2


class DatasetMetrics:
    """The counters of one dataset, summed over every process that iterates it."""

    def __init__(self) -> None:
        self._path: str | None = None
        try:
            fd, path = tempfile.mkstemp(prefix="s3torch-metrics-", dir=_shared_dir())
            try:
                os.ftruncate(fd, _SIZE)
            finally:
                os.close(fd)
            self._path = path
            weakref.finalize(self, _unlink, path, os.getpid())
        except OSError as error:
            # No shared file: this process counts alone, and workers' figures are not seen.
            log.warning("s3torch: dataset metrics are not shared with workers: %s", error)
        self._local_init()
        _live.add(self)

    def _local_init(self) -> None:
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        self._file: Any = None  # holds the lockf locks; closed with this object
        self._counts = [0] * len(COUNTERS)
        self._waits: dict[int, list[int]] = {}
        self._armed = False

    def _arm(self) -> None:
        # A DataLoader worker leaves through multiprocessing's exit path, which runs these
        # finalizers (atexit does not run there): its last figures are not lost. Registered
        # on first use in each process, after multiprocessing has reset its registry.
        self._armed = True
        multiprocessing.util.Finalize(self, _flush_if_alive, (weakref.ref(self),), exitpriority=10)

    def __getstate__(self) -> dict[str, Any]:
        self.flush()
        return {"_path": self._path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._path = state["_path"]
        self._local_init()
        _live.add(self)

    def _forget_parent(self) -> None:
        # A forked worker inherits the parent's figures not yet flushed: the parent flushes
        # those itself. The mapping is shared and stays; the lock may have been held.
        self._lock = threading.Lock()
        self._counts = [0] * len(COUNTERS)
        self._waits = {}
        self._armed = False

    def _mapping(self) -> mmap.mmap:
        if self._map is None:
            try:
                if self._path is None:
                    raise FileNotFoundError("no shared file")
                self._file = open(self._path, "r+b")  # kept open: the locks are taken on it
                self._map = mmap.mmap(self._file.fileno(), _SIZE)
            except (OSError, ValueError):
                # The process that made the dataset is gone (a dataset unpickled later), or
                # there is no shared file: keep this process's figures alone.
                self._file = None
                self._map = mmap.mmap(-1, _SIZE)
        return self._map

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` (folded in at the next flush)."""
        if not self._armed:
            self._arm()
        self._counts[_INDEX[name]] += amount

    def waits(self, epoch: int) -> list[int]:
        """The list a dataset's iterator appends each wait of ``epoch`` to (nanoseconds), then
        calls :meth:`flush` when it holds :data:`FLUSH_EVERY`: appending to a list is the
        cheapest record there is."""
        if not self._armed:
            self._arm()
        waits = self._waits.get(epoch)
        if waits is None:
            with self._lock:
                waits = self._waits.setdefault(epoch, [])
        return waits

    def waited(self, epoch: int, ns: int) -> None:
        """Record that a sample of ``epoch`` was waited for ``ns`` nanoseconds."""
        waits = self.waits(epoch)
        waits.append(ns)
        if len(waits) >= FLUSH_EVERY:
            self.flush()

    def claim_warning(self) -> bool:
        """True the first time any process of this dataset asks: the one that should warn."""
        with self._lock, self._locked() as slots:
            index = _INDEX["cache.warned"]
            first = slots[index] == 0
            slots[index] = 1
            return first

    def _locked(self) -> _Locked:
        mapping = self._mapping()
        return _Locked(mapping, -1 if self._file is None else self._file.fileno())

    def flush(self) -> None:
        """Fold this process's figures into the shared file."""
        with self._lock:
            counts, self._counts = self._counts, [0] * len(COUNTERS)
            # Iterators keep appending to these lists: take what is there now, in place.
            waits = {}
            for epoch, pending in self._waits.items():
                taken = len(pending)
                if taken:
                    waits[epoch] = pending[:taken]
                    del pending[:taken]
            if not any(counts) and not waits:
                return
            with self._locked() as slots:
                for i, count in enumerate(counts):
                    slots[i] += count
                for epoch, values in waits.items():
                    _add_waits(slots, epoch, values)

    def snapshot(self) -> dict[str, float]:
        """Every figure as a flat dict: the ``cache.*`` counters, and for each epoch seen
        ``wait.<epoch>.samples``, ``.total_s``, ``.p50_s``, ``.p95_s``, ``.p99_s``, ``.max_s``."""
        self.flush()
        with self._lock, self._locked() as slots:
            values = slots.tolist()
        out: dict[str, float] = {
            name: values[i] for i, name in enumerate(COUNTERS) if name != "cache.warned"
        }
        records = []
        for r in range(EPOCHS_KEPT):
            base = _HEADER + r * _RECORD
            if values[base]:
                records.append((values[base] - 1, values[base : base + _RECORD]))
        for epoch, record in sorted(records):
            samples, total, longest = record[1], record[2], record[3]
            buckets = record[4:]
            prefix = f"wait.{epoch}."
            out[prefix + "samples"] = samples
            out[prefix + "total_s"] = total / 1e9
            for name, q in (("p50_s", 0.50), ("p95_s", 0.95), ("p99_s", 0.99)):
                out[prefix + name] = min(_quantile(buckets, samples, q), longest) / 1e9
            out[prefix + "max_s"] = longest / 1e9
        return out


def _flush_if_alive(ref: weakref.ref[DatasetMetrics]) -> None:
    metrics = ref()
    if metrics is not None:
        metrics.flush()


_live: weakref.WeakSet[DatasetMetrics] = weakref.WeakSet()


def _after_fork() -> None:
    for metrics in list(_live):
        metrics._forget_parent()


os.register_at_fork(after_in_child=_after_fork)


class _Locked:
    """The shared slots as int64s, under an exclusive ``lockf`` on the file."""

    def __init__(self, mapping: mmap.mmap, fd: int) -> None:
        self._mapping, self._fd = mapping, fd

    def __enter__(self) -> memoryview:
        if self._fd >= 0:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
        self._view = memoryview(self._mapping).cast("q")
        return self._view

    def __exit__(self, *exc: object) -> None:
        self._view.release()
        if self._fd >= 0:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)


def _add_waits(slots: memoryview, epoch: int, values: list[int]) -> None:
    base = _HEADER + (epoch % EPOCHS_KEPT) * _RECORD
    if slots[base] != epoch + 1:
        if slots[base] > epoch + 1:
            return  # a later epoch took this record: these waits are too old to keep
        for i in range(base, base + _RECORD):
            slots[i] = 0
        slots[base] = epoch + 1
    slots[base + 1] += len(values)
    slots[base + 2] += sum(values)
    slots[base + 3] = max(slots[base + 3], max(values))
    buckets = base + 4
    for index, count in bucket_counts(values):
        slots[buckets + index] += count


def bucket_low(index: int) -> int:
    """The smallest wait (ns) in bucket ``index``."""
    if index < 8:
        return index
    shift, top = divmod(index - 8, 8)
    return (8 + top) << shift


def bucket_counts(values: list[int]) -> list[tuple[int, int]]:
    """``(bucket, count)`` for the buckets ``values`` fall in: :func:`bucket_of` over the whole
    list at once. Sorting (in C) and bisecting the few bucket bounds between the smallest and
    the largest costs far less than a Python call per value."""
    values = sorted(values)
    out = []
    start = 0
    last = bucket_of(values[-1])
    for index in range(bucket_of(values[0]), last):
        end = bisect.bisect_left(values, bucket_low(index + 1), start)
        if end > start:
            out.append((index, end - start))
            start = end
    out.append((last, len(values) - start))
    return out


def _quantile(buckets: list[int], samples: int, q: float) -> float:
    if samples <= 0:
        return 0.0
    rank = q * samples
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return bucket_middle(index)
    return bucket_middle(len(buckets) - 1)


def now_ns() -> int:
    """The clock the waits are measured with."""
    return time.perf_counter_ns()
