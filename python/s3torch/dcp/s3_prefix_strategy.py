"""Where each rank's checkpoint files go: prefix strategies for :class:`S3StorageWriter`.

S3 scales request rates per key prefix, and a new prefix starts with a modest limit. When many
ranks write (and later read) their shards under one prefix at once, S3 may answer 503 SlowDown.
A prefix strategy puts each rank's files under a prefix of its own, spread so that the prefixes
differ in their first characters, which is where S3 splits partitions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch.distributed as dist

__all__ = [
    "BinaryPrefixStrategy",
    "DefaultPrefixStrategy",
    "HexPrefixStrategy",
    "NumericPrefixStrategy",
    "RoundRobinPrefixStrategy",
    "S3PrefixStrategyBase",
]


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _check_rank(rank: object) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise ValueError(f"rank must be a non-negative integer, got {rank!r}")
    return rank


def _check_epoch(epoch_num: object) -> None:
    if epoch_num is not None and (isinstance(epoch_num, bool) or not isinstance(epoch_num, int)):
        raise ValueError(f"epoch_num must be None or an integer, got {epoch_num!r}")


def _epoch_folder(epoch_num: int | None) -> str:
    return "" if epoch_num is None else f"epoch_{epoch_num}/"


class S3PrefixStrategyBase(ABC):
    """Decides the start of the file names of each rank's checkpoint files.

    A strategy is called with a rank and returns a prefix; the rank's files are named
    ``<prefix><n>.distcp`` under the checkpoint path. Subclasses implement
    :meth:`generate_prefix`.
    """

    def __call__(self, rank: int) -> str:
        """The prefix for ``rank``'s files."""
        return self.generate_prefix(rank)

    @abstractmethod
    def generate_prefix(self, rank: int) -> str:
        """The prefix for ``rank``'s files (may contain ``/``)."""


class DefaultPrefixStrategy(S3PrefixStrategyBase):
    """All files side by side under the checkpoint path: ``__<rank>_``, as PyTorch's own
    ``FileSystemWriter`` names them."""

    def generate_prefix(self, rank: int) -> str:
        return f"__{_check_rank(rank)}_"


