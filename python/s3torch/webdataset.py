"""Samples from tar shards in WebDataset format, streamed from S3: :class:`S3TarDataset`.

A shard is a ``.tar`` (or ``.tar.gz``/``.tgz``) object whose consecutive files with the same
*key* form a sample: ``train/0001.jpg`` and ``train/0001.cls`` become
``{"__key__": "train/0001", "__url__": "s3://bucket/shard-000.tar", "jpg": b"...",
"cls": b"..."}``. The key is the path up to the first dot of the file name; the rest, in lower
case, is the extension. Shards are parsed as they stream in: nothing touches the local disk.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import torch.utils.data

from ._config import S3ClientConfig
from ._dataset_common import (
    DEFAULT_PREFETCH_BYTES,
    DEFAULT_PREFETCH_OBJECTS,
    DatasetCore,
    ObjectSource,
    Prefetcher,
    check_epoch,
    check_rank,
    check_seed,
    current_shard,
    distributed_rank,
    epoch_order,
    shard_positions,
    warn_unsharded,
)
from .s3iterable_dataset import Progress, check_resume, parse_progress
from .shuffle import ShuffleDataset

__all__ = ["DEFAULT_DECODERS", "S3TarDataset", "TarShardError", "decode_sample"]

log = logging.getLogger(__name__)

_BLOCK = 512
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_ON_ERROR = ("raise", "warn", "skip")


class TarShardError(ValueError):
    """A shard is not a valid tar archive, ends early, or holds a sample that cannot be decoded.

    Attributes:
        uri: the shard, ``s3://bucket/key``.
        offset: the byte offset in the (uncompressed) tar stream where the problem is, if known.
        key: the sample's key, for a decoding error.
    """

    def __init__(
        self, message: str, *, uri: str, offset: int | None = None, key: str | None = None
    ) -> None:
        where = uri if offset is None else f"{uri} at offset {offset}"
        super().__init__(f"{where}: {message}")
        self.uri = uri
        self.offset = offset
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_error, (self.args[0], self.uri, self.offset, self.key)


def _rebuild_error(text: str, uri: str, offset: int | None, key: str | None) -> TarShardError:
    error = TarShardError.__new__(TarShardError)
    ValueError.__init__(error, text)
    error.uri, error.offset, error.key = uri, offset, key
    return error


# -- reading tar streams ------------------------------------------------------------------------


class _Bytes:
    """Exact byte counts pulled from an iterator of buffers, with the offset reached."""

    def __init__(self, chunks: Iterable[Any]) -> None:
        self._chunks = iter(chunks)
        self._view = memoryview(b"")
        self._at = 0
        self.offset = 0

    def _more(self) -> bool:
        for chunk in self._chunks:
            view = memoryview(chunk).cast("B")
            if len(view):
                self._view, self._at = view, 0
                return True
        return False

    def read(self, size: int) -> bytes:
        """``size`` bytes, fewer only at the end of the stream."""
        available = len(self._view) - self._at
        if available >= size:
            data = bytes(self._view[self._at : self._at + size])
            self._at += size
            self.offset += size
            return data
        parts = bytearray(self._view[self._at :])
        self._at = len(self._view)
        while len(parts) < size and self._more():
            take = min(size - len(parts), len(self._view))
            parts += self._view[:take]
            self._at = take
        self.offset += len(parts)
        return bytes(parts)

    def skip(self, size: int) -> int:
        """Skip ``size`` bytes; return how many there were."""
        skipped = 0
        while skipped < size:
            available = len(self._view) - self._at
            if available == 0:
                if not self._more():
                    break
                continue
            take = min(size - skipped, available)
            self._at += take
            skipped += take
        self.offset += skipped
        return skipped


def _gunzip(chunks: Iterable[Any], uri: str) -> Iterator[bytes]:
    # wbits=47: zlib or gzip header; concatenated gzip members are read one after another.
    decompressor = zlib.decompressobj(47)
    consumed = 0
    try:
        for chunk in chunks:
            data = memoryview(chunk).cast("B")
            consumed += len(data)
            while data:
                out = decompressor.decompress(data)
                if out:
                    yield out
                if not decompressor.eof:
                    break
                data = memoryview(decompressor.unused_data)
                decompressor = zlib.decompressobj(47)
        tail = decompressor.flush()
        if tail:
            yield tail
    except zlib.error as error:
        raise TarShardError(
            f"not valid gzip data ({error}) at compressed offset {consumed}", uri=uri
        ) from None


class TarMember(NamedTuple):
    """A regular file in a tar stream: its path, contents, and the offset of its header."""

    name: str
    data: bytes
    offset: int


def _number(field: bytes, what: str, uri: str, offset: int) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for values too large for octal
        value = int.from_bytes(field, "big") & ~(0x80 << (8 * (len(field) - 1)))
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarShardError(
            f"bad {what} field {field!r} in tar header", uri=uri, offset=offset
        ) from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(data: bytes, uri: str, offset: int) -> dict[str, str]:
    records: dict[str, str] = {}
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        if space < 0:
            break
        try:
            length = int(data[at:space])
        except ValueError:
            raise TarShardError("bad pax extended header", uri=uri, offset=offset) from None
        record = data[space + 1 : at + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise TarShardError("bad pax extended header", uri=uri, offset=offset)
        name, _, value = record[:-1].partition(b"=")
        records[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        at += length
    return records


_LOW_BYTES = bytes(range(128))


def _high_bytes(header: bytes) -> int:
    """How many bytes outside the checksum field are >= 128 (for signed checksums)."""
    return len(header[:148].translate(None, _LOW_BYTES)) + len(
        header[156:].translate(None, _LOW_BYTES)
    )


def iter_tar_members(chunks: Iterable[Any], uri: str) -> Iterator[TarMember]:
    """The regular files of a tar stream given as buffers, in order.

    Understands ustar, GNU (long names, base-256 sizes) and pax (``path``, ``size``) headers;
    skips directories, links and other entries. The archive must end with its end-of-archive
    block, so that a shard cut short at a file boundary is noticed.

    Raises:
        TarShardError: a header is corrupt (bad checksum or field), or the stream ends early;
            it names ``uri`` and the offset.
    """
    stream = _Bytes(chunks)
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        offset = stream.offset
        header = stream.read(_BLOCK)
        if not header:
            raise TarShardError(
                "the archive ends without its end-of-archive block (truncated?)",
                uri=uri,
                offset=offset,
            )
        if len(header) < _BLOCK:
            raise TarShardError("the archive ends inside a header", uri=uri, offset=offset)
        if header == bytes(_BLOCK):
            return
        # The checksum counts its own field as spaces; old writers summed signed bytes.
        stored = _number(header[148:156], "checksum", uri, offset)
        unsigned = sum(header) - sum(header[148:156]) + 8 * ord(" ")
        if stored != unsigned and stored != unsigned - 256 * _high_bytes(header):
            raise TarShardError(
                "bad tar header checksum (not a tar archive, or corrupt)",
                uri=uri,
                offset=offset,
            )
        size = _number(header[124:136], "size", uri, offset)
        kind = header[156:157]
        if kind in (b"x", b"L", b"K", b"g"):
            data = stream.read(size)
            if len(data) < size:
                raise TarShardError("the archive ends inside a header", uri=uri, offset=offset)
            stream.skip(-size % _BLOCK)
            if kind == b"x":
                pax = _pax_records(data, uri, offset)
            elif kind == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise TarShardError("bad size in pax header", uri=uri, offset=offset) from None
        if long_name is not None:
            name = long_name
        elif "path" in pax:
            name = pax["path"]
        else:
            name = _text(header[0:100])
            if header[257:263] == b"ustar\0":  # POSIX ustar: a prefix holds the directories
                prefix = _text(header[345:500])
                if prefix:
                    name = f"{prefix}/{name}"
        long_name, pax = None, {}
        if kind in (b"0", b"\0", b"7"):
            data = stream.read(size)
            if len(data) < size:
                raise TarShardError(
                    f"the archive ends inside file {name!r} ({len(data)} of {size} bytes)",
                    uri=uri,
                    offset=offset,
                )
            stream.skip(-size % _BLOCK)
            yield TarMember(name, data, offset)
        else:
            padded = size + (-size % _BLOCK)
            if stream.skip(padded) < padded:
                raise TarShardError(
                    f"the archive ends inside entry {name!r}", uri=uri, offset=offset
                )


def split_name(name: str) -> tuple[str, str] | None:
    """``(key, extension)`` of a member name (``"a/b.seg.png"`` -> ``("a/b", "seg.png")``),
    or None for a name that is not part of a sample (no dot, or a dot first)."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot <= slash + 1:
        return None
    return name[:dot], name[dot + 1 :].lower()


