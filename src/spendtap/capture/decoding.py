"""Incremental content decoding (gzip, deflate, br, zstd) for the parser's copy.

Decoders are bounded: they never produce more than ``limit`` bytes in total, so a
decompression bomb costs a record, not the laptop's memory.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard

#: The most decoded bytes a parser is given for one response.
DEFAULT_LIMIT = 256 * 1024 * 1024


class DecodingError(Exception):
    """The body could not be decoded (corrupt data, or over the size limit)."""


class _Codec(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


class _Identity:
    def decompress(self, data: bytes) -> bytes:
        return data


class _Deflate:
    """Both zlib-wrapped and raw deflate are seen in the wild under this name."""

    def __init__(self) -> None:
        self._inner: zlib._Decompress | None = None

    def decompress(self, data: bytes) -> bytes:
        if self._inner is None:
            raw = not (data[:1] and data[0] & 0x0F == 8)
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return self._inner.decompress(data)


class _Brotli:
    def __init__(self) -> None:
        self._inner = brotli.Decompressor()

    def decompress(self, data: bytes) -> bytes:
        return bytes(self._inner.process(data))


def _codec(encoding: str) -> _Codec:
    match encoding:
        case "" | "identity":
            return _Identity()
        case "gzip" | "x-gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        case "deflate":
            return _Deflate()
        case "br":
            return _Brotli()
        case "zstd":
            return zstandard.ZstdDecompressor().decompressobj()
    raise DecodingError(f"unsupported content-encoding {encoding!r}")


class StreamDecoder:
    """Undo a ``Content-Encoding`` chain one network read at a time."""

    def __init__(self, content_encoding: str, limit: int = DEFAULT_LIMIT) -> None:
        names = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        # Encodings are listed in the order applied: undo them last first.
        self._codecs = [_codec(name) for name in reversed(names)]
        self._limit = limit
        self._produced = 0

    def decode(self, data: bytes) -> bytes:
        try:
            for codec in self._codecs:
                data = codec.decompress(data)
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            raise DecodingError(f"corrupt body: {exc}") from exc
        self._produced += len(data)
        if self._produced > self._limit:
            raise DecodingError(f"decoded body over {self._limit} bytes")
        return data