class NumericPrefixStrategy(S3PrefixStrategyBase):
    """Each rank's files under a folder named by a number written in ``base``, digits reversed.

    Rank ``r`` uses number ``r % prefix_count``, written with at least ``min_prefix_length``
    digits and then reversed, so that consecutive ranks differ in the *first* character:
    ``<digits>/[epoch_<n>/]__<rank>_``. For example, with base 2 and 4 prefixes, ranks 0-3 write
    under ``0000000000/``, ``1000000000/``, ``0100000000/`` and ``1100000000/``.

    Args:
        base: the number base, 2 to 36 (digits ``0-9`` then ``a-z``).
        epoch_num: when set, files go one folder deeper, in ``epoch_<epoch_num>/``.
        min_prefix_length: the fewest digits to write (more are used when ``prefix_count``
            needs them).
        prefix_count: how many distinct prefixes to use; default: the world size when
            ``torch.distributed`` is initialised when the strategy is made, else 1.

    Raises:
        ValueError: ``base``, ``min_prefix_length`` or ``prefix_count`` is not a positive
            integer in range, or ``epoch_num`` is not an integer.
    """

    def __init__(
        self,
        base: int,
        epoch_num: int | None = None,
        min_prefix_length: int = 10,
        prefix_count: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(base, bool) or not isinstance(base, int) or not 2 <= base <= len(_DIGITS):
            raise ValueError(f"base must be an integer from 2 to {len(_DIGITS)}, got {base!r}")
        if (
            isinstance(min_prefix_length, bool)
            or not isinstance(min_prefix_length, int)
            or min_prefix_length < 1
        ):
            raise ValueError(
                f"min_prefix_length must be a positive integer, got {min_prefix_length!r}"
            )
        _check_epoch(epoch_num)
        if prefix_count is not None and (
            isinstance(prefix_count, bool) or not isinstance(prefix_count, int) or prefix_count < 1
        ):
            raise ValueError(f"prefix_count must be a positive integer, got {prefix_count!r}")
        if prefix_count is None:
            prefix_count = dist.get_world_size() if dist.is_initialized() else 1
        self.base = base
        self.epoch_num = epoch_num
        self.min_prefix_len = min_prefix_length
        self.prefix_count = prefix_count
        self.prefix_map = self._generate_prefix_map()

    def generate_prefix(self, rank: int) -> str:
        folder = self.prefix_map[_check_rank(rank) % len(self.prefix_map)]
        return f"{folder}/{_epoch_folder(self.epoch_num)}__{rank}_"

    def _generate_prefix_map(self) -> list[str]:
        """The folder name of each of the ``prefix_count`` prefixes."""
        width = max(self._calculate_prefix_length(), self.min_prefix_len)
        return [self._format_number(i, width)[::-1] for i in range(self.prefix_count)]

    def _calculate_prefix_length(self) -> int:
        """The fewest digits that give ``prefix_count`` distinct numbers (at least 1)."""
        digits, distinct = 1, self.base
        while distinct < self.prefix_count:
            digits += 1
            distinct *= self.base
        return digits

    def _format_number(self, number: int, length: int) -> str:
        """``number`` in ``base``, zero-padded to ``length`` digits."""
        digits = []
        while number:
            number, digit = divmod(number, self.base)
            digits.append(_DIGITS[digit])
        return "".join(reversed(digits)).rjust(length, "0")


class _FixedBasePrefixStrategy(NumericPrefixStrategy):
    """A :class:`NumericPrefixStrategy` whose subclass fixes the base (``_BASE``)."""

    _BASE: int

    def __init__(
        self,
        epoch_num: int | None = None,
        min_prefix_length: int = 10,
        prefix_count: int | None = None,
    ) -> None:
        super().__init__(
            self._BASE,
            epoch_num=epoch_num,
            min_prefix_length=min_prefix_length,
            prefix_count=prefix_count,
        )


class BinaryPrefixStrategy(_FixedBasePrefixStrategy):
    """:class:`NumericPrefixStrategy` in base 2: folders of ``0`` and ``1`` digits."""

    _BASE = 2


class HexPrefixStrategy(_FixedBasePrefixStrategy):
    """:class:`NumericPrefixStrategy` in base 16: folders of lower-case hex digits."""

    _BASE = 16


class RoundRobinPrefixStrategy(S3PrefixStrategyBase):
    """Ranks take turns over prefixes you choose: rank ``r`` writes under
    ``user_prefixes[r % len(user_prefixes)]``, as ``<prefix>/[epoch_<n>/]__<rank>_``.

    Args:
        user_prefixes: the folder names to use, in turn (kept verbatim).
        epoch_num: when set, files go one folder deeper, in ``epoch_<epoch_num>/``.

    Raises:
        ValueError: ``user_prefixes`` is empty or holds an empty name.
        TypeError: ``user_prefixes`` holds something other than a ``str``.
    """

    def __init__(self, user_prefixes: Sequence[str], epoch_num: int | None = None) -> None:
        super().__init__()
        if isinstance(user_prefixes, str):
            raise TypeError("user_prefixes must be a list of str, not one str")
        prefixes = list(user_prefixes)
        if not prefixes:
            raise ValueError("user_prefixes must not be empty")
        for prefix in prefixes:
            if not isinstance(prefix, str):
                raise TypeError(f"user_prefixes must hold str, got {type(prefix).__name__}")
            if not prefix:
                raise ValueError("user_prefixes must not hold an empty prefix")
        _check_epoch(epoch_num)
        self.user_prefixes = prefixes
        self.epoch_num = epoch_num

    def generate_prefix(self, rank: int) -> str:
        folder = self.user_prefixes[_check_rank(rank) % len(self.user_prefixes)]
        return f"{folder}/{_epoch_folder(self.epoch_num)}__{rank}_"
