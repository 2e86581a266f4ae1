"""Checkpoints on S3: :class:`S3Checkpoint`, and ``torch.save`` / ``torch.load`` to and from S3.

:class:`S3Checkpoint` hands out file objects (an :class:`S3Writer` to pass to ``torch.save``, an
:class:`S3Reader` to pass to ``torch.load``); :func:`save` and :func:`load` do the whole round trip
in one call. Either way a checkpoint is one object, written by a streaming (multipart) upload that
only becomes visible when it completes: a save that fails part-way leaves whatever was under the
key before untouched.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Union, cast

from ._client import S3Client, shared_client
from ._config import S3ClientConfig
from ._uri import parse_object_uri

if TYPE_CHECKING:
    from .s3reader import S3Reader, S3ReaderConstructorProtocol
    from .s3writer import S3Writer

__all__ = ["S3Checkpoint", "load", "save"]


class S3Checkpoint:
    """Read and write checkpoints as single S3 objects through ``torch.save`` / ``torch.load``.

    :meth:`writer` returns an :class:`~s3torch.S3Writer` and :meth:`reader` an
    :class:`~s3torch.S3Reader`; both are ordinary binary file objects, so they go wherever
    ``torch.save`` and ``torch.load`` take a file.

    Args:
        region: region of the bucket(s); found the AWS way when ``None`` (``AWS_REGION``,
            ``AWS_DEFAULT_REGION``, the profile, else ``us-east-1``).
        endpoint: URL of an S3-compatible store; found the AWS way when ``None``
            (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the profile, else AWS itself).
        s3client_config: client tunables (part size, retries, credentials, ...); see
            :class:`~s3torch.S3ClientConfig`.

    Raises:
        ValueError, TypeError: a setting is invalid (the message names it).

    Example::

        import torch
        from s3torch import S3Checkpoint

        checkpoint = S3Checkpoint(region="us-east-1")
        with checkpoint.writer("s3://my-bucket/ckpt/epoch-3.pt") as writer:
            torch.save(model.state_dict(), writer)   # aborted, not written, if this raises
        with checkpoint.reader("s3://my-bucket/ckpt/epoch-3.pt") as reader:
            model.load_state_dict(torch.load(reader))
    """

    def __init__(
        self,
        region: str | None = None,
        endpoint: str | None = None,
        s3client_config: S3ClientConfig | None = None,
    ) -> None:
        self._client = S3Client(region, endpoint=endpoint, s3client_config=s3client_config)
        self.region: str = self._client.region
        self.endpoint: str | None = self._client.endpoint

    @property
    def client(self) -> S3Client:
        """The :class:`~s3torch.S3Client` this checkpoint reads and writes with."""
        return self._client

    def reader(
        self,
        s3_uri: str,
        *,
        reader_constructor: S3ReaderConstructorProtocol | None = None,
    ) -> S3Reader:
        """Open the object at ``s3_uri`` (``s3://bucket/key``) for reading.

        Args:
            s3_uri: the checkpoint's URI.
            reader_constructor: how to read it, e.g. ``S3ReaderConstructor.range_based()``;
                the client's default (sequential) when ``None``.

        Returns:
            A read-only, seekable binary file object to pass to ``torch.load``.

        Raises:
            ValueError: ``s3_uri`` is not an ``s3://`` URI or has no key.
            S3NoSuchKeyError, S3Exception: reading failed (raised by the first read).
        """
        bucket, key = parse_object_uri(s3_uri)
        return self._client.get_object(bucket, key, reader_constructor=reader_constructor)

    def writer(self, s3_uri: str) -> S3Writer:
        """Open an upload to ``s3_uri`` (``s3://bucket/key``).

        The object appears when the writer is closed. Used as a context manager, the upload is
        completed when the block ends normally and aborted when it raises, so a failed save
        leaves the previous object under the key as it was and no multipart upload behind.

        Raises:
            ValueError: ``s3_uri`` is not an ``s3://`` URI or has no key.
        """
        bucket, key = parse_object_uri(s3_uri)
        return self._client.put_object(bucket, key)

    def __repr__(self) -> str:
        return f"S3Checkpoint(region={self.region!r}, endpoint={self.endpoint!r})"


ClientLike = Union[S3Client, S3Checkpoint]
"""What ``client=`` accepts: an :class:`S3Client`, or an :class:`S3Checkpoint` (its client)."""


def save(
    obj: object,
    s3_uri: str,
    *,
    client: ClientLike | None = None,
    region: str | None = None,
    endpoint: str | None = None,
    s3client_config: S3ClientConfig | None = None,
    storage_class: str | None = None,
    **torch_save_kwargs: Any,
) -> None:
    """``torch.save(obj, ...)`` straight to S3, as the single object ``s3_uri``.

    The bytes are uploaded while ``torch.save`` produces them (a multipart upload once they
    outgrow one part), with nothing staged on local disk. The object appears only when the save
    has completed; if ``torch.save`` raises (an object that cannot be pickled, an interrupted
    upload, ``KeyboardInterrupt``), the upload is aborted and the object previously under the
    key, if any, is left untouched.

    Args:
        obj: what to save: a state dict, a tensor, any object ``torch.save`` accepts.
        s3_uri: where to save it, ``s3://bucket/key``.
        client: an :class:`S3Client` (or :class:`S3Checkpoint`) to upload with. When ``None``,
            a client is built from ``region``, ``endpoint`` and ``s3client_config``, which are
            found the AWS way when not given; such clients are reused by later calls with the
            same settings and environment.
        region: as for :class:`S3Client`; only without ``client``.
        endpoint: as for :class:`S3Client`; only without ``client``.
        s3client_config: as for :class:`S3Client`; only without ``client``.
        storage_class: S3 storage class of the new object, e.g. ``"STANDARD_IA"``.
        **torch_save_kwargs: passed to ``torch.save`` (``pickle_module``, ``pickle_protocol``,
            ...).

    Raises:
        ValueError: ``s3_uri`` is not an ``s3://`` URI or has no key.
        TypeError: ``client`` is given together with ``region``/``endpoint``/``s3client_config``.
        S3Exception: the upload failed (the previous object is untouched).
        Exception: anything ``torch.save`` raises (the previous object is untouched).

    Example::

        s3torch.save(model.state_dict(), "s3://my-bucket/ckpt/step-1000.pt")
    """
    import torch

    bucket, key = parse_object_uri(s3_uri)
    s3 = _resolve_client(client, region, endpoint, s3client_config)
    with s3.put_object(bucket, key, storage_class) as writer:
        # S3Writer is a BufferedIOBase, which typeshed does not count as an IO[bytes].
        torch.save(obj, cast(IO[bytes], writer), **torch_save_kwargs)


def load(
    s3_uri: str,
    map_location: Any = None,
    *,
    client: ClientLike | None = None,
    region: str | None = None,
    endpoint: str | None = None,
    s3client_config: S3ClientConfig | None = None,
    reader_constructor: S3ReaderConstructorProtocol | None = None,
    **torch_load_kwargs: Any,
) -> Any:
    """``torch.load(...)`` straight from the S3 object ``s3_uri``.

    Args:
        s3_uri: the checkpoint, ``s3://bucket/key``.
        map_location: as for ``torch.load``: where to put the tensors (``"cpu"``, a device, a
            dict or a function).
        client: an :class:`S3Client` (or :class:`S3Checkpoint`) to download with; see
            :func:`save` for what happens when it is ``None``.
        region: as for :class:`S3Client`; only without ``client``.
        endpoint: as for :class:`S3Client`; only without ``client``.
        s3client_config: as for :class:`S3Client`; only without ``client``.
        reader_constructor: how to read the object, e.g. ``S3ReaderConstructor.range_based()``;
            the client's default (sequential) when ``None``.
        **torch_load_kwargs: passed to ``torch.load`` (``weights_only``, ``pickle_module``, ...).
            As with ``torch.load``, ``weights_only`` defaults to ``True`` in current PyTorch:
            pass ``weights_only=False`` only for checkpoints you trust that hold arbitrary
            Python objects.

    Returns:
        What ``torch.load`` returns.

    Raises:
        ValueError: ``s3_uri`` is not an ``s3://`` URI or has no key.
        TypeError: ``client`` is given together with ``region``/``endpoint``/``s3client_config``.
        S3NoSuchKeyError: there is no object at ``s3_uri`` (also a ``FileNotFoundError``).
        S3Exception: the download failed.
        Exception: anything ``torch.load`` raises.

    Example::

        state = s3torch.load("s3://my-bucket/ckpt/step-1000.pt", map_location="cpu")
    """
    import torch

    bucket, key = parse_object_uri(s3_uri)
    s3 = _resolve_client(client, region, endpoint, s3client_config)
    with s3.get_object(bucket, key, reader_constructor=reader_constructor) as reader:
        return torch.load(cast(IO[bytes], reader), map_location, **torch_load_kwargs)


def _resolve_client(
    client: object,
    region: str | None,
    endpoint: str | None,
    s3client_config: S3ClientConfig | None,
) -> S3Client:
    """The client to use: the one given, or a shared one built from the settings."""
    if client is None:
        return shared_client(region, endpoint, s3client_config)
    if region is not None or endpoint is not None or s3client_config is not None:
        raise TypeError(
            "pass either client= or region=/endpoint=/s3client_config=, not both "
            "(the client already has its settings)"
        )
    if isinstance(client, S3Checkpoint):
        return client.client
    if isinstance(client, S3Client):
        return client
    raise TypeError(f"client must be an S3Client or an S3Checkpoint, got {type(client).__name__}")
