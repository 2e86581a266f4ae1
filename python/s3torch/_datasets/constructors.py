"""What the public datasets' constructors share: :func:`build_from`.

``from_prefix``, ``from_objects`` and ``from_manifest`` spell out every argument in their
signatures (for IDEs, and because ``tests/test_compat.py`` pins them against s3torchconnector's)
but pass all of them on unchanged except the one naming the objects; :func:`build_from` does
that passing on once, from the classmethod's ``locals()``, so that an argument added to a
signature cannot be forgotten in one of the forwarding calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .source import ObjectSource

__all__ = ["build_from", "build_from_prefix"]

D = TypeVar("D")


def build_from(
    cls: Callable[..., D],
    source: ObjectSource,
    arguments: Mapping[str, Any],
    objects: str,
    *consumed: str,
) -> D:
    """``cls(region, source, endpoint, **rest)``, where ``arguments`` is the ``locals()`` of a
    ``from_*`` classmethod taken before it binds any variable of its own, and ``rest`` is all of
    it but ``cls``, ``region``, ``endpoint``, the argument named ``objects`` (which ``source``
    was made from) and those named in ``consumed`` (which ``source`` took too)."""
    dropped = ("cls", objects, *consumed)
    rest = {name: value for name, value in arguments.items() if name not in dropped}
    return cls(rest.pop("region"), source, rest.pop("endpoint"), **rest)


def build_from_prefix(
    cls: Callable[..., D],
    arguments: Mapping[str, Any],
    key_filter: Callable[[str], bool] | None = None,
) -> D:
    """:func:`build_from` for a ``from_prefix``: the source is every object under
    ``arguments["s3_uri"]``, listed with its ``list_concurrency`` and ``share_listing``."""
    source = ObjectSource.from_prefixes(
        arguments["s3_uri"],
        key_filter,
        list_concurrency=arguments["list_concurrency"],
        share_listing=arguments["share_listing"],
    )
    return build_from(cls, source, arguments, "s3_uri", "list_concurrency", "share_listing")
