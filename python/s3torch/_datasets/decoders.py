"""Decoders for the fields of tar-shard samples, chosen by extension."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any

from .tar import TarShardError

__all__ = ["DEFAULT_DECODERS", "Decoder", "choose_decoders", "decode_sample"]


def _decode_int(data: bytes) -> int:
    return int(data.decode("utf-8").strip())


def _decode_text(data: bytes) -> str:
    return data.decode("utf-8")


def _decode_json(data: bytes) -> Any:
    return json.loads(data)


def _decode_npy(data: bytes) -> Any:
    import numpy

    return numpy.load(io.BytesIO(data), allow_pickle=False)


def _decode_pth(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _decode_image(data: bytes) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("decoding images needs Pillow: pip install pillow") from None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


Decoder = Callable[[bytes], Any]

DEFAULT_DECODERS: dict[str, Decoder] = {
    **dict.fromkeys(("cls", "cls2", "class", "count", "index", "inx", "id"), _decode_int),
    **dict.fromkeys(("txt", "text", "transcript"), _decode_text),
    **dict.fromkeys(("json", "jsn"), _decode_json),
    "npy": _decode_npy,
    "pth": _decode_pth,
    **dict.fromkeys(
        ("jpg", "jpeg", "png", "ppm", "pgm", "pbm", "pnm", "bmp", "gif", "tif", "tiff", "webp"),
        _decode_image,
    ),
}
"""Decoders by extension: integers (``cls``...), text, JSON, NumPy ``.npy`` (no pickles),
``torch.save`` files (``weights_only``), and images as ``PIL.Image`` (needs Pillow)."""


def decode_sample(
    sample: Mapping[str, Any], decoders: Mapping[str, Decoder] = DEFAULT_DECODERS
) -> dict[str, Any]:
    """Decode a sample's fields by extension: the whole extension first (``seg.png``), then its
    last part (``png``); fields with no decoder, and ``__key__``/``__url__``, are kept as
    they are.

    Raises:
        TarShardError: a decoder failed; the message names the sample, field and shard.
    """
    decoded: dict[str, Any] = {}
    for field, value in sample.items():
        decoder = None
        if not field.startswith("__"):
            decoder = decoders.get(field) or decoders.get(field.rsplit(".", 1)[-1])
        if decoder is None or not isinstance(value, (bytes, bytearray, memoryview)):
            decoded[field] = value
            continue
        try:
            decoded[field] = decoder(bytes(value))
        except ImportError:
            raise
        except Exception as error:
            raise TarShardError(
                f"cannot decode field {field!r} of sample {sample.get('__key__')!r}: {error}",
                uri=str(sample.get("__url__", "?")),
                key=sample.get("__key__"),
            ) from error
    return decoded


def choose_decoders(decode: bool | Mapping[str, Decoder]) -> dict[str, Decoder]:
    if decode is True:
        return dict(DEFAULT_DECODERS)
    if decode is False or decode is None:
        return {}
    if isinstance(decode, Mapping):
        for extension, function in decode.items():
            if not isinstance(extension, str) or not callable(function):
                raise TypeError(
                    f"decode must map extensions (str) to functions, got {extension!r}: "
                    f"{function!r}"
                )
        return {**DEFAULT_DECODERS, **{k.lower(): v for k, v in decode.items()}}
    raise TypeError(f"decode must be a bool or a mapping, not {type(decode).__name__}")
