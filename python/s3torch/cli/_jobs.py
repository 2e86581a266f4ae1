"""The pool of jobs the commands run their transfers on, and the clock of their summaries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ._progress import Progress

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """A job stopped because the command was interrupted or failed elsewhere."""


class JobPool:
    """Runs jobs on threads; results are handed back on the calling (main) thread.

    The client releases the GIL while it waits on the network, so threads give real
    concurrency. Jobs call :meth:`check` between chunks of work: once the pool is cancelled
    (Ctrl-C, or a failure the caller treats as fatal) it raises :class:`Cancelled`, so an
    upload aborts and a download removes its temporary file.
    """

    def __init__(self, concurrency: int, progress: Progress) -> None:
        self.concurrency = concurrency
        self.progress = progress
        self._cancelled = threading.Event()

    def check(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled()

    def cancel(self) -> None:
        self._cancelled.set()

    def run(
        self,
        work: Callable[[T], R],
        items: Iterable[T],
        on_result: Callable[[T, R], None],
        on_error: Callable[[T, BaseException], None],
    ) -> None:
        """Run ``work(item)`` for every item, at most ``concurrency`` at a time.

        ``on_result`` / ``on_error`` are called here as jobs finish. An exception raised by
        them, or a KeyboardInterrupt, cancels the remaining jobs, waits for the running ones
        to stop and propagates.
        """
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3torch-cli")
        running: dict[Future[R], T] = {}
        todo = iter(items)
        exhausted = False
        try:
            while True:
                # Keep a little queue so that a worker never waits for the next job.
                while not exhausted and len(running) < 2 * self.concurrency:
                    try:
                        item = next(todo)
                    except StopIteration:
                        exhausted = True
                        break
                    running[pool.submit(work, item)] = item
                if not running:
                    break
                done, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    item = running.pop(future)
                    error = future.exception()
                    if error is None:
                        on_result(item, future.result())
                    elif not isinstance(error, Cancelled):
                        on_error(item, error)
                self.progress.render()
        except BaseException:
            self.cancel()
            for future in running:
                future.cancel()
            pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
