"""How a snapshot's components, flags and reasons are stored: compressed JSON.

A snapshot's explanation (each component's weight, value, points, raw figures and detail
line, the flags and the top reasons) was about 2.5 KB of JSON per account and day. The
same keys, labels and sentence templates recur in every row, so each value is stored as
its compact JSON compressed by zstd with a dictionary trained on the sample workspace's
snapshots (``storage/snapshot_dictionary_v1.zstd``, made by
``bench/train_snapshot_dictionary.py``): what is left per row is mostly the figures.
Nothing is lost: reading gives back exactly the lists that were written.

A stored value is one version byte followed by the payload; an empty list is stored as
NULL. Version 1 is a magicless zstd frame with dictionary v1. A dictionary is never edited
(rows written with it need the same bytes); a better one is a new version.

Version 2 (a delta, :func:`pack_against`) is compressed with an earlier value of the same
account (its *reference*, a version 1 value) as zstd raw-content dictionary instead, so
the figures and sentences that did not change since cost almost nothing: the version
byte, the frame's length (unsigned LEB128), the frame. Such a value is read with its
reference's stored bytes appended (:func:`unpack`). Which row is the reference is
:mod:`storage.snapshot_keyframes`'s business; reading a delta with it, and keeping it
there while the delta lives, :mod:`storage.models.snapshots`'s.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zstandard
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

DICTIONARY_V1 = Path(__file__).with_name("snapshot_dictionary_v1.zstd")
DICTIONARY_V1_SHA256 = "fca718f8ce9782c4f7da1f06c7a787effd9125008298510aa9033744bb7a8b79"
"""The dictionary's checksum: an edited file would misread every stored snapshot."""
ZSTD_V1 = 1
"""Version byte of a value compressed with dictionary v1."""
DELTA_V2 = 2
"""Version byte of a value compressed against a reference value (:func:`pack_against`)."""
COMPRESSION_LEVEL = 7
"""zstd level. With the compressor built once per dictionary, level 7 packs a keyframe in
about 50 µs (level 3: 20) and a delta in about 47 µs (39), for 260 B instead of 343 and
131 B instead of 146 (a row's components and reasons together; docs/performance.md,
"Snapshot size")."""



def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (orjson writes only Python types)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: list[Any]) -> bytes:
    """Compact UTF-8 JSON, the bytes ``json.dumps(value, ensure_ascii=False,
    separators=(",", ":"))`` gives, written by orjson (several times faster: the JSON
    text is most of a scoring run's packing)."""
    return orjson.dumps(value, default=_plain)


@cache
def _dictionary_bytes() -> bytes:
    data = DICTIONARY_V1.read_bytes()
    if hashlib.sha256(data).hexdigest() != DICTIONARY_V1_SHA256:
        raise RuntimeError(f"{DICTIONARY_V1} is not the dictionary snapshots were written with")
    return data


@cache
def _params() -> zstandard.ZstdCompressionParameters:
    return zstandard.ZstdCompressionParameters.from_level(
        COMPRESSION_LEVEL,
        format=zstandard.FORMAT_ZSTD1_MAGICLESS,
        write_checksum=False,
        write_content_size=True,
        write_dict_id=False,
    )


@dataclass(frozen=True)
class _Codec:
    compressor: zstandard.ZstdCompressor
    decompressor: zstandard.ZstdDecompressor


_threads = threading.local()


def _codec() -> _Codec:
    """This thread's compressor and decompressor with dictionary v1, built on first use.
    python-zstandard's instances are not thread safe (its documentation: "assume
    instances are not thread safe"; two threads packing with one compressor crashed the
    interpreter here), and `pulse serve` packs and reads snapshots from its scheduler,
    its live-rescoring worker and its request threads at once."""
    codec: _Codec | None = getattr(_threads, "codec", None)
    if codec is None:
        dictionary = zstandard.ZstdCompressionDict(_dictionary_bytes())
        codec = _Codec(
            zstandard.ZstdCompressor(dict_data=dictionary, compression_params=_params()),
            zstandard.ZstdDecompressor(
                dict_data=dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS
            ),
        )
        _threads.codec = codec
    return codec


def _compressor() -> zstandard.ZstdCompressor:
    return _codec().compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    return _codec().decompressor


