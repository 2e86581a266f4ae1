"""One listing per job: :func:`shared_table`.

Under ``torch.distributed``, every rank of a job building the same dataset would list the same
prefix: N ranks, N times the LIST requests (and N times the wait at startup). With
``share_listing=True`` the rank 0 of the default process group lists, and sends the table to the
others as a manifest's bytes (:mod:`.manifest`, with its CRC: ranks may be on other hosts, so no
``/dev/shm`` path is sent) through ``torch.distributed.broadcast_object_list``.

That is a collective: every rank must build the dataset, at the same point of its program, or
the ranks that did wait forever for the others. That is why it is not the default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .manifest import dump_manifest, load_manifest
from .table import ObjectTable

__all__ = ["ListingFailed", "shared_table"]


class ListingFailed(RuntimeError):
    """The rank that lists for the job failed; raised on every other rank."""


class _Failure:
    """What rank 0 sends when its listing failed, so that no rank waits forever."""

    def __init__(self, message: str) -> None:
        self.message = message


def _group_size() -> int:
    try:
        import torch.distributed as dist
    except ImportError:  # a torch built without distributed support
        return 1
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size())


def shared_table(list_table: Callable[[], ObjectTable], prefixes: Sequence[str]) -> ObjectTable:
    """``list_table()`` on rank 0 of the default process group, received by every other rank
    (without a process group, or with one rank: ``list_table()`` here).

    Raises:
        ListingFailed: on a rank other than 0, when rank 0's listing failed (rank 0 raises its
            own error).
        ValueError: what was received is not a whole manifest.
    """
    if _group_size() == 1:
        return list_table()
    import torch.distributed as dist

    payload: list[Any] = [None]
    failure: BaseException | None = None
    if dist.get_rank() == 0:
        try:
            payload = [dump_manifest(list_table(), list(prefixes))]
        except Exception as error:  # sent on, then raised here
            failure = error
            payload = [_Failure(f"{type(error).__name__}: {error}")]
    dist.broadcast_object_list(payload, src=0)
    if failure is not None:
        raise failure
    received = payload[0]
    if isinstance(received, _Failure):
        raise ListingFailed(f"rank 0 failed to list {', '.join(prefixes)}: {received.message}")
    if dist.get_rank() == 0:
        table, _ = load_manifest(received, "the listing")  # the same table on every rank
        return table
    table, _ = load_manifest(received, "the listing broadcast by rank 0")
    return table
