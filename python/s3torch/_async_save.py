"""``save_async``: take a snapshot now, serialise and upload it in the background.

The snapshot is what makes it safe for training to go on at once: every tensor's data is copied
to CPU memory before the call returns (tensors that share storage still share it in the copy, so
tied weights and views are saved once, as ``torch.save`` would), and the rest of the object is
copied by a pickle round trip. The copy is then passed to ``torch.save`` on one background
thread, whose output streams to S3 as it is produced.

Saves run one at a time, in the order they were asked for, so two saves to one key end with the
later one. Each unfinished save holds its snapshot in memory; to bound that, at most
``MAX_UNFINISHED_SAVES`` may be unfinished at once, and a further call waits (before taking its
snapshot) until the oldest has finished.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import io
import os
import pickle
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._config import S3ClientConfig
from ._uri import parse_object_uri
from .s3checkpoint import ClientLike, _resolve_client, save

if TYPE_CHECKING:
    import torch

__all__ = ["MAX_UNFINISHED_SAVES", "save_async"]

MAX_UNFINISHED_SAVES = 2
"""Most saves from :func:`save_async` that may be pending or running at once (one uploading,
one waiting, by default); the next call blocks until one finishes."""


def save_async(
    obj: object,
    s3_uri: str,
    *,
    client: ClientLike | None = None,
    region: str | None = None,
    endpoint: str | None = None,
    s3client_config: S3ClientConfig | None = None,
    storage_class: str | None = None,
    **torch_save_kwargs: Any,
) -> concurrent.futures.Future[None]:
    """Like :func:`s3torch.save`, but serialise and upload in the background.

    Before it returns, the call copies the state it is given: tensor data to CPU memory (GPU
    tensors included), everything else by a pickle round trip. The caller may then change the
    model, step the optimizer or free GPU memory at once: the checkpoint holds the values as they
    were at the call. The upload behaves as in :func:`s3torch.save`: the object appears only when
    it is complete, and a failed save leaves the previous object under the key untouched.

    Saves run one at a time on a single background thread, in call order. While
    :data:`MAX_UNFINISHED_SAVES` (2) are pending or running, a new call blocks until the oldest
    finishes, so at most that many snapshots are held in memory. Pending saves are finished
    before the interpreter exits.

    Args:
        obj: what to save, as for :func:`s3torch.save`.
        s3_uri: where to save it, ``s3://bucket/key``.
        client: as for :func:`s3torch.save`.
        region: as for :func:`s3torch.save`; only without ``client``.
        endpoint: as for :func:`s3torch.save`; only without ``client``.
        s3client_config: as for :func:`s3torch.save`; only without ``client``.
        storage_class: S3 storage class of the new object, e.g. ``"STANDARD_IA"``.
        **torch_save_kwargs: passed to ``torch.save``.

    Returns:
        A :class:`concurrent.futures.Future` whose ``result()`` returns ``None`` once the object
        is written, or raises what went wrong: an object that cannot be copied or pickled, an
        error from ``torch.save`` or from S3.

    Raises:
        ValueError: ``s3_uri`` is not an ``s3://`` URI or has no key.
        TypeError: ``client`` is given together with ``region``/``endpoint``/``s3client_config``.

    Example::

        future = s3torch.save_async(model.state_dict(), "s3://my-bucket/ckpt/step-1000.pt")
        optimizer.step()          # safe: the checkpoint keeps the values from before
        ...
        future.result()           # wait for it, and raise if the save failed
    """
    parse_object_uri(s3_uri)
    s3 = _resolve_client(client, region, endpoint, s3client_config)
    saver = _saver()
    saver.slots.acquire()
    future: concurrent.futures.Future[None] = concurrent.futures.Future()
    future.add_done_callback(lambda _: saver.slots.release())
    try:
        snapshot, locations = _snapshot(obj, torch_save_kwargs.get("pickle_module"))
    except BaseException as err:
        future.set_exception(err)
        if not isinstance(err, Exception):
            raise
        return future

    def upload() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            with _original_locations(locations):
                save(snapshot, s3_uri, client=s3, storage_class=storage_class, **torch_save_kwargs)
        except BaseException as err:
            future.set_exception(err)
        else:
            future.set_result(None)

    try:
        saver.executor.submit(upload)
    except BaseException as err:  # the interpreter is shutting down
        future.set_exception(err)
    return future


class _Saver:
    """The background thread, and the slots that bound how many saves may be unfinished."""

    def __init__(self) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="s3torch-save"
        )
        self.slots = threading.BoundedSemaphore(MAX_UNFINISHED_SAVES)


_saver_instance: _Saver | None = None
_saver_lock = threading.Lock()


def _saver() -> _Saver:
    global _saver_instance
    with _saver_lock:
        if _saver_instance is None:
            _saver_instance = _Saver()
        return _saver_instance


def _forget_saver_in_child() -> None:
    # A forked child has no copy of the parent's background thread; it starts its own if it saves.
    global _saver_instance, _saver_lock
    _saver_instance = None
    _saver_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_saver_in_child)


def _snapshot(obj: object, pickle_module: Any = None) -> tuple[object, dict[int, str]]:
    """A copy of ``obj`` that shares no mutable state with it, tensors copied to CPU memory.

    Plain tensors (dense, strided, ``torch.Tensor`` or ``nn.Parameter``) are handed across the
    pickle round trip by reference to a CPU copy of their storage; a storage shared by several
    tensors is copied once and stays shared. Everything else, including tensor types this does
    not know, is copied by pickling, which ``torch.save`` requires of it anyway.

    Also returns, for each copied storage that was not on the CPU, the location ``torch.save``
    would have recorded for the original (``"cuda:0"``, ...), keyed by the copy's ``_cdata``.
    """
    module = pickle_module if hasattr(pickle_module, "Pickler") else pickle
    copier = _TensorCopier()

    class SnapshotPickler(module.Pickler):  # type: ignore[misc,name-defined]
        def persistent_id(self, value: object) -> int | None:
            return copier.persistent_id(value)

    class SnapshotUnpickler(module.Unpickler):  # type: ignore[misc,name-defined]
        def persistent_load(self, pid: int) -> torch.Tensor:
            return copier.copies[pid]

    buffer = io.BytesIO()
    SnapshotPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    buffer.seek(0)
    return SnapshotUnpickler(buffer).load(), copier.locations


# While a snapshot is being saved, the storages copied off an accelerator are tagged with the
# device they came from, so that the checkpoint loads back onto it, as that of the original would.
_locations: dict[int, str] = {}
_locations_lock = threading.Lock()
_tagger_registered = False


def _tag_original_location(storage: Any) -> str | None:
    if not _locations:
        return None
    return _locations.get(getattr(storage, "_cdata", -1))


def _restore_elsewhere(storage: Any, location: str) -> None:
    return None  # loading is left to the deserializers of the devices themselves


@contextlib.contextmanager
def _original_locations(locations: dict[int, str]) -> Iterator[None]:
    global _tagger_registered
    if not locations:
        yield
        return
    import torch.serialization

    with _locations_lock:
        if not _tagger_registered:
            taken = {entry[0] for entry in getattr(torch.serialization, "_package_registry", [])}
            # Before the CPU's tagger (priority 10); a priority nobody has, as ties fail to sort.
            priority = next(p for p in range(9, -1000, -1) if p not in taken)
            torch.serialization.register_package(
                priority, _tag_original_location, _restore_elsewhere
            )
            _tagger_registered = True
        _locations.update(locations)
    try:
        yield
    finally:
        with _locations_lock:
            for key in locations:
                _locations.pop(key, None)


class _TensorCopier:
    def __init__(self) -> None:
        self.copies: list[torch.Tensor] = []
        # id() of each tensor seen -> (index of its copy, the tensor, kept alive so ids are unique)
        self._seen: dict[int, tuple[int, torch.Tensor]] = {}
        self._storages: dict[int, Any] = {}
        self.locations: dict[int, str] = {}

    def persistent_id(self, value: object) -> int | None:
        import torch

        if not isinstance(value, torch.Tensor) or not _plain_tensor(value):
            return None
        seen = self._seen.get(id(value))
        if seen is not None:
            return seen[0]
        self.copies.append(self._copy(value))
        index = len(self.copies) - 1
        self._seen[id(value)] = (index, value)
        return index

    def _copy(self, tensor: torch.Tensor) -> torch.Tensor:
        import torch

        storage: Any = tensor.untyped_storage()
        copy = self._storages.get(storage._cdata)
        if copy is None:
            size = storage.nbytes()
            target = torch.empty(size, dtype=torch.uint8)
            if storage.device.type == "cpu":
                # A plain memcpy, without the GIL: Tensor.copy_ would split it over OpenMP
                # threads, whose start-up costs more than the copy for the many small tensors
                # of a state dict, and much more on a busy machine.
                if size:
                    ctypes.memmove(target.data_ptr(), storage.data_ptr(), size)
            else:
                target.copy_(torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage))
            copy = target.untyped_storage()
            if storage.device.type != "cpu":
                self.locations[copy._cdata] = torch.serialization.location_tag(storage)
            self._storages[storage._cdata] = copy
        result = torch.empty(0, dtype=tensor.dtype).set_(
            copy, tensor.storage_offset(), tensor.size(), tensor.stride()
        )
        if isinstance(tensor, torch.nn.Parameter):
            return torch.nn.Parameter(result, requires_grad=tensor.requires_grad)
        return result.requires_grad_(tensor.requires_grad)


def _plain_tensor(tensor: torch.Tensor) -> bool:
    """True for tensors whose whole state is dtype, shape, strides and the bytes of a storage."""
    import torch

    return (
        type(tensor) in (torch.Tensor, torch.nn.Parameter)
        and tensor.layout == torch.strided
        and tensor.device.type != "meta"
        and not tensor.is_quantized
        and not tensor.is_conj()
        and not tensor.is_neg()
        and not getattr(tensor, "__dict__", None)
    )
