"""Argument checks shared by every public constructor and function.

One rule for every whole-number argument, so that all of s3torch answers bad input the same way:
a value of the wrong type (including ``bool``, which is an ``int`` subclass) is a ``TypeError``,
a value of the right type outside its range is a ``ValueError``, and both messages name the
argument and show the value.
"""

from __future__ import annotations

__all__ = ["check_int", "check_optional_int"]


def _show(value: object) -> str:
    """A short repr() of ``value``, safe for integers too large for ``str()``."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than sys.get_int_max_str_digits() allows
        return f"<{type(value).__name__} too large to display>"
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` if it is an ``int`` within ``[minimum, maximum]``; raise naming ``name``.

    Raises:
        TypeError: ``value`` is not an ``int`` (``bool`` is refused too).
        ValueError: ``value`` is below ``minimum`` or above ``maximum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({_show(value)})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={_show(value)} is out of range: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={_show(value)} is out of range: must be at most {maximum}")
    return value


def check_optional_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """Like :func:`check_int`, but ``None`` is accepted and returned as is."""
    if value is None:
        return None
    return check_int(name, value, minimum=minimum, maximum=maximum)
