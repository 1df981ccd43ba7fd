"""Incremental content decoding (gzip, deflate, br, zstd) for the parser's copy.

Decoders are bounded: no call produces more than what is left of ``limit``, so a
decompression bomb costs a record (a counted fault), never the laptop's memory or a
long stall of the proxy loop. Each codec is asked for at most ``budget + 1`` bytes;
getting the extra byte means the body is over the limit.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard

#: The most decoded bytes a parser is given for one response.
DEFAULT_LIMIT = 256 * 1024 * 1024
#: zstd has no output cap per call: feed it slices small enough that one slice can
#: only expand to about 2 MiB (a 128 KiB block per four input bytes at worst).
ZSTD_SLICE = 64


class DecodingError(Exception):
    """The body could not be decoded (corrupt data, or over the size limit)."""


class _Codec(Protocol):
    def decompress(self, data: bytes, budget: int) -> bytes: ...


class _Identity:
    def decompress(self, data: bytes, budget: int) -> bytes:
        return data


class _Zlib:
    """gzip (``wbits`` 31), zlib-wrapped or raw deflate, chosen on the first bytes."""

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits
        self._inner: zlib._Decompress | None = None

    def decompress(self, data: bytes, budget: int) -> bytes:
        if self._inner is None:
            wbits = self._wbits
            if wbits is None:  # "deflate" is sent both zlib-wrapped and raw
                wrapped = bool(data[:1]) and data[0] & 0x0F == 8
                wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
            self._inner = zlib.decompressobj(wbits)
        return self._inner.decompress(data, budget + 1)


class _Brotli:
    def __init__(self) -> None:
        self._inner = brotli.Decompressor()

    def decompress(self, data: bytes, budget: int) -> bytes:
        return bytes(self._inner.process(data, output_buffer_limit=budget + 1))


class _Zstd:
    def __init__(self) -> None:
        self._inner = zstandard.ZstdDecompressor().decompressobj(
            read_across_frames=True
        )

    def decompress(self, data: bytes, budget: int) -> bytes:
        out = bytearray()
        for start in range(0, len(data), ZSTD_SLICE):
            out += self._inner.decompress(data[start : start + ZSTD_SLICE])
            if len(out) > budget:
                break
        return bytes(out)


def _codec(encoding: str) -> _Codec:
    match encoding:
        case "" | "identity":
            return _Identity()
        case "gzip" | "x-gzip":
            return _Zlib(16 + zlib.MAX_WBITS)
        case "deflate":
            return _Zlib(None)
        case "br":
            return _Brotli()
        case "zstd":
            return _Zstd()
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
        budget = self._limit - self._produced
        try:
            for codec in self._codecs:
                data = codec.decompress(data, budget)
                if len(data) > budget:
                    raise DecodingError(f"decoded body over {self._limit} bytes")
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            raise DecodingError(f"corrupt body: {exc}") from exc
        self._produced += len(data)
        return data


def decode_all(data: bytes, content_encoding: str, limit: int) -> bytes:
    """A whole body, decoded; ``DecodingError`` when corrupt or over ``limit``."""
    return StreamDecoder(content_encoding, limit).decode(data)