def iter_samples(members: Iterable[TarMember], uri: str) -> Iterator[dict[str, Any]]:
    """Group consecutive members with the same key into sample dicts.

    Raises:
        TarShardError: a sample has two files with the same extension.
    """
    sample: dict[str, Any] | None = None
    for member in members:
        parts = split_name(member.name)
        if parts is None:
            continue
        key, extension = parts
        if sample is None or sample["__key__"] != key:
            if sample is not None:
                yield sample
            sample = {"__key__": key, "__url__": uri}
        elif extension in sample:
            raise TarShardError(
                f"sample {key!r} has two {extension!r} files", uri=uri, offset=member.offset
            )
        sample[extension] = member.data
    if sample is not None:
        yield sample


# -- decoding -----------------------------------------------------------------------------------


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


# -- the dataset --------------------------------------------------------------------------------


def _is_tar_key(key: str) -> bool:
    return key.endswith(_TAR_SUFFIXES)


class _TarSamples:
    """The raw samples of one epoch's shards for this shard of the job, with their state:
    (epoch, shards finished, samples read from the current shard)."""

    def __init__(self, owner: S3TarDataset) -> None:
        self._owner = owner
        self._progress = Progress(0, 0)
        self._samples_in_shard = 0
        self._resume: tuple[Progress, int] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {**self._progress.state(), "samples": self._samples_in_shard}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = parse_progress(state, "S3TarDataset")
        samples = state.get("samples")
        if not isinstance(samples, int) or samples < 0:
            raise ValueError(f"S3TarDataset state: samples must be an int >= 0, got {samples!r}")
        self._owner._epoch = saved.epoch
        self._resume = (saved, samples)
        self._progress = Progress(saved.epoch, saved.consumed, saved.shard, saved.num_items)
        self._samples_in_shard = samples

    def set_epoch(self, epoch: int) -> None:
        """Serve ``epoch`` next: drop a loaded state for another epoch."""
        if self._resume is not None and self._resume[0].epoch != epoch:
            self._resume = None
        if self._resume is None:
            self._progress = Progress(epoch, 0)
            self._samples_in_shard = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        resume, self._resume = self._resume, None
        owner = self._owner
        self._progress = Progress(owner._epoch, 0)
        self._samples_in_shard = 0
        if resume is not None:
            saved, samples = resume
            self._progress = Progress(saved.epoch, saved.consumed, saved.shard, saved.num_items)
            self._samples_in_shard = samples
        return self._generate(resume)

    def _generate(self, resume: tuple[Progress, int] | None) -> Iterator[dict[str, Any]]:
        owner = self._owner
        core = owner._core
        table = core.table()
        rank, world_size = owner._rank()
        worker_info = torch.utils.data.get_worker_info()
        shard = current_shard(owner._enable_sharding, rank, world_size, worker_info)
        if not owner._enable_sharding:
            warn_unsharded("S3TarDataset", world_size, worker_info)
        skip_shards = skip_samples = 0
        if resume is not None:
            skip_shards = check_resume(resume[0], shard, len(table), "S3TarDataset")
            skip_samples = resume[1]
        progress = self._progress
        progress.start(shard, len(table))
        order = epoch_order(len(table), owner._shuffle, owner._seed, progress.epoch)
        shards = [order[p] for p in shard_positions(len(table), shard)[skip_shards:]]
        client = core.client()

        def open_shard(i: int) -> Any:
            return client.get_object_stream(table.bucket(i), table.key(i))

        streams: Prefetcher[int, Any] = Prefetcher(
            shards,
            open_shard,
            table.size,
            core.prefetch_objects,
            core.prefetch_bytes,
            unknown_size=core._unknown_size(),
        )
        try:
            for i, stream in zip(shards, streams):
                uri = table.uri(i)
                chunks: Iterable[Any] = stream
                if table.key(i).endswith((".gz", ".tgz")):
                    chunks = _gunzip(stream, uri)
                samples = iter_samples(iter_tar_members(chunks, uri), uri)
                try:
                    for _ in range(skip_samples):
                        next(samples)
                    skip_samples = 0
                    for sample in samples:
                        self._samples_in_shard += 1
                        yield sample
                except (TarShardError, StopIteration) as error:
                    if isinstance(error, StopIteration):
                        raise TarShardError(
                            "the shard has fewer samples than the saved state says were read",
                            uri=uri,
                        ) from None
                    if not owner._handle(error):
                        raise
                finally:
                    stream.close()
                progress.consumed += 1
                self._samples_in_shard = 0
        finally:
            streams.close()


