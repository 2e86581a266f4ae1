"""Bytes-like views of the objects users hand to readers and writers."""

from __future__ import annotations

import sys
from typing import Any


def _tensor_bytes(obj: Any, action: str) -> memoryview | None:
    """A byte view of a contiguous CPU ``torch.Tensor``'s storage, or None for non-tensors."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(obj, torch.Tensor):
        return None
    if obj.device.type != "cpu":
        raise ValueError(f"cannot {action} a tensor on {obj.device}: use a CPU tensor")
    if not obj.is_contiguous():
        raise ValueError(f"cannot {action} a non-contiguous tensor: call .contiguous() first")
    flat = obj.detach().reshape(-1)
    if flat.dtype != torch.uint8:
        flat = flat.view(torch.uint8)
    return memoryview(flat.numpy())


def writable_bytes_view(obj: Any) -> memoryview:
    """A writable, contiguous, one-byte-per-item view of ``obj`` (a bytearray, memoryview,
    numpy array, mmap, or contiguous CPU tensor)."""
    view = _tensor_bytes(obj, "read into")
    if view is None:
        try:
            view = memoryview(obj)
        except TypeError:
            raise TypeError(
                f"readinto() needs a writable bytes-like object or a CPU tensor, "
                f"not {type(obj).__name__}"
            ) from None
    if view.readonly:
        raise TypeError(f"readinto() needs a writable buffer; {type(obj).__name__} is read-only")
    if not view.c_contiguous:
        raise ValueError("readinto() needs a contiguous buffer")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def readable_bytes(obj: Any) -> Any:
    """``obj`` if it supports the buffer protocol, else a byte view of a CPU tensor."""
    view = _tensor_bytes(obj, "write")
    return obj if view is None else view
