"""Listing a prefix as several key ranges at once: :class:`PartitionedListing`.

One ListObjectsV2 stream returns about 1,000 keys per round trip, so a sequential listing of
millions of keys is bounded by latency, not by bandwidth. Here the prefix is cut into key ranges
``(after, upto]`` (``start-after`` = ``after``; the range ends at the last key ``<= upto``), each
listed by its own stream on one of ``concurrency`` threads (the native client waits with the GIL
released), so about ``concurrency`` pages are in flight. Each range's rows go into its own
compact :class:`~.table.TableBuilder` as they arrive, and the consumer reads the ranges in key
order: exactly the order (and the keys) of one sequential listing, the first ones after one
page's latency.

Where to cut is learned while listing:

- a delimiter (``/``) listing of the prefix's first page names its common prefixes ("folders"),
  each a cut point (descending into a single folder that holds everything);
- when a thread has nothing to do, it cuts the range with the most key space left after its last
  key in two, at a string between that key and the range's end made of the characters seen in
  keys so far (S3 orders keys by their UTF-8 bytes, which is code-point order: Python's ``str``
  order). A cut beyond the last key costs one request that returns nothing (the range is then
  known to be empty); one inside the keys is a range listed in parallel from there.

Any string is a correct cut: a range stops at the first key past its end, and the next range
starts after that end, so no key is missed or listed twice, whatever the cut points. Without
``start_after`` support in the client, the listing is one sequential stream.

The cut rule, the range streams and the ordered merge stay in one module (over 400 lines):
the merge's guarantee of one sequential order rests on how ranges are cut and how each stream
stops at its range's end.
"""

from __future__ import annotations

import bisect
import inspect
import itertools
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from .table import ObjectRow, ObjectTable, PageColumns, TableBuilder

__all__ = [
    "DEFAULT_LIST_CONCURRENCY",
    "S3_LIST_CONCURRENCY",
    "PartitionedListing",
    "check_concurrency",
    "takes_start_after",
]

log = logging.getLogger(__name__)

DEFAULT_LIST_CONCURRENCY: int | None = None
"""How many ranges of one prefix are listed at once (about that many pages in flight); None:
:data:`S3_LIST_CONCURRENCY` against AWS S3, 1 (one sequential stream) against another endpoint,
whose ``start-after`` may not follow S3's (SeaweedFS resumes after a folder's name, skipping the
folder)."""

S3_LIST_CONCURRENCY = 8

PROGRESS_EVERY_S = 5.0
"""How often a long listing logs its keys so far (INFO, ``s3torch._datasets.listing``)."""

_DEPTH = 4  # how many single-folder levels discovery descends
_POSITION_CHARS = 8  # characters of a key (after what all keys share) that place it
_LEARN_CHARS = 64  # characters of a key whose alphabet is learned
_DELIMITER = "/"
_MAX_RANGES_PER_THREAD = 16  # a bound on the requests cuts can cost


def check_concurrency(concurrency: Any) -> int | None:
    """``concurrency``, if it is None or an int of at least 1.

    Raises:
        ValueError: it is not.
    """
    if concurrency is None:
        return None
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ValueError(f"list_concurrency must be an int of at least 1, not {concurrency!r}")
    return concurrency


def _default_concurrency(list_objects: Callable[..., Any]) -> int:
    """:data:`S3_LIST_CONCURRENCY` for an ``S3Client.list_objects`` that talks to AWS S3, else 1."""
    endpoint = getattr(getattr(list_objects, "__self__", None), "endpoint", None)
    if endpoint is None:
        return S3_LIST_CONCURRENCY
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    aws = host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
    return S3_LIST_CONCURRENCY if aws else 1


def takes_start_after(list_objects: Callable[..., Any]) -> bool:
    """Whether a ``list_objects`` callable accepts ``start_after``."""
    try:
        return "start_after" in inspect.signature(list_objects).parameters
    except (TypeError, ValueError):
        return False