class S3TarDataset(torch.utils.data.IterableDataset[Any]):
    """Samples from WebDataset-format tar shards in S3, streamed with no local disk.

    Each shard is read with one streaming GET and parsed as it arrives; the next shards' GETs
    start early (``prefetch_objects``/``prefetch_bytes``). Consecutive files with the same key
    form a sample dict ``{"__key__": key, "__url__": shard_uri, "<ext>": bytes, ...}``.

    - ``enable_sharding``, ``shuffle``, ``seed``, :meth:`set_epoch`, ``rank``/``world_size``:
      as for :class:`S3IterableDataset`, applied to whole shards.
    - ``shuffle_buffer``: also shuffle samples through a buffer of this many samples (see
      :class:`ShuffleDataset`), before decoding, so the buffer holds bytes.
    - ``decode``: ``True`` for :data:`DEFAULT_DECODERS`, or a mapping of extension to
      ``function(bytes)``, used before the defaults; ``False`` (default) keeps bytes.
    - ``transform``: applied to each (decoded) sample dict.
    - ``on_error``: ``"raise"`` (default) a :class:`TarShardError` naming the shard and offset
      for a corrupt or truncated shard, or the sample for a failed decoding; ``"warn"`` or
      ``"skip"`` to drop the rest of that shard (or that sample) and go on, with or without a
      warning.
    - :meth:`state_dict`/:meth:`load_state_dict`: resume mid-epoch, at the sample, with
      torchdata's ``StatefulDataLoader`` (a partly read shard is read again from its start,
      and the samples already seen are skipped).

    Example::

        from s3torch import S3TarDataset

        dataset = S3TarDataset.from_prefix(
            "s3://my-bucket/shards/", region="us-east-1", enable_sharding=True,
            shuffle=True, shuffle_buffer=1000, decode=True,
            transform=lambda s: (to_tensor(s["jpg"]), s["cls"]),
        )
    """

    def __init__(
        self,
        region: str | None,
        source: ObjectSource,
        endpoint: str | None = None,
        s3client_config: S3ClientConfig | None = None,
        *,
        enable_sharding: bool = False,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 0,
        decode: bool | Mapping[str, Decoder] = False,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        on_error: str = "raise",
        prefetch_objects: int = DEFAULT_PREFETCH_OBJECTS,
        prefetch_bytes: int = DEFAULT_PREFETCH_BYTES,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if not isinstance(source, ObjectSource):
            raise TypeError("S3TarDataset is built with S3TarDataset.from_prefix or from_objects")
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, not {type(transform).__name__}")
        if not isinstance(shuffle_buffer, int) or isinstance(shuffle_buffer, bool):
            raise TypeError(f"shuffle_buffer must be an int, not {type(shuffle_buffer).__name__}")
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self._decoders = _decoders(decode)
        self._core = DatasetCore(
            source, region, endpoint, s3client_config, None, prefetch_objects, prefetch_bytes
        )
        self._enable_sharding = bool(enable_sharding)
        self._shuffle = bool(shuffle)
        self._seed = check_seed(seed)
        self._explicit_rank = check_rank(rank, world_size)
        self._rank_world = self._explicit_rank or distributed_rank()
        self._transform = transform
        self._on_error = on_error
        self._epoch = 0
        self._samples = _TarSamples(self)
        self._buffer: ShuffleDataset | None = (
            ShuffleDataset(self._samples, shuffle_buffer, self._seed) if shuffle_buffer else None
        )

    @classmethod
    def from_prefix(
        cls, s3_uri: str | Iterable[str], *, region: str | None = None, **kwargs: Any
    ) -> S3TarDataset:
        """Every ``.tar``, ``.tar.gz`` and ``.tgz`` object under ``s3_uri``
        (``s3://bucket/prefix``, or several), in key order. Other keyword arguments: see the
        class.

        Raises:
            ValueError: a URI is invalid.
        """
        return cls(region, ObjectSource.from_prefixes(s3_uri, key_filter=_is_tar_key), **kwargs)

    @classmethod
    def from_objects(
        cls, object_uris: str | Iterable[str], *, region: str | None = None, **kwargs: Any
    ) -> S3TarDataset:
        """The shards named by ``object_uris`` (``s3://bucket/key``), in order; keys ending in
        ``.gz`` or ``.tgz`` are decompressed. Other keyword arguments: see the class."""
        return cls(region, ObjectSource.from_uris(object_uris), **kwargs)

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration serves (see :meth:`S3IterableDataset.set_epoch`;
        this also lists the shards in the parent process)."""
        self._epoch = check_epoch(epoch)
        self._samples.set_epoch(self._epoch)
        if self._buffer is not None:
            self._buffer.set_epoch(epoch)
        if torch.utils.data.get_worker_info() is None:
            self._core.table()

    def state_dict(self) -> dict[str, Any]:
        """Where this process's iteration stands (one per DataLoader worker)."""
        if self._buffer is not None:
            return self._buffer.state_dict()
        return self._samples.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Make the next iteration resume from ``state_dict`` (from :meth:`state_dict`).

        Raises:
            ValueError: the state is malformed, or (when iteration starts) was saved by a
                different number of ranks or workers, or over different shards.
        """
        if self._buffer is not None:
            self._buffer.load_state_dict(state_dict)
            self._epoch = self._buffer._epoch
        else:
            self._samples.load_state_dict(state_dict)

    def _rank(self) -> tuple[int, int]:
        if self._explicit_rank is not None:
            return self._explicit_rank
        return distributed_rank(self._rank_world)

    def _handle(self, error: TarShardError) -> bool:
        """Whether to go on after ``error`` (True) or raise it."""
        if self._on_error == "raise":
            return False
        if self._on_error == "warn":
            warnings.warn(f"skipped: {error}", stacklevel=2)
        log.info("S3TarDataset skipped: %s", error)
        return True

    def __iter__(self) -> Iterator[Any]:
        # Take a loaded state now, not at the first item: StatefulDataLoader may replace this
        # iterator before using it, and the next one must not resume again.
        source: Iterable[dict[str, Any]] = self._samples if self._buffer is None else self._buffer
        return self._finish(iter(source))

    def _finish(self, samples: Iterator[dict[str, Any]]) -> Iterator[Any]:
        for sample in samples:
            if self._decoders:
                try:
                    sample = decode_sample(sample, self._decoders)
                except TarShardError as error:
                    if not self._handle(error):
                        raise
                    continue
            yield sample if self._transform is None else self._transform(sample)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_rank_world"] = self._rank()
        return state

    def __repr__(self) -> str:
        return (
            f"S3TarDataset(enable_sharding={self._enable_sharding}, shuffle={self._shuffle}, "
            f"seed={self._seed}, epoch={self._epoch})"
        )


def _decoders(decode: bool | Mapping[str, Decoder]) -> dict[str, Decoder]:
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