def pack(value: list[Any] | None) -> bytes | None:
    """``value`` as stored: None for an empty list, else version byte + compressed JSON."""
    if not value:
        return None
    return bytes((ZSTD_V1,)) + _compressor().compress(_dumps(value))


def _raw_compressor(reference: bytes) -> zstandard.ZstdCompressor:
    prefix = zstandard.ZstdCompressionDict(reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(dict_data=prefix, compression_params=_params())


def _raw_decompressor(reference: bytes) -> zstandard.ZstdDecompressor:
    prefix = zstandard.ZstdCompressionDict(reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=prefix, format=zstandard.FORMAT_ZSTD1_MAGICLESS)


def pack_against(value: list[Any] | None, reference: bytes) -> bytes | None:
    """``value`` as a version 2 delta against ``reference``, the JSON text of an earlier
    value (:func:`reference_text` of its stored bytes); None for an empty list."""
    if not value:
        return None
    frame = _raw_compressor(reference).compress(_dumps(value))
    length = bytearray()
    n = len(frame)
    while True:
        low, n = n & 0x7F, n >> 7
        length.append(low | (0x80 if n else 0))
        if not n:
            break
    return bytes((DELTA_V2,)) + bytes(length) + frame


def reference_text(stored: bytes | memoryview) -> bytes:
    """The JSON text of a version 1 value: what a delta against it is compressed with."""
    data = bytes(stored)
    if not data or data[0] != ZSTD_V1:
        raise ValueError("a reference must be a version 1 value")
    return _decompressor().decompress(data[1:])


def _delta_parts(data: bytes) -> tuple[bytes, bytes]:
    """A version 2 value read with its reference appended: (frame, reference's bytes)."""
    n = shift = 0
    pos = 1
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return data[pos : pos + n], data[pos + n :]


def unpack(stored: bytes | memoryview | None) -> list[Any]:
    """What :func:`pack` or :func:`pack_against` was given (an empty list for NULL); a
    delta is read with its reference's stored bytes appended."""
    if stored is None:
        return []
    data = bytes(stored)
    if not data:
        return []
    if data[0] == ZSTD_V1:
        text = _decompressor().decompress(data[1:])
    elif data[0] == DELTA_V2:
        frame, reference = _delta_parts(data)
        if not reference:
            raise ValueError("a snapshot delta was read without its reference")
        text = _raw_decompressor(reference_text(reference)).decompress(frame)
    else:
        raise ValueError(f"unknown snapshot encoding version {data[0]}")
    result: list[Any] = orjson.loads(text)
    return result


class PackedJSON(TypeDecorator[list[Any]]):
    """A JSON list stored compressed (:func:`pack`); reads give the list back. With
    ``empty=b""`` an empty list is stored as empty bytes instead of NULL: a row with no
    NULL has no null bitmap, 8 bytes less of row header on PostgreSQL."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, empty: bytes | None = None) -> None:
        super().__init__()
        self.empty = empty

    def stored(self, value: list[Any] | None) -> bytes | None:
        """``value`` as this column stores it."""
        packed = pack(value)
        return self.empty if packed is None else packed

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> bytes | None:
        return self.stored(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[Any]:
        return unpack(value)


class PackedPart(TypeDecorator[list[Any]]):
    """One of the lists packed together as one JSON list (``pack([first, second])``):
    reads give the list at ``index`` (an empty list for NULL)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        raise TypeError("a packed part is read only: write the lists packed together")

    def process_result_value(self, value: Any, dialect: Dialect) -> list[Any]:
        if value is None:
            return []
        data = bytes(value)
        last: _Unpacked | None = getattr(_threads, "unpacked", None)
        if last is not None and last.data == data and self.index not in last.given:
            parts = last.parts  # the same row's other part: decoded once
        else:
            parts = unpack(data)
            last = _threads.unpacked = _Unpacked(data, parts, set())
        last.given.add(self.index)
        return list(parts[self.index]) if parts else []


@dataclass
class _Unpacked:
    """The value a thread's :class:`PackedPart` last decoded, and which parts of it were
    handed out: a row read with its components and its reasons decodes the explanation
    once (decoding is most of reading snapshots back), and no part is handed out twice
    (callers may change what they are given)."""

    data: bytes
    parts: list[Any]
    given: set[int]