class _Range:
    """Keys ``k`` with ``after < k <= upto`` (None: unbounded), listed into ``rows``."""

    __slots__ = ("after", "done", "last", "next", "rows", "started", "upto")

    def __init__(self, after: str | None, upto: str | None) -> None:
        self.after = after
        self.upto = upto
        self.last: str | None = None  # the last key received
        self.rows = TableBuilder()
        self.started = False
        self.done = False
        self.next: _Range | None = None

    @property
    def reached(self) -> str | None:
        """The key this range has listed up to (every key of it up to this one is in rows)."""
        return self.last if self.last is not None else self.after


class PartitionedListing:
    """Every object under ``s3://bucket/prefix``, listed by ranges in parallel, in key order.

    ``list_objects`` is :meth:`S3Client.list_objects` (or anything with its signature, plus
    ``start_after``). Iterate :meth:`rows` for the rows as they arrive, or call :meth:`table`
    for all of them. ``key_filter`` keeps only the keys it accepts; ``on_progress(count)`` is
    called (from a listing thread) at most every ``progress_every_s`` seconds with the keys
    listed so far. One instance lists once.
    """

    def __init__(
        self,
        list_objects: Callable[..., Any],
        bucket: str,
        prefix: str,
        *,
        concurrency: int | None = DEFAULT_LIST_CONCURRENCY,
        max_keys: int = 1000,
        key_filter: Callable[[str], bool] | None = None,
        on_progress: Callable[[int], None] | None = None,
        progress_every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        concurrency = check_concurrency(concurrency)
        if concurrency is None:
            concurrency = _default_concurrency(list_objects)
        self._list = list_objects
        self._bucket = bucket
        self._prefix = prefix
        self._max_keys = max_keys
        self._key_filter = key_filter
        self._on_progress = on_progress
        self._progress_every_s = progress_every_s
        self._parallel = concurrency > 1 and takes_start_after(list_objects)
        self._concurrency = concurrency if self._parallel else 1
        self._lock = threading.Condition()
        self._head = _Range(None, None)
        self._open = 1  # ranges not done
        self._alphabet: list[str] = []  # characters seen after the prefix, sorted
        self._base: str | None = None  # the longest prefix of every key seen
        # What every key is known to start with: the prefix, or the folder discovery found
        # to hold everything. Cuts are this and then only characters above "/" (see _split).
        self._shared = prefix
        self._learned = not self._parallel  # whether cuts may be guessed yet
        self._discovering = self._parallel
        self._error: BaseException | None = None
        self._cut = False  # whether a range was cut
        self._unordered = False  # whether the server was seen listing out of key order
        self._stopped = False
        self._count = 0
        self._covered = 0.0  # the key space the ranges have listed (see _position)
        self._requests = 0
        self._started_at = 0.0
        self._reported_at = 0.0
        self._threads: list[threading.Thread] = []

    # -- consumer side --------------------------------------------------------------------

    def rows(self) -> Iterator[ObjectRow]:
        """The listed rows in key order, as they arrive (threads start on the first ``next``).

        Raises:
            S3Exception: a page could not be listed (the other threads stop).
        """
        self._start()
        try:
            current: _Range | None = self._head
            while current is not None:
                taken = 0
                while True:
                    with self._lock:
                        while (
                            len(current.rows) == taken and not current.done and self._error is None
                        ):
                            self._lock.wait()
                        if isinstance(self._error, _Unordered) and current is self._head:
                            # The head range is the start of one sequential listing: go on
                            # with that listing after the rows already given.
                            yield from itertools.islice(self._sequential().rows(), taken, None)
                            return
                        if self._error is not None:
                            raise self._error
                        available = len(current.rows)
                        finished = current.done
                    row = current.rows.row
                    for j in range(taken, available):
                        yield row(j)
                    taken = available
                    if finished and taken == len(current.rows):
                        break
                with self._lock:
                    current = current.next
        finally:
            self.close()

    def table(self) -> ObjectTable:
        """Every row, as one table (the ranges' builders joined, no row made twice)."""
        return TableBuilder.joined(self.builders())

    def builders(self) -> list[TableBuilder]:
        """Every row, in the ranges' builders, in key order (once the listing is over)."""
        self._start()
        try:
            with self._lock:
                while self._open and self._error is None:
                    self._lock.wait()
                if isinstance(self._error, _Unordered):
                    return self._sequential().builders()
                if self._error is not None:
                    raise self._error
            builders = []
            current: _Range | None = self._head
            while current is not None:
                builders.append(current.rows)
                current = current.next
            return builders
        finally:
            self.close()

    def _sequential(self) -> PartitionedListing:
        """The same listing as one stream, for a server that does not list in key order."""
        log.info(
            "s3://%s/%s: the server lists keys out of S3's order; listing again with one stream",
            self._bucket,
            self._prefix,
        )
        return PartitionedListing(
            self._list,
            self._bucket,
            self._prefix,
            concurrency=1,
            max_keys=self._max_keys,
            key_filter=self._key_filter,
            on_progress=self._on_progress,
            progress_every_s=self._progress_every_s,
        )

    @property
    def requests(self) -> int:
        """How many listing streams were opened (ranges, plus the discovery listing)."""
        return self._requests

    def close(self) -> None:
        """Stop listing (threads end after their current page)."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    # -- listing threads ------------------------------------------------------------------

    def _start(self) -> None:
        if self._threads:
            return
        self._started_at = self._reported_at = time.monotonic()
        for n in range(self._concurrency):
            thread = threading.Thread(target=self._work, name=f"s3torch-list-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        try:
            while True:
                with self._lock:
                    task = self._take()
                if task is None:
                    return
                if task is _DISCOVER:
                    self._discover()
                else:
                    self._list_range(task)
        except BaseException as error:  # handed to the consumer
            with self._lock:
                if self._error is None:
                    self._error = error
                self._lock.notify_all()

    def _take(self) -> Any:
        """The next thing to do (holding the lock): discovery, an unstarted range, a new
        range cut from the largest one, or None when the listing is over."""
        while not self._stopped and self._error is None and self._open:
            if self._discovering and self._head.started:
                self._discovering = False
                return _DISCOVER
            current: _Range | None = self._head
            while current is not None:
                if not current.started and not current.done:
                    current.started = True
                    return current
                current = current.next
            if self._learned:
                cut = self._cut_largest()
                if cut is not None:
                    cut.started = True
                    return cut
            self._lock.wait(0.05 if self._learned else None)
        return None

    def _stream(self, after: str | None, delimiter: str = "", prefix: str | None = None) -> Any:
        self._requests += 1
        arguments: dict[str, Any] = {}
        if after is not None:
            arguments["start_after"] = after
        return self._list(
            self._bucket,
            self._prefix if prefix is None else prefix,
            delimiter,
            self._max_keys,
            **arguments,
        )

    def _list_range(self, part: _Range) -> None:
        with self._lock:
            after = part.reached
        stream = self._stream(after)
        key_filter = self._key_filter
        for page in stream:
            columns = PageColumns.of_page(page)
            keys = columns.key_list()
            with self._lock:
                if self._stopped or self._error is not None:
                    return
                if self._parallel and not _in_order(part.last, keys):
                    self._out_of_order()
                    if self._error is not None:
                        return
                chosen: range | list[int] = range(len(keys))
                if after is not None and keys and keys[0] <= _utf8(after):
                    # Some servers (SeaweedFS) resume after a folder's name rather than after
                    # the key: keys that sort before ``after`` belong to earlier ranges.
                    above = _utf8(after)
                    chosen = [i for i in chosen if keys[i] > above]
                upto = part.upto
                ended = bool(chosen) and upto is not None and keys[chosen[-1]] > _utf8(upto)
                if ended:
                    below = _utf8(upto or "")
                    chosen = [i for i in chosen if keys[i] <= below]
                if chosen:
                    first, last = columns.key(chosen[0]), columns.key(chosen[-1])
                    self._learn(first, last)
                    self._covered += self._position(last) - self._position(part.reached)
                    part.last = last
                    self._count += len(chosen)
                    if key_filter is not None:
                        chosen = [i for i in chosen if key_filter(columns.key(i))]
                    part.rows.add_columns(self._bucket, columns, chosen)
                if ended:
                    break
                self._lock.notify_all()
            self._report()
        with self._lock:
            self._covered += max(0.0, self._position(part.upto) - self._position(part.reached))
            part.done = True
            self._open -= 1
            self._learned = True
            self._lock.notify_all()

    def _discover(self) -> None:
        """Cut at the prefix's common prefixes (descending into a lone one)."""
        prefix = self._prefix
        folders: list[str] = []
        for _ in range(_DEPTH):
            page = next(iter(self._stream(None, _DELIMITER, prefix)), None)
            if page is None:
                break
            folders = list(page.common_prefixes)
            entries = sorted([*folders, *(info.key for info in page.object_info)])
            if folders != sorted(folders) or len(set(entries)) != len(entries):
                with self._lock:
                    self._out_of_order()
                return
            if len(folders) != 1 or page.object_info:
                break
            prefix = folders[0]
            with self._lock:
                self._shared = prefix
        with self._lock:
            for folder in folders:
                self._learn(folder)
            wanted = 4 * self._concurrency
            step = max(1, len(folders) // wanted)
            for folder in folders[step - 1 :: step] if len(folders) > 1 else folders:
                # Before the folder's name: "a" puts "a/..." (and "a-1", "a.txt") after it.
                self._cut_at(folder[: -len(_DELIMITER)])
            self._learned = True
            self._lock.notify_all()

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._reported_at < self._progress_every_s:
            return
        self._reported_at = now
        log.info(
            "listing s3://%s/%s: %d keys so far (%.0f s, %d ranges)",
            self._bucket,
            self._prefix,
            self._count,
            now - self._started_at,
            self._requests,
        )
        if self._on_progress is not None:
            self._on_progress(self._count)

    # -- where to cut (holding the lock) --------------------------------------------------

    def _learn(self, *keys: str) -> None:
        alphabet = self._alphabet
        for key in keys:
            if self._base is None:
                self._base = key
            elif not key.startswith(self._base):
                self._base = os.path.commonprefix([self._base, key])  # noqa: RUF071 (text)
            for char in key[len(self._prefix) : len(self._prefix) + _LEARN_CHARS]:
                i = bisect.bisect_left(alphabet, char)
                if i == len(alphabet) or alphabet[i] != char:
                    alphabet.insert(i, char)

    def _position(self, key: str | None) -> float:
        """Where ``key`` lies in the key space seen so far, from 0 to 1 (None: the end):
        its characters after the prefix every key seen shares, as digits of the alphabet seen."""
        base_text = self._base or self._prefix
        if key is None:
            return 1.0
        if not key.startswith(base_text):
            return 0.0 if key < base_text else 1.0
        alphabet = self._alphabet
        base = len(alphabet) + 2
        position, scale = 0.0, 1.0
        for char in key[len(base_text) : len(base_text) + _POSITION_CHARS]:
            scale /= base
            position += (bisect.bisect_left(alphabet, char) + 1) * scale
        return position

    def _key_at(self, position: float) -> str:
        """A key string near ``position`` (the inverse of :meth:`_position`); characters of
        ``/`` and below are replaced by the lowest one above (see :func:`_safe_cut`)."""
        alphabet = self._alphabet
        base = len(alphabet) + 2
        chars = []
        for _ in range(_POSITION_CHARS):
            position *= base
            digit = int(position)
            position -= digit
            if digit == 0:
                break
            chars.append(alphabet[min(digit, len(alphabet)) - 1])
        start = self._base or self._prefix
        if not _safe_cut(start + "0", self._shared):
            start = self._shared
        return start + "".join(max(char, "0") for char in chars)

    def _out_of_order(self) -> None:
        """The server lists out of S3's key order (SeaweedFS puts ``a/x`` before ``a x``): no
        more cuts; if some were made, the listing is made again with one stream."""
        self._unordered = True
        if self._cut and self._error is None:
            self._error = _Unordered(
                f"s3://{self._bucket}/{self._prefix}: the server lists keys out of S3's order "
                "(after ranges were cut and given out); list with list_concurrency=1"
            )
        self._lock.notify_all()

    def _cut_largest(self) -> _Range | None:
        """Cut the range with the most key space left in two, if it likely holds at least two
        more pages (by the keys per unit of key space listed so far)."""
        if (
            self._unordered
            or not self._alphabet
            or self._requests >= _MAX_RANGES_PER_THREAD * self._concurrency
        ):
            return None
        # Keys per unit of key space, so far. A cut range lists one page past its end (a page
        # the next range lists too), so a range is cut only where it likely holds four more
        # pages, two on each side of the cut.
        density = self._count / self._covered if self._covered > 0 else float("inf")
        least = 4 * self._max_keys / density if density > 0 else float("inf")
        candidates = []
        current: _Range | None = self._head
        while current is not None:
            if current.started and not current.done:
                low = self._position(current.reached)
                high = self._position(current.upto)
                if high - low > least:
                    candidates.append((high - low, low, high, current))
            current = current.next
        candidates.sort(key=lambda c: -c[0])
        for _, low, high, part in candidates:
            cut = self._key_at((low + high) / 2)
            made = self._split(part, cut)
            if made is not None:
                return made
        return None

    def _cut_at(self, cut: str) -> None:
        current: _Range | None = self._head
        while current is not None:
            if current.upto is None or cut < current.upto:
                if not current.done:
                    self._split(current, cut)
                return
            current = current.next

    def _split(self, part: _Range, cut: str) -> _Range | None:
        """Cut ``part`` at ``cut`` if it lies beyond what ``part`` has listed and before its
        end: ``part`` then ends at ``cut`` and a new range follows it."""
        reached = part.reached
        if self._unordered or not _safe_cut(cut, self._shared):
            return None
        if (reached is not None and cut <= reached) or (part.upto is not None and cut >= part.upto):
            return None
        if not cut.startswith(self._prefix) or cut == self._prefix:
            return None
        made = _Range(cut, part.upto)
        made.next = part.next
        part.next = made
        part.upto = cut
        self._cut = True
        self._open += 1
        self._lock.notify_all()
        return made


_DISCOVER = object()


class _Unordered(RuntimeError):
    """Raised inside the listing: the server was seen listing out of key order after ranges
    were cut."""


def _safe_cut(cut: str, shared: str) -> bool:
    """Whether ``cut`` is what every key starts with, then only characters above ``/``.

    Such a cut splits the keys the same way in S3's byte order and in the order of a server
    that lists folder by folder (SeaweedFS: ``a/x`` before ``a x``, as if ``/`` sorted first):
    where a key first differs from the cut, the cut's character is above ``/`` and the key's is
    either above it too (compared alike) or ``/`` or below (before the cut either way). So no
    key is missed or listed twice on either kind of server, and each range's keys come in the
    server's own order.
    """
    return cut.startswith(shared) and len(cut) > len(shared) and min(cut[len(shared) :]) > "/"


def _utf8(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _in_order(last: str | None, keys: list[bytes]) -> bool:
    """Whether the page's keys (UTF-8) follow ``last`` and each other in S3's (code point)
    order, which is their bytes' order."""
    if not keys:
        return True
    if last is not None and keys[0] <= _utf8(last):
        return False
    return all(map(bytes.__lt__, keys, itertools.islice(keys, 1, None)))
