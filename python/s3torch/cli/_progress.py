"""A one-line progress display on stderr, redrawn in place."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import TextIO

from ._common import human_size

_REDRAW_EVERY_S = 0.1
_BAR_WIDTH = 24


def wants_progress(no_progress: bool, stream: TextIO | None = None) -> bool:
    """Whether to draw progress: only on a terminal, and not when asked not to."""
    stream = sys.stderr if stream is None else stream
    if no_progress or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class Progress:
    """Counts bytes and items of one phase of work and, if ``enabled``, shows them.

    Workers call :meth:`add` from any thread; everything else (drawing, printing lines above
    the bar) happens on the main thread. The counters are kept whether or not anything is
    drawn, so the summaries can use them.

    Args:
        enabled: draw the bar (see :func:`wants_progress`).
        stream: where to draw it; stderr by default.
        unit: what an item is called, e.g. ``"files"`` or ``"objects"``.
    """

    def __init__(self, enabled: bool, stream: TextIO | None = None, unit: str = "files") -> None:
        self.enabled = enabled
        self._stream = sys.stderr if stream is None else stream
        self.unit = unit
        self._lock = threading.Lock()
        self._drawn = False
        self._last_draw = 0.0
        self.begin("")

    def begin(
        self, label: str, *, total_bytes: int | None = None, total_items: int | None = None
    ) -> None:
        """Start counting a new phase (and clear the previous phase's line)."""
        self.clear()
        with self._lock:
            self.label = label
            self.total_bytes = total_bytes
            self.total_items = total_items
            self.bytes_done = 0
            self.items_done = 0
            self._started = time.perf_counter()

    def add(self, nbytes: int) -> None:
        """Count ``nbytes`` more bytes transferred (thread-safe)."""
        with self._lock:
            self.bytes_done += nbytes

    def item_done(self, count: int = 1) -> None:
        with self._lock:
            self.items_done += count

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def line(self, width: int) -> str:
        """The text of the bar, at most ``width`` characters."""
        with self._lock:
            done, items = self.bytes_done, self.items_done
        elapsed = max(self.elapsed, 1e-9)
        fraction: float | None = None
        if self.total_bytes:
            fraction = done / self.total_bytes
        elif self.total_items:
            fraction = items / self.total_items
        elif self.total_bytes == 0 or self.total_items == 0:
            fraction = 1.0
        parts = [self.label] if self.label else []
        if fraction is not None:
            filled = int(min(fraction, 1.0) * _BAR_WIDTH)
            parts.append("[" + "#" * filled + "-" * (_BAR_WIDTH - filled) + "]")
            parts.append(f"{min(fraction, 1.0) * 100:3.0f}%")
        if self.total_bytes is not None:
            parts.append(f"{human_size(done)}/{human_size(self.total_bytes)}")
            parts.append(f"{human_size(done / elapsed)}/s")
        counted = f"{items:,}" if self.total_items is None else f"{items:,}/{self.total_items:,}"
        parts.append(f"{counted} {self.unit}")
        if self.total_bytes is None:
            parts.append(f"{items / elapsed:,.0f} {self.unit}/s")
        if fraction is not None and 0 < fraction < 1:
            parts.append(f"ETA {_clock(elapsed * (1 - fraction) / fraction)}")
        return "  ".join(parts)[:width]

    def render(self, force: bool = False) -> None:
        """Redraw the bar (at most ten times a second unless ``force``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < _REDRAW_EVERY_S:
            return
        self._last_draw = now
        width = shutil.get_terminal_size((80, 24)).columns - 1
        # \r to the line start, the text, then erase whatever an older, longer line left.
        self._write("\r" + self.line(width) + "\x1b[K")
        self._drawn = True

    def clear(self) -> None:
        """Erase the bar, leaving the cursor at the start of its line."""
        if self.enabled and self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    def print(self, text: str, file: TextIO) -> None:
        """Print a line without mixing it up with the bar."""
        drawn = self._drawn
        self.clear()
        print(text, file=file, flush=True)
        if drawn:
            self.render(force=True)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self.enabled = False


def _clock(seconds: float) -> str:
    """``75.2`` -> ``"1:15"``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
