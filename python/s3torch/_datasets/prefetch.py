"""Keep the next objects' requests in flight while the caller uses the current one, bounded by
a count and by bytes."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["DEFAULT_PREFETCH_BYTES", "DEFAULT_PREFETCH_OBJECTS", "Prefetcher"]

DEFAULT_PREFETCH_OBJECTS = 32
"""Objects whose GETs may be in flight ahead of the one being transformed."""

DEFAULT_PREFETCH_BYTES = 64 * 1024 * 1024
"""Bytes (by listed size) that may be in flight ahead of the one being transformed."""

Item = TypeVar("Item")
R = TypeVar("R")
_NOTHING: Any = object()


class Prefetcher(Generic[Item, R]):
    """Open items in order, keeping the next ones in flight while the caller uses one.

    ``open_item(item)`` must start the item's request at once (a reader after ``prefetch()``, or a
    GET stream). At most ``max_objects`` opened items wait in the queue, and their sizes add up
    to at most ``max_bytes`` -- except that one item is always allowed, however large, so that
    prefetching never stops. With ``max_objects == 0`` each item is opened only when asked for.
    Sizes below zero (unknown) count as ``unknown_size``.
    """

    def __init__(
        self,
        items: Iterable[Item],
        open_item: Callable[[Item], R],
        size_of: Callable[[Item], int],
        max_objects: int,
        max_bytes: int,
        unknown_size: int,
    ) -> None:
        self._items = iter(items)
        self._open = open_item
        self._size_of = size_of
        self._max_objects = max_objects
        self._max_bytes = max_bytes
        self._unknown_size = unknown_size
        self._queue: deque[tuple[R, int]] = deque()
        self._queued_bytes = 0
        self._pending: Item = _NOTHING  # the next item, not yet opened
        self._exhausted = False

    @property
    def in_flight(self) -> int:
        """Items opened and waiting to be taken."""
        return len(self._queue)

    @property
    def in_flight_bytes(self) -> int:
        """Sum of the (listed) sizes of the waiting items."""
        return self._queued_bytes

    def _peek(self) -> Item:
        if self._pending is _NOTHING and not self._exhausted:
            self._pending = next(self._items, _NOTHING)
            self._exhausted = self._pending is _NOTHING
        return self._pending

    def _weight(self, item: Item) -> int:
        size = self._size_of(item)
        return self._unknown_size if size < 0 else size

    def _fill(self) -> None:
        while len(self._queue) < self._max_objects:
            item = self._peek()
            if item is _NOTHING:
                return
            weight = self._weight(item)
            if self._queue and self._queued_bytes + weight > self._max_bytes:
                return
            self._pending = _NOTHING
            self._queue.append((self._open(item), weight))
            self._queued_bytes += weight

    def __iter__(self) -> Prefetcher[Item, R]:
        return self

    def __next__(self) -> R:
        if self._queue:
            opened, weight = self._queue.popleft()
            self._queued_bytes -= weight
        else:
            item = self._peek()
            if item is _NOTHING:
                raise StopIteration
            self._pending = _NOTHING
            opened = self._open(item)
        # Start the next requests before handing this one over, so that they run while the
        # caller transforms it.
        self._fill()
        return opened

    def close(self) -> None:
        """Drop the waiting items (their requests are cancelled as they are released)."""
        self._queue.clear()
        self._queued_bytes = 0
        self._exhausted = True
        self._pending = _NOTHING
