"""Where a dataset's objects come from: prefixes, explicit URIs, or a ``get_dataset_objects``
callable (the s3torchconnector protocol). A dataset lists its source once, lazily."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .._uri import parse_object_uri, parse_s3_uri
from .listing import DEFAULT_LIST_CONCURRENCY, PartitionedListing, check_concurrency
from .table import UNKNOWN_SIZE, ObjectRow, ObjectTable, TableBuilder

if TYPE_CHECKING:
    from .._client import S3Client

__all__ = ["ObjectSource"]


def _normalise_uris(uris: str | Iterable[str], what: str) -> list[str]:
    if isinstance(uris, str):
        return [uris]
    if isinstance(uris, (bytes, bytearray)):
        raise TypeError(f"{what} must be a str or an iterable of str, not bytes")
    try:
        found = list(uris)
    except TypeError:
        raise TypeError(
            f"{what} must be a str or an iterable of str, not {type(uris).__name__}"
        ) from None
    for uri in found:
        if not isinstance(uri, str):
            raise TypeError(f"{what} must contain str URIs, found {type(uri).__name__}: {uri!r}")
    return found


class _Prefix(NamedTuple):
    bucket: str
    prefix: str


def _drop_covered(prefixes: list[_Prefix]) -> list[_Prefix]:
    """Drop prefixes that another one in the same bucket already covers, keeping order.

    ``s3://b/data/`` covers ``s3://b/data/train/``; listing both would yield objects twice.
    Of two equal prefixes the first is kept.
    """

    def covered(i: int, candidate: _Prefix) -> bool:
        return any(
            j != i
            and other.bucket == candidate.bucket
            and candidate.prefix.startswith(other.prefix)
            and (other.prefix != candidate.prefix or j < i)
            for j, other in enumerate(prefixes)
        )

    return [p for i, p in enumerate(prefixes) if not covered(i, p)]


class ObjectSource:
    """Where a dataset's objects come from; picklable, and listed by :meth:`table`.

    Built with :meth:`from_prefixes`, :meth:`from_uris`, or :meth:`from_callable` (the
    incumbent's ``get_dataset_objects(client)`` protocol, yielding objects with ``bucket``,
    ``key`` and optionally ``object_info``).
    """

    def __init__(
        self,
        *,
        prefixes: Sequence[_Prefix] = (),
        uris: Sequence[tuple[str, str]] = (),
        function: Callable[[Any], Iterable[Any]] | None = None,
        key_filter: Callable[[str], bool] | None = None,
        table: ObjectTable | None = None,
        list_concurrency: int | None = DEFAULT_LIST_CONCURRENCY,
        share_listing: bool = False,
    ) -> None:
        self._prefixes = list(prefixes)
        self._uris = list(uris)
        self._function = function
        self._key_filter = key_filter
        self._table = table
        self.list_concurrency = check_concurrency(list_concurrency)
        if not isinstance(share_listing, bool):
            raise TypeError(f"share_listing must be a bool, not {type(share_listing).__name__}")
        self.share_listing = share_listing

    @classmethod
    def from_prefixes(
        cls,
        uris: str | Iterable[str],
        key_filter: Callable[[str], bool] | None = None,
        *,
        list_concurrency: int | None = DEFAULT_LIST_CONCURRENCY,
        share_listing: bool = False,
    ) -> ObjectSource:
        """Every object under each ``s3://bucket/prefix``; overlapping prefixes count once.
        Each prefix is listed as up to ``list_concurrency`` key ranges at once (None: see
        :data:`~.listing.DEFAULT_LIST_CONCURRENCY`); with
        ``share_listing``, one rank of the process group lists for all (see
        :func:`~.shared_listing.shared_table`).

        Raises:
            ValueError: a URI is not a valid ``s3://`` URI, or there are none; or
                ``list_concurrency`` is not a positive int.
            TypeError: ``share_listing`` is not a bool.
        """
        parsed = [_Prefix(*parse_s3_uri(uri)) for uri in _normalise_uris(uris, "s3_uri")]
        if not parsed:
            raise ValueError("s3_uri: give at least one s3:// prefix")
        return cls(
            prefixes=_drop_covered(parsed),
            key_filter=key_filter,
            list_concurrency=list_concurrency,
            share_listing=share_listing,
        )

    @classmethod
    def from_uris(cls, uris: str | Iterable[str]) -> ObjectSource:
        """Exactly the objects named, in the order given.

        Raises:
            ValueError: a URI is invalid or names a bucket without a key.
        """
        return cls(uris=[parse_object_uri(uri) for uri in _normalise_uris(uris, "object_uris")])

    @classmethod
    def from_callable(cls, function: Callable[[Any], Iterable[Any]]) -> ObjectSource:
        """Objects from ``function(client)``, each with ``bucket``, ``key``, ``object_info``."""
        if not callable(function):
            raise TypeError(f"get_dataset_objects must be callable, not {type(function).__name__}")
        return cls(function=function)

    @classmethod
    def from_table(
        cls,
        table: ObjectTable,
        prefix_uris: Sequence[str],
        key_filter: Callable[[str], bool] | None = None,
    ) -> ObjectSource:
        """Objects listed before (a manifest's table), from ``prefix_uris``; nothing is listed.
        ``key_filter`` keeps only the keys it accepts."""
        if key_filter is not None and not all(map(key_filter, map(table.key, range(len(table))))):
            table = ObjectTable.build(
                table.row(i) for i in range(len(table)) if key_filter(table.key(i))
            )
        prefixes = [_Prefix(*parse_s3_uri(uri)) for uri in prefix_uris]
        return cls(prefixes=prefixes, table=table)

    @property
    def listed_table(self) -> ObjectTable | None:
        """The table given with the source (a manifest's), if any."""
        return self._table

    @property
    def prefix_uris(self) -> list[str]:
        return [f"s3://{p.bucket}/{p.prefix}" for p in self._prefixes]

    @property
    def count_without_listing(self) -> int | None:
        """How many objects there are, when known without a request: only for named URIs."""
        if self._table is not None:
            return len(self._table)
        if self._prefixes or self._function is not None:
            return None
        return len(self._uris)

    @property
    def is_callable(self) -> bool:
        """Whether the objects come from a ``get_dataset_objects`` callable (of unknown length
        until it has run to its end)."""
        return self._function is not None

    def table(self, client: S3Client) -> ObjectTable:
        """List the objects now (each prefix by ranges in parallel, one LIST per 1000 keys),
        unless they were listed before (a manifest)."""
        if self._table is not None:
            return self._table
        if self._uris or self._function is not None:
            return ObjectTable.build(self.rows(client))
        # Only prefixes: the listings' own compact rows are joined, no row is made twice.
        builders = [
            self._listing(client, bucket, prefix).builders() for bucket, prefix in self._prefixes
        ]
        return TableBuilder.joined([b for listed in builders for b in listed])

    def _listing(self, client: S3Client, bucket: str, prefix: str) -> PartitionedListing:
        return PartitionedListing(
            client.list_objects,
            bucket,
            prefix,
            concurrency=self.list_concurrency,
            key_filter=self._key_filter,
        )

    def rows(self, client: S3Client) -> Iterator[ObjectRow]:
        """The objects, as the listing arrives (in key order within each prefix)."""
        if self._table is not None:
            yield from map(self._table.row, range(len(self._table)))
            return
        for bucket, key in self._uris:
            yield ObjectRow(bucket, key, UNKNOWN_SIZE, "", 0)
        for bucket, prefix in self._prefixes:
            yield from self._listing(client, bucket, prefix).rows()
        if self._function is not None:
            for item in self._function(client):
                known = getattr(item, "object_info", None)
                if known is None:
                    yield ObjectRow(item.bucket, item.key, UNKNOWN_SIZE, "", 0)
                else:
                    yield ObjectRow(
                        item.bucket, item.key, known.size, known.etag, known.last_modified
                    )
