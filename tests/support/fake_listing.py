"""A ListObjectsV2 stand-in with S3's semantics, for testing the partitioned listing over key sets
no server could be filled with in a test (millions of keys, every unicode plane).

:class:`FakeLister.list_objects` has :meth:`S3Client.list_objects`'s signature plus
``start_after``: keys in UTF-8 byte order, ``prefix``, ``delimiter`` (common prefixes count
towards ``max_keys`` and are returned once), ``start_after`` (keys after it, whether or not it
is a key), ``max_keys`` per page, and continuation from the last entry of a page. It counts the
pages it answered, and can pause before each (as a server's round trip would).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from s3torch import ObjectInfo


class FakePage(NamedTuple):
    object_info: list[ObjectInfo]
    common_prefixes: list[str]


class FakeLister:
    def __init__(
        self, keys: Iterable[str], delay_s: float = 0.0, folders_first: bool = False
    ) -> None:
        # folders_first: list as SeaweedFS does, "a/x" before "a x" ("/" sorting first), not in
        # S3's byte order; start_after and prefixes follow that order too.
        self._order = _folders_first if folders_first else _utf8
        self.delay_s = delay_s  # a pause before each page (the GIL released, as in a real wait)
        self.keys = sorted(set(keys), key=self._order)
        self._encoded = [self._order(k) for k in self.keys]
        self.pages = 0
        self.streams = 0
        self.start_afters: list[str | None] = []
        self._lock = threading.Lock()

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        max_keys: int = 1000,
        start_after: str | None = None,
    ) -> Iterator[FakePage]:
        with self._lock:
            self.streams += 1
            self.start_afters.append(start_after)
        return self._pages(prefix, delimiter, max_keys, start_after)

    def _pages(
        self, prefix: str, delimiter: str, max_keys: int, start_after: str | None
    ) -> Iterator[FakePage]:
        encoded_prefix = self._order(prefix)
        # The first entry to return: after start_after, and at or after the prefix.
        i = bisect.bisect_left(self._encoded, encoded_prefix)
        if start_after is not None:
            i = max(i, bisect.bisect_right(self._encoded, self._order(start_after)))
        while True:
            objects: list[ObjectInfo] = []
            prefixes: list[str] = []
            while len(objects) + len(prefixes) < max_keys and i < len(self.keys):
                key = self.keys[i]
                if not key.startswith(prefix):
                    i = len(self.keys)
                    break
                rest = key[len(prefix) :]
                cut = rest.find(delimiter) if delimiter else -1
                if cut < 0:
                    objects.append(ObjectInfo(key, f'"{i:032x}"', len(key), 1_700_000_000 + i))
                    i += 1
                    continue
                folder = prefix + rest[: cut + len(delimiter)]
                if start_after is not None and self._order(folder) <= self._order(start_after):
                    # S3 returns a folder only when it sorts after start_after.
                    pass
                else:
                    prefixes.append(folder)
                # Skip every key under this folder.
                i = bisect.bisect_left(self._encoded, self._order(folder) + b"\xff", i)
            more = i < len(self.keys) and self.keys[i].startswith(prefix)
            if self.delay_s:
                time.sleep(self.delay_s)
            with self._lock:
                self.pages += 1
            yield FakePage(objects, prefixes)
            if not more:
                return


def _utf8(key: str) -> bytes:
    return key.encode("utf-8")


def _folders_first(key: str) -> bytes:
    return key.replace("/", "\x00").encode("utf-8")
