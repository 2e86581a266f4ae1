"""asyncio glue: one native :class:`~s3torch._core.Completions` per event loop.

The native side completes requests from the CRT's threads by marking them ready and writing a
byte to a socket; the loop watches that socket (``loop.add_reader``) and, on its own thread,
polls the ready requests and resolves their futures. No thread is started per request, and the
CRT's threads never take the GIL. Cancelling the awaiting task cancels the request.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from . import _core

__all__ = ["await_request", "list_pages"]


class _LoopCompletions:
    """The requests of one event loop, and the timer that applies the stall limits to them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Made in this process: after a fork, an inherited loop's requests raise a clear error.
        self.native = _core.Completions()
        self._watch_timer: asyncio.TimerHandle | None = None
        # The loop holds the reader, and the table below holds this object, for as long as the
        # loop lives: the socket it watches is never closed under it.
        loop.add_reader(self.native.fileno(), self.native.run_ready)

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure the limits are checked while requests are pending."""
        if self._watch_timer is None:
            self._watch_timer = loop.call_later(0.1, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watch_timer = None
        delay = self.native.watch()
        if delay is not None:
            self._watch_timer = loop.call_later(delay, self._tick, loop)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCompletions] = (
    weakref.WeakKeyDictionary()
)


def _completions(loop: asyncio.AbstractEventLoop) -> _LoopCompletions:
    completions = _by_loop.get(loop)
    if completions is None:
        completions = _by_loop[loop] = _LoopCompletions(loop)
    return completions


def _cancel_if_cancelled(
    native: _core.Completions, request: int, future: asyncio.Future[Any]
) -> None:
    if future.cancelled():
        native.cancel(request)


async def await_request(start: Callable[..., int], client: _core.S3Client, *args: Any) -> Any:
    """Start a request with ``start(completions, client, future, *args)`` (a native
    ``Completions`` method, unbound) and await its result on the running loop."""
    loop = asyncio.get_running_loop()
    completions = _completions(loop)
    future: asyncio.Future[Any] = loop.create_future()
    request = start(completions.native, client, future, *args)
    if not future.done():
        future.add_done_callback(partial(_cancel_if_cancelled, completions.native, request))
        completions.watch(loop)
    return await future


async def list_pages(
    client: _core.S3Client,
    bucket: str,
    prefix: str,
    delimiter: str,
    max_keys: int,
    start_after: str | None = None,
) -> AsyncIterator[_core.ListObjectResult]:
    """The pages of a listing, the next one requested while the caller uses this one."""
    start = _core.Completions.list_objects
    next_page = asyncio.ensure_future(
        await_request(start, client, bucket, prefix, delimiter, max_keys, None, start_after)
    )
    try:
        while True:
            page, token = await next_page
            if token is not None:
                next_page = asyncio.ensure_future(
                    await_request(start, client, bucket, prefix, delimiter, max_keys, token)
                )
            yield page
            if token is None:
                return
    finally:
        if not next_page.done():
            next_page.cancel()
